"""Faces in real photos → emotions: the recognizer, odd and broken files, folders, video, the CLI.

The photos are scikit-image's public-domain ``data.astronaut()`` (Eileen Collins, NASA) and
compositions of it; the model is a small untrained network with an SVC fitted on sample faces
(what these tests check does not depend on its accuracy).
"""

import csv
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time

import cv2
import keras
import numpy as np
import pytest
from helpers import make_run, write_video
from skimage import data as skdata

from fer_keras import CLASS_NAMES
from fer_keras.commands import predict as predict_command
from fer_keras.data.loading import load_dataset, sample_path
from fer_keras.evaluation import tta
from fer_keras.inference import detectors, faces
from fer_keras.inference.predict import EmotionRecognizer

ASTRONAUT_FACE = (176, 62, 89, 113)  # x, y, w, h of the YuNet box on data.astronaut()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An SVC-head run with histogram equalisation."""
    return make_run(tmp_path_factory.mktemp("predict"))


@pytest.fixture(scope="module")
def recognizer(run_dir):
    return EmotionRecognizer(run_dir)


@pytest.fixture(scope="module")
def small_faces(run_dir):
    """The absolute minimum alone (faces from 30 px, however large the photo), for crowds; photos
    up to 100 megapixels (``huge.png``)."""
    return EmotionRecognizer(run_dir, min_face_fraction=0, max_pixels=10**8)


@pytest.fixture(scope="module")
def astronaut():
    """RGB uint8 (512, 512, 3)."""
    return skdata.astronaut()


def face_patch(astronaut, scale):
    """The astronaut's head and shoulders (BGR), resized by ``scale``."""
    patch = astronaut[20:260, 120:340, ::-1]
    return cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def group_photo(astronaut):
    """A 600x1000 BGR photo of three astronauts of different sizes, one mirrored, on coffee."""
    canvas = cv2.resize(skdata.coffee()[..., ::-1], (1000, 600))
    places = [(30, 40, 1.0, False), (330, 120, 0.8, True), (600, 30, 1.3, False)]
    for x, y, scale, mirror in places:
        patch = face_patch(astronaut, scale)
        canvas[y:y + patch.shape[0], x:x + patch.shape[1]] = patch[:, ::-1] if mirror else patch
    return canvas


def near(box, expected, tol=0.2):
    """Boxes match when every coordinate is within ``tol`` of the expected face size."""
    return np.all(np.abs(np.subtract(box, expected)) <= tol * expected[2])


def test_astronaut_face_found_and_labelled(recognizer, astronaut):
    found = recognizer.detect(astronaut, channel_order="rgb")
    assert len(found) == 1
    face = found[0]
    assert near(face["box"], ASTRONAUT_FACE)
    assert face["emotion"] in CLASS_NAMES and list(face["emotions"]) == list(CLASS_NAMES)
    assert face["emotion"] == max(face["emotions"], key=face["emotions"].get)
    assert face["probability"] == face["emotions"][face["emotion"]]
    assert sum(face["emotions"].values()) == pytest.approx(1.0, abs=1e-5)
    json.dumps(found, allow_nan=False)  # JSON-ready, even with an SVC's unseen classes


def test_every_face_of_a_group_photo(recognizer, astronaut):
    photo = group_photo(astronaut)
    found = sorted(recognizer.detect(photo), key=lambda f: f["box"][0])
    assert len(found) == 3
    for face, (x, y, scale, mirror) in zip(found, [(30, 40, 1.0, False), (330, 120, 0.8, True),
                                                   (600, 30, 1.3, False)]):
        fx = (220 * scale - (ASTRONAUT_FACE[0] - 120 + ASTRONAUT_FACE[2]) * scale if mirror
              else (ASTRONAUT_FACE[0] - 120) * scale)
        expected = (x + fx, y + (ASTRONAUT_FACE[1] - 20) * scale, ASTRONAUT_FACE[2] * scale,
                    ASTRONAUT_FACE[3] * scale)
        assert near(face["box"], expected), (face["box"], expected)


GRID_SCALES = (0.5, 0.65, 0.8, 1.0, 1.15, 1.3)  # faces of 48 to 124 pixels


def face_grid(astronaut, scales=GRID_SCALES):
    """A 1800x700 BGR mosaic: the astronaut's head at each of ``scales`` (every other one
    mirrored), side by side on an enlarged chelsea; returns it and each patch as x, y, w, h."""
    canvas = cv2.resize(skdata.chelsea()[..., ::-1], (1800, 700), interpolation=cv2.INTER_CUBIC)
    patches, x = [], 10
    for k, scale in enumerate(scales):
        patch = face_patch(astronaut, scale)[:, ::-1 if k % 2 else 1]
        y = 10 + 60 * (k % 3)
        canvas[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
        patches.append((x, y, patch.shape[1], patch.shape[0]))
        x += patch.shape[1] + 20
    return canvas, patches


def enlarged(image, width, height):
    """``image`` blown up as a phone-camera photo would be (as in benchmarks/bench_predict.py)."""
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)


def grid_owners(found, patches):
    owners = []
    for face in found:
        x, y, w, h = face["box"]
        cx, cy = x + w / 2, y + h / 2
        owners += [k for k, (px, py, pw, ph) in enumerate(patches)
                   if px <= cx < px + pw and py <= cy < py + ph]
    return owners


def test_every_face_of_a_mosaic_is_found(small_faces, recognizer, astronaut):
    photo, patches = face_grid(astronaut)
    found = small_faces.detect(photo)
    assert len(found) == len(GRID_SCALES)
    assert sorted(grid_owners(found, patches)) == list(range(len(GRID_SCALES)))  # one per patch
    # By default the smallest face searched is a tenth of the shorter side, 70 px here: the
    # faces from 76 px are found, the 48-px one is not looked for.
    assert recognizer.detector.min_face(photo.shape) == 70
    owners = grid_owners(recognizer.detect(photo), patches)
    assert {2, 3, 4, 5} <= set(owners) and 0 not in owners
    assert len(owners) == len(set(owners))


def test_faces_from_48_pixels_are_searched_first(astronaut):
    canvas = np.full((300, 420, 3), 120, np.uint8)
    big, small = face_patch(astronaut, 1.0), face_patch(astronaut, 0.45)  # faces of 89 and 40 px
    both = canvas.copy()
    both[10:10 + big.shape[0], 10:10 + big.shape[1]] = big
    both[150:150 + small.shape[0], 300:300 + small.shape[1]] = small
    alone = canvas.copy()
    alone[150:150 + small.shape[0], 300:300 + small.shape[1]] = small
    sizes = []

    class Noted(detectors.BundledYuNetDetector):
        def _detect(self, image, min_size):
            sizes.append(image.shape[:2])
            return super()._detect(image, min_size)

    first = Noted(min_fraction=0.1)  # the smallest face 30 px, the first search from 48
    found = first.find(both)[0]
    assert len(found) == 1 and found[0][2] > 70  # the large face; the small one not looked for
    assert sizes == [(188, 262)]  # one search, on a copy where 48-pixel faces are 30
    sizes.clear()
    found = first.find(alone)[0]
    assert len(found) == 1 and 30 <= found[0][2] < 48  # none from 48 px: searched again
    assert sizes == [(188, 262), (300, 420)]
    for every in (detectors.BundledYuNetDetector(min_fraction=0.1, first_face=None),
                  detectors.BundledYuNetDetector(min_fraction=0.0)):  # every face of a crowd
        found = every.find(both)[0]
        assert len(found) == 2 and min(box[2] for box in found) < 48  # one search, both faces
    with pytest.raises(ValueError, match="first_face"):
        detectors.BundledYuNetDetector(first_face=0)


def test_enlarged_mosaics_of_the_benchmark(recognizer, astronaut):
    # Upscaled smooth areas (the suit, the grey backdrop) once passed for faces: 3 on this photo.
    big = recognizer.detect(enlarged(astronaut, 3000, 3000), channel_order="rgb")
    assert len(big) == 1 and near(big[0]["box"], np.multiply(ASTRONAUT_FACE, 3000 / 512))
    assert len(recognizer.detect(enlarged(group_photo(astronaut), 4000, 2400))) == 3


def test_no_face_in_photos_without_faces(recognizer):
    photos = [skdata.coffee(), skdata.chelsea(), skdata.rocket(), skdata.coins(), skdata.brick(),
              skdata.grass(), skdata.gravel(), enlarged(skdata.coffee(), 4000, 2400)]
    assert [len(f) for f in recognizer.detect_many(photos, "rgb")] == [0] * len(photos)


def test_the_cameraman_turned_away_is_found(recognizer):
    # His head is turned and lit from the side: YuNet finds it, the Haar cascade does not.
    found = recognizer.detect(skdata.camera())
    assert len(found) == 1
    x, y, w, h = found[0]["box"]
    assert 190 <= x + w / 2 <= 260 and 120 <= y + h / 2 <= 190 and 45 <= w <= 90
    assert not EmotionRecognizer(recognizer.model, detector="haar").detect(skdata.camera())


def test_most_sample_faces_and_no_other_patch(small_faces):
    """scikit-image's LFW subset: 100 faces (25x25, tightly cropped, some turned or tilted), then
    100 patches of other things, in mosaics of 144-pixel tiles (97 faces found when written, 94
    with the former defaults: Haar alone, min_neighbors=8, scale_factor=1.1; 97 with today's:
    scale_factor=1.15, one neighbour, 7 confirming hits). Faces of 96 px on a 1440-px photo:
    the absolute minimum (``min_face_fraction=0``) finds them."""
    lfw = np.rint(skdata.lfw_subset() * 255).astype(np.uint8)
    tiles = np.pad([cv2.resize(im, (96, 96), interpolation=cv2.INTER_CUBIC) for im in lfw],
                   ((0, 0), (24, 24), (24, 24)), constant_values=128)
    mosaics = [np.vstack([np.hstack(row) for row in part.reshape(10, 10, 144, 144)])
               for part in (tiles[:100], tiles[100:])]
    faces, others = small_faces.detect_many(mosaics)
    cells = {((y + h // 2) // 144, (x + w // 2) // 144) for x, y, w, h in
             (f["box"] for f in faces)}
    assert len(cells) == len(faces) >= 96  # one box per tile at most
    assert others == []


def test_haar_settings_and_its_check(run_dir):
    former = EmotionRecognizer(run_dir, detector="haar", scale_factor=1.1, min_neighbors=8,
                               check_cascade=None)
    detector = former.detector
    assert (detector.scale_factor, detector.min_neighbors, detector.checker) == (1.1, 8, None)
    assert len(detector(skdata.coins())[0]) == 3  # coins' heads pass the first cascade alone
    assert len(faces.HaarFaceDetector()(skdata.coins())[0]) == 0
    with pytest.raises(FileNotFoundError, match="Cannot load the Haar cascade"):
        faces.HaarFaceDetector(check_cascade="no_such_cascade.xml")


def test_the_same_face_in_every_pixel_format(recognizer, astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    variants = {"rgb": (astronaut, "rgb"), "bgr": (astronaut[..., ::-1], "bgr"),
                "grey": (cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY), "bgr"),
                "grey1": (cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[..., None], "bgr"),
                "rgba": (rgba, "rgb"), "uint16": (astronaut.astype(np.uint16) * 257, "rgb"),
                "float": (astronaut / 255.0, "rgb")}
    results = {k: recognizer.detect(image, channel_order=order)
               for k, (image, order) in variants.items()}
    for name, found in results.items():
        assert len(found) == 1 and near(found[0]["box"], ASTRONAUT_FACE), name
    assert results["uint16"][0]["scores"] == results["rgb"][0]["scores"]


def test_detect_many_batches_faces_across_images(recognizer, astronaut, monkeypatch):
    calls = []
    original = recognizer.scores
    monkeypatch.setattr(recognizer, "scores", lambda crops: calls.append(len(crops))
                        or original(crops))
    photos = [astronaut[..., ::-1], group_photo(astronaut), skdata.coffee()[..., ::-1]]
    found = recognizer.detect_many(photos)
    assert [len(f) for f in found] == [1, 3, 0]  # a photo without a face is a result
    assert calls == [4]  # one model call for the faces of all three photos
    # the same faces scored in a batch of four or alone: float32 sums in another order
    assert found[0][0]["scores"] == pytest.approx(recognizer.detect(photos[0])[0]["scores"],
                                                  abs=1e-4)


def test_detect_classifies_the_callers_boxes(recognizer, astronaut, monkeypatch):
    found = recognizer.detect(astronaut, "rgb")[0]
    monkeypatch.setattr(recognizer, "detector", None)  # the caller's boxes: no detector runs
    given = recognizer.detect(astronaut, "rgb", boxes=[found["box"]])
    assert len(given) == 1 and set(given[0]) == set(found)  # the same dicts
    assert given[0]["box"] == found["box"] and given[0]["detection_score"] is None
    # a box without landmarks is placed as YuNet's boxes sit on FER2013 faces
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    expected = recognizer.scores(recognizer.crop(grey, np.array([found["box"]])))[0]
    assert list(given[0]["scores"].values()) == pytest.approx(expected, abs=1e-4)
    json.dumps(given, allow_nan=False)
    # any box is classified as given, even one a detector would not report, or none at all
    two = recognizer.detect(astronaut, "rgb", boxes=np.array([[-10, 480, 40, 40.4],
                                                               [300, 300, 120, 90]]))
    assert [f["box"] for f in two] == [[-10, 480, 40, 40], [300, 300, 120, 90]]
    assert recognizer.detect(astronaut, "rgb", boxes=[]) == []
    many = recognizer.detect_many([astronaut, skdata.coffee()], "rgb",
                                  boxes=[[found["box"]], np.zeros((0, 4))])
    assert [len(f) for f in many] == [1, 0]
    with pytest.raises(ValueError, match="rows of 4 numbers"):
        recognizer.detect(astronaut, boxes=[[1, 2, 3]])
    with pytest.raises(ValueError, match="width and height"):
        recognizer.detect(astronaut, boxes=[[1, 2, 0, 5]])


def photo_files(folder, astronaut, repeat: int) -> list:
    """PNG files of the astronaut, the group photo and the coffee cup (1, 3 and no faces), each
    ``repeat`` times in turn."""
    photos = [astronaut[..., ::-1], group_photo(astronaut), skdata.coffee()[..., ::-1]] * repeat
    paths = []
    for k, photo in enumerate(photos):
        paths.append(folder / f"{k}.png")
        cv2.imwrite(str(paths[-1]), photo)
    return paths


class SlowDetector:
    """A thread-safe detector that notes the threads it runs on and takes its time."""

    thread_safe = True

    def __init__(self, inner):
        self.inner, self.threads = inner, set()

    def __call__(self, grey):
        self.threads.add(threading.current_thread().name)
        time.sleep(0.02)
        return self.inner(grey)


def test_photos_are_searched_in_parallel_in_order(run_dir, astronaut, tmp_path):
    paths = photo_files(tmp_path, astronaut, 3)
    serial = EmotionRecognizer(run_dir, workers=1)
    parallel = EmotionRecognizer(run_dir, workers=3)
    parallel.detector = SlowDetector(parallel.detector)
    expected = serial.detect_many(paths)
    assert [len(f) for f in expected] == [1, 3, 0] * 3
    results = list(parallel.iter_detect(paths + [tmp_path / "missing.png"], chunk_size=4))
    assert [r.source for r in results] == [str(p) for p in paths + [tmp_path / "missing.png"]]
    assert [[f["box"] for f in r.faces] for r in results[:-1]] == \
        [[f["box"] for f in faces] for faces in expected]
    assert "No such file" in results[-1].error
    assert len(parallel.detector.threads) >= 2  # really several threads
    assert all(name.startswith("fer_keras-detect") for name in parallel.detector.threads)


class LockHoldingDetector(SlowDetector):
    """A detector that holds Python's lock for a whole call, as yuface's own function does."""

    holds_lock = True


def test_a_detector_that_holds_the_lock_searches_on_one_thread(run_dir, astronaut, tmp_path):
    paths = photo_files(tmp_path, astronaut, 2)
    expected = EmotionRecognizer(run_dir, workers=1).detect_many(paths)
    parallel = EmotionRecognizer(run_dir, workers=3)
    parallel.detector = LockHoldingDetector(parallel.detector)
    missing = tmp_path / "missing.png"
    results = list(parallel.iter_detect([paths[0], missing, *paths[1:]], chunk_size=4))
    assert [r.source for r in results] == [str(p) for p in [paths[0], missing, *paths[1:]]]
    assert "No such file" in results[1].error
    assert [[f["box"] for f in r.faces] for r in results[:1] + results[2:]] == \
        [[f["box"] for f in faces] for faces in expected]
    # one searching thread, beside the threads that read the photos
    assert parallel.detector.threads == {"fer_keras-detect-search_0"}


def test_yunet_searches_on_every_reading_thread(run_dir, astronaut, tmp_path):
    paths = photo_files(tmp_path, astronaut, 2)
    expected = EmotionRecognizer(run_dir, workers=1).detect_many(paths)
    parallel = EmotionRecognizer(run_dir, workers=2)
    if parallel.detector.holds_lock:
        pytest.skip("this yuface wheel has no libfacedetection.so entry point (Windows)")
    threads, search = set(), parallel.detector._detect_raw

    def noted(bgr):
        threads.add(threading.current_thread().name)
        time.sleep(0.01)
        return search(bgr)

    parallel.detector._detect_raw = noted
    results = parallel.detect_many(paths)
    assert [[f["box"] for f in faces] for faces in results] == \
        [[f["box"] for f in faces] for faces in expected]
    assert [[f["scores"] for f in faces] for faces in results] == \
        [[f["scores"] for f in faces] for faces in expected]
    assert threads == {"fer_keras-detect_0", "fer_keras-detect_1"}


def test_softmax_model_from_a_keras_file(run_dir, astronaut):
    network = EmotionRecognizer(run_dir / "best.keras")
    assert network.softmax and network.svc is None and network.predictor.equalize == "hist"
    face = network.detect(astronaut, "rgb")[0]
    assert face["scores"] == face["emotions"]


def test_missing_model_is_a_clear_error(monkeypatch, tmp_path):
    from fer_keras.evaluation import packaged
    monkeypatch.setattr(packaged, "PRETRAINED_ROOT", tmp_path)  # an install without it
    with pytest.raises(FileNotFoundError, match="pass a run directory"):
        EmotionRecognizer()
    with pytest.raises(FileNotFoundError, match="No model at"):
        EmotionRecognizer("does/not/exist")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, astronaut):
    """A folder of the awkward cases, each next to a good photo."""
    root = tmp_path_factory.mktemp("photos")
    bgr = astronaut[..., ::-1]
    cv2.imwrite(str(root / "good.jpg"), bgr)
    (root / "empty.jpg").write_bytes(b"")
    jpeg = cv2.imencode(".jpg", bgr)[1].tobytes()
    (root / "truncated.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    (root / "text.jpg").write_text("this is not a picture\n")
    cv2.imwrite(str(root / "rgba.png"), np.dstack([bgr, np.full((512, 512), 200, np.uint8)]))
    cv2.imwrite(str(root / "deep16.png"), bgr.astype(np.uint16) * 257)
    (root / "nested").mkdir()
    cv2.imwrite(str(root / "nested" / "coffee.png"), skdata.coffee()[..., ::-1])
    huge = np.full((10000, 10000), 128, np.uint8)
    huge[3000:5048, 2000:4048] = cv2.resize(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY),
                                            (2048, 2048))
    cv2.imwrite(str(root / "huge.png"), huge, [cv2.IMWRITE_PNG_COMPRESSION, 1,
                                               cv2.IMWRITE_PNG_STRATEGY,
                                               cv2.IMWRITE_PNG_STRATEGY_RLE])
    return root


EXPECTED = {"good.jpg": 1, "rgba.png": 1, "deep16.png": 1, "huge.png": 1, "coffee.png": 0,
            "empty.jpg": "empty file", "truncated.jpg": "truncated JPEG",
            "text.jpg": "not an image", "missing.jpg": "No such file"}


def check_results(results):
    assert {os.path.basename(r["path"]) for r in results} == set(EXPECTED)
    for r in results:
        want = EXPECTED[os.path.basename(r["path"])]
        if isinstance(want, int):
            assert r["error"] is None and len(r["faces"]) == want, r
        else:
            assert want in r["error"] and r["faces"] == [], r
    huge = next(r for r in results if r["path"].endswith("huge.png"))
    # found on the downscaled copy, reported in full-size pixels: 4x the astronaut's box + offset
    assert near(huge["faces"][0]["box"], (2000 + 4 * 177, 3000 + 4 * 66, 380, 380))


def test_bad_files_are_per_file_results(recognizer, small_faces, bad_files):
    paths = sorted(p for p in bad_files.rglob("*") if p.is_file()) + [bad_files / "missing.jpg"]
    # huge.png's face is 380 px on a 10000-px photo: under a tenth, searched only from 30 px
    results = [r.to_dict() for r in small_faces.iter_detect(paths, chunk_size=3)]
    assert [r["path"] for r in results] == [str(p) for p in paths]  # in order
    check_results(results)
    with pytest.raises(faces.ImageError, match="empty file"):
        recognizer.detect_many([bad_files / "good.jpg", bad_files / "empty.jpg"])


def test_cli_folder_with_bad_files(run_dir, bad_files, tmp_path, capsys):
    out, report = tmp_path / "out", tmp_path / "results.json"
    status = predict_command.main([str(bad_files), str(bad_files / "missing.jpg"), "--model",
                                   str(run_dir), "--out", str(out), "--json", str(report),
                                   "--min-face-fraction", "0", "--max-megapixels", "100"])
    assert status == 1
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 4
    assert all(line.startswith("error: ") for line in captured.err.strip().splitlines())
    assert "good.jpg: 1 face: " in captured.out and "coffee.png: no faces" in captured.out
    results = json.loads(report.read_text())["results"]
    check_results(results)
    assert (out / "nested" / "coffee.png").is_file()  # the folder's layout is kept
    annotated = cv2.imread(str(out / "good.jpg"))
    assert annotated.shape == (512, 512, 3)
    assert not np.array_equal(annotated, cv2.imread(str(bad_files / "good.jpg")))  # box drawn
    assert not [p for p in out.rglob(".*")]  # no temporary files left


def test_cli_video(run_dir, astronaut, tmp_path, capsys):
    coffee = cv2.resize(skdata.coffee()[..., ::-1], (512, 512))
    # five frames with the astronaut, five without
    video = write_video(tmp_path / "clip.avi", [astronaut[..., ::-1]] * 5 + [coffee] * 5)
    out = tmp_path / "out"
    assert predict_command.main([str(video), "--model", str(run_dir), "--out", str(out),
                         "--every", "2"]) == 0
    with open(out / "clip.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == [0, 2, 4, 6, 8]
    assert [int(r["faces"]) for r in rows] == [1, 1, 1, 0, 0]
    assert rows[0]["emotion"] in CLASS_NAMES and rows[3]["emotion"] == ""
    assert [r["track"] for r in rows] == ["1", "1", "1", "", ""]
    # the progress bar: every frame read, with the rate (and the ETA while it runs)
    assert re.search(r"clip\.avi: 100%.*\| 10/10 \[[0-9:]+<[0-9:]+, +[0-9.]+frame/s",
                     capsys.readouterr().err)
    capture = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 10  # every frame, annotated
    capture.release()


def test_cli_usage_errors(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((64, 64), np.uint8))  # work for a model
    assert predict_command.main([str(tmp_path), "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: No model at {tmp_path / 'nope'}") and err.count("\n") == 1
    with pytest.raises(SystemExit):
        predict_command.main(["--model", str(tmp_path)])  # nothing to analyse
    for flag in ("--smooth", "--min-face-fraction"):
        with pytest.raises(SystemExit):
            predict_command.main([str(tmp_path), flag, "1.5"])
        assert f"{flag} must be in [0, 1). Received: 1.5" in capsys.readouterr().err
    with pytest.raises(ValueError, match="min_fraction must be in"):
        faces.HaarFaceDetector(min_fraction=1)
    with pytest.raises(SystemExit):
        predict_command.main([str(tmp_path), "--align", "eyes"])
    assert "--align: invalid choice: 'eyes'" in capsys.readouterr().err


def test_the_five_landmark_fit_is_an_option(run_dir, astronaut):
    box_fit, fitted = EmotionRecognizer(run_dir), EmotionRecognizer(run_dir, align="landmarks")
    assert box_fit.align == "box" and box_fit.detector.refine_face is None
    assert fitted.detector.refine_face == 128  # whole-pixel landmarks refined for the fit
    grey, boxes, _, marks = box_fit._find(box_fit._grey(astronaut, "rgb"))
    assert len(boxes) == 1 and marks is not None
    plain, aligned = box_fit.crop(grey, boxes, marks), fitted.crop(grey, boxes, marks)
    assert plain.shape == aligned.shape == (1, 48, 48) and not np.array_equal(plain, aligned)
    assert np.corrcoef(plain.ravel(), aligned.ravel())[0, 1] > 0.8  # the same face, cut twice
    with pytest.raises(ValueError, match="align must be one of box, landmarks"):
        EmotionRecognizer(run_dir, align="eyes")


def test_cli_missing_webcam(run_dir, capsys):
    assert predict_command.main(["--webcam", "99", "--model", str(run_dir)]) == 1
    assert "cannot open camera 99" in capsys.readouterr().err


def test_cli_subprocess(run_dir, astronaut, tmp_path):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), astronaut[..., ::-1])
    done = subprocess.run([sys.executable, "-m", "fer_keras.predict", str(photo), "--model",
                           str(run_dir / "best.keras")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{photo}: 1 face: ")


def test_detectors_from_model_files(tmp_path):
    fake = tmp_path / "face_detection_yunet.onnx"
    fake.write_text("not a network")
    with pytest.raises(ValueError, match="not a YuNet face detector"):
        detectors.make_detector(str(fake))
    with pytest.raises(ValueError, match="Unknown face detector"):
        detectors.make_detector("faces.xml")
    # SSD rows: (batch, class, score, x1, y1, x2, y2), corners as fractions of the image
    output = np.array([[[[0, 1, 0.9, 0.1, 0.2, 0.3, 0.6], [0, 1, 0.2, 0, 0, 1, 1],
                         [0, 1, 0.8, 0.9, 0.9, 1.2, 1.0]]]], np.float32)
    boxes, scores = detectors.ssd_boxes(output, 200, 100, score_threshold=0.5, min_size=5)
    np.testing.assert_allclose(boxes, [[20, 20, 40, 40], [180, 90, 20, 10]], atol=1e-4)
    np.testing.assert_allclose(scores, [0.9, 0.8])
    assert len(detectors.ssd_boxes(output, 200, 100, min_size=15)[0]) == 1


def test_crops_outside_the_image_repeat_its_border():
    grey = np.arange(100, dtype=np.uint8).reshape(10, 10)
    crops = faces.crop_faces(grey, np.array([[0, 0, 4, 4], [6, 6, 4, 4]]), margin=0.5, size=8)
    assert crops.shape == (2, 8, 8) and crops.dtype == np.uint8
    assert crops[0, 0, 0] == grey[0, 0] and crops[1, -1, -1] == grey[-1, -1]


def test_packaged_model_works_out_of_the_box(astronaut):
    from fer_keras.inference import pretrained
    assert (pretrained.pretrained_dir() / "best.keras").stat().st_size <= pretrained.MAX_BYTES
    faces = EmotionRecognizer().detect(astronaut)
    assert len(faces) == 1 and faces[0]["emotion"] in CLASS_NAMES


def test_package_run_strips_the_optimizer(tmp_path):
    from fer_keras.inference import pretrained
    run_dir = make_run(tmp_path / "runs", head="softmax")
    model = keras.saving.load_model(run_dir / "best.keras")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((2, 48, 48, 1)), np.array([0, 1]), verbose=0)
    model.save(run_dir / "best.keras")
    (run_dir / "metrics.json").write_text(json.dumps({"PublicTest": {"accuracy": 0.5}}))
    with pytest.raises(ValueError, match="SVC"):
        pretrained.package_run(make_run(tmp_path / "svc"), "svc", root=tmp_path)
    target = pretrained.package_run(run_dir, "tiny", root=tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["best.keras", "config.json",
                                                         "metrics.json"]
    if os.name == "posix":  # the modes of plain files and folders, not private temp ones
        from fer_keras import _io
        assert {stat.S_IMODE(p.stat().st_mode) for p in target.iterdir()} == {_io.FILE_MODE}
        assert stat.S_IMODE(target.stat().st_mode) == _io.DIR_MODE
    assert (target / "best.keras").stat().st_size < (run_dir / "best.keras").stat().st_size
    recognizer = EmotionRecognizer(target)
    assert recognizer.config["packaged_from"] == run_dir.name
    with pytest.raises(FileNotFoundError, match="No packaged model"):
        pretrained.pretrained_dir("missing")


def test_a_packaged_model_by_name_with_its_own_views(packaged_model, astronaut, tmp_path):
    by_name, default = EmotionRecognizer("cpu_fast"), EmotionRecognizer()
    assert by_name.tta == default.tta == "tencrop"  # the model's own, from its config
    assert EmotionRecognizer("cpu_fast", tta="flip").tta == "flip"
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), astronaut[..., ::-1])
    assert predict_command.main([str(photo), "--model", "cpu_fast", "--json",
                         str(tmp_path / "results.json")]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["model"] == "cpu_fast" and len(results["results"][0]["faces"]) == 1


def finished_run(root):
    """A finished softmax run with the metrics.json packaging copies."""
    run = make_run(root, head="softmax")
    (run / "metrics.json").write_text(json.dumps({"PublicTest": {"accuracy": 0.5}}))
    return run


def test_package_replaces_a_packaged_model_only_with_force(packaged_model, tmp_path, capsys):
    from fer_keras.commands import package as package_command

    run = finished_run(tmp_path / "new")
    before = (packaged_model / "best.keras").read_bytes()
    assert package_command.main([str(run)]) == 2  # cpu_fast is already in the package's root
    err = capsys.readouterr().err
    assert err == (f"error: {packaged_model}: a packaged model 'cpu_fast' is already there; "
                   "pass --force to replace it (or --out ROOT to package elsewhere)\n")
    assert (packaged_model / "best.keras").read_bytes() == before
    assert package_command.main(["--model", str(run), "--force"]) == 0
    assert f"{packaged_model}: " in capsys.readouterr().out
    assert json.loads((packaged_model / "config.json").read_text())["packaged_from"] == run.name
    assert not [p for p in packaged_model.parent.iterdir() if p.name.startswith(".")]
    # an explicit root of packaged models is the user's own: written, and replaced, as asked
    other = tmp_path / "mine"
    assert package_command.main([str(run), "--name", "small", "--out", str(other)]) == 0
    assert package_command.main([str(run), "--name", "small", "--out", str(other)]) == 0
    assert sorted(p.name for p in (other / "small").iterdir()) == ["best.keras", "config.json",
                                                                  "metrics.json"]
    assert package_command.main([str(run), "--name", "../x", "--out", str(other)]) == 2
    assert "plain folder name" in capsys.readouterr().err


def test_network_trained_on_crops_takes_whole_faces(tmp_path, astronaut):
    """A 40-px crop network (as cpu_fast) gets its run's ten-crop views cut from each 48-px face."""
    run = make_run(tmp_path, head="softmax", equalize=None, seed=3, crop=40)
    model = keras.saving.load_model(run / "best.keras")
    faces, _ = load_dataset(sample_path())["PublicTest"]
    faces = faces[:6]
    own = EmotionRecognizer(run)
    assert own.tta == "tencrop" and own.model.input_shape == (None, 48, 48, 1)
    expected = tta.tta_scores(lambda v: model.predict(v[..., None].astype("float32"), verbose=0),
                              faces, "tencrop", 40)
    np.testing.assert_allclose(own.scores(faces), expected, atol=1e-5)
    center = EmotionRecognizer(run, tta="none").scores(faces)
    np.testing.assert_allclose(center, model.predict(faces[:, 4:44, 4:44, None].astype("float32"),
                                                     verbose=0), atol=1e-5)
    assert not np.allclose(center, expected, atol=1e-4)
    found = own.detect(astronaut, "rgb")
    assert len(found) == 1 and sum(found[0]["emotions"].values()) == pytest.approx(1, abs=1e-4)
