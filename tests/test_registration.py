"""Faces cut from photos as FER2013's faces were registered; the bundled YuNet detector.

The faces are the embedded FER2013 sample's, enlarged, tilted and shifted into photos, and
scikit-image's public-domain astronaut (Eileen Collins, NASA).
"""

import sys

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from fer_keras.commands import make_registration
from fer_keras.data.loading import load_dataset, sample_path
from fer_keras.inference import detectors
from fer_keras.inference.registration import (
    MAX_TILT,
    TEMPLATE,
    Registration,
    box_centres,
    eye_tilt,
    warp_faces,
)

pytest.importorskip("yuface")


@pytest.fixture(scope="module")
def registration():
    return Registration.load()


@pytest.fixture(scope="module")
def sample_faces():
    images, _ = load_dataset(sample_path())["PublicTest"]
    return images[:40]


def as_photo(face, side=200, angle=0.0, shift=(0, 0)):
    """A 48x48 face enlarged to ``side`` pixels, turned by ``angle`` degrees and moved by
    ``shift`` pixels inside a photo with a border of half its side; the transform used."""
    border = side // 2
    big = cv2.copyMakeBorder(cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC),
                             border, border, border, border, cv2.BORDER_REPLICATE)
    centre = (big.shape[1] / 2 - 0.5, big.shape[0] / 2 - 0.5)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    matrix[:, 2] += shift
    return cv2.warpAffine(big, matrix, big.shape[::-1], flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)


def correlation(a, b):
    a, b = (np.asarray(v, np.float64).ravel() for v in (a, b))
    return float(np.corrcoef(a, b)[0, 1])


def test_the_template_is_a_face(registration):
    (left_eye, right_eye, nose, mouth_left, mouth_right) = registration.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert left_eye[1] < nose[1] < mouth_left[1] and right_eye[1] < nose[1] < mouth_right[1]
    assert 14 <= right_eye[0] - left_eye[0] <= 24  # eyes 18 px apart in a 48-px FER2013 face
    assert set(registration.boxes) == {"yunet", "haar"}


def test_the_template_maps_onto_itself(registration):
    matrix = registration.from_landmarks(registration.landmarks[None])[0]
    np.testing.assert_allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-6)


def test_a_tilted_enlarged_face_is_cut_back_upright(registration, sample_faces):
    detector = detectors.make_detector("yunet")

    def cuts(photo):
        boxes, _, marks = detector.find(photo)
        if len(boxes) != 1:
            return None
        return (warp_faces(photo, registration.from_landmarks(marks))[0],
                warp_faces(photo, registration.from_boxes(boxes))[0],
                warp_faces(photo, registration.from_boxes(boxes, "yunet", marks))[0])

    aligned, plain, default = [], [], []
    for k, face in enumerate(sample_faces):
        upright = cuts(as_photo(face))
        tilted = cuts(as_photo(face, angle=(-1) ** k * 20, shift=(15 * (k % 3), -10 * (k % 2))))
        if upright is None or tilted is None:
            continue
        aligned.append(correlation(upright[0], tilted[0]))
        plain.append(correlation(upright[1], tilted[1]))
        default.append(correlation(upright[2], tilted[2]))
    assert len(aligned) >= 0.85 * len(sample_faces)
    # the tilt undone: the same face, however it was turned; the boxes' crops stay turned
    assert np.median(aligned) > 0.7 and np.median(aligned) > np.median(plain) + 0.15
    # the default cut (box fit, upright past MAX_TILT from the eye line) undoes it too
    assert np.median(default) > 0.7 and np.median(default) > np.median(plain) + 0.15


@pytest.mark.parametrize("tilt", [4.0, -8.0, 15.0, -30.0])
def test_the_box_fit_turns_upright_only_faces_tilted_past_max_tilt(registration, tilt):
    box = (100.0, 50.0, 80.0, 100.0)
    left = np.array([120.0, 90.0])
    right = left + 40 * np.array([np.cos(np.radians(tilt)), np.sin(np.radians(tilt))])
    marks = np.array([[left, right, [140, 110], [125, 130], [155, 130]]])
    np.testing.assert_allclose(eye_tilt(marks), [tilt])
    plain = registration.from_boxes([box], "yunet")[0]
    matrix = registration.from_boxes([box], "yunet", marks)[0]
    eyes = matrix @ np.array([[*left, 1.0], [*right, 1.0]]).T
    if abs(tilt) <= MAX_TILT:
        np.testing.assert_allclose(matrix, plain)
    else:
        assert abs(eyes[1, 0] - eyes[1, 1]) < 1e-9  # the eyes level in the face
        centre = (registration.size - 1) / 2
        # turned about the face's centre: where the box fit puts it stays put
        np.testing.assert_allclose(matrix @ np.linalg.solve(
            np.vstack([plain, [0, 0, 1]]), [centre, centre, 1.0])[:, None], [[centre]] * 2)
    assert registration.from_boxes([box], "yunet", marks, max_tilt=None)[0] == pytest.approx(plain)


def test_boxes_are_placed_as_the_detector_s_boxes_sit(registration):
    cx, cy, w, h = registration.box("haar")
    box = (100, 50, 2 * w, 2 * h)  # a face twice the size of FER2013's, at (100, 50)
    matrix = registration.from_boxes([box], "haar")[0]
    centre = np.array([*box_centres(box)[:2], 1.0])
    np.testing.assert_allclose(matrix @ centre, [cx, cy], atol=1e-9)
    np.testing.assert_allclose(matrix[:, :2], np.eye(2) / 2)
    assert registration.box("my own detector") == registration.box("yunet")


def test_large_faces_are_reduced_by_area_as_fer2013_s_were():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (384, 384), np.uint8)
    # the whole photo into 48x48: pixel centre x of the photo is (x + 0.5) / 8 - 0.5 of the face
    shrink = np.array([[1 / 8, 0, -7 / 16], [0, 1 / 8, -7 / 16]])
    expected = cv2.resize(photo, (48, 48), interpolation=cv2.INTER_AREA)
    out = warp_faces(photo, shrink[None])[0]
    assert np.abs(out.astype(int) - expected).max() <= 1
    # sampling without the finer grid would alias: mostly noise instead of grey
    sampled = cv2.warpAffine(photo, shrink, (48, 48), flags=cv2.INTER_LINEAR)
    assert out.std() < 0.5 * sampled.std()


def test_the_astronaut_s_landmarks():
    photo = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY)
    boxes, scores, marks = detectors.make_detector("yunet", min_fraction=0.1).find(photo)
    assert len(boxes) == 1 and 0.5 <= scores[0] <= 1
    left_eye, right_eye = marks[0, 0], marks[0, 1]
    # her pupils, read off the photo by eye: about (204, 102) and (244, 103) of 512x512
    assert np.abs(left_eye - (204, 102)).max() < 6 and np.abs(right_eye - (244, 103)).max() < 6


def test_without_yuface_the_default_is_haar_with_a_warning(monkeypatch):
    monkeypatch.setitem(sys.modules, "yuface.yuface", None)
    with pytest.warns(UserWarning, match="yuface is not installed"):
        assert detectors.default_detector() == "haar"
    with pytest.raises(RuntimeError, match="pip install yuface"):
        detectors.make_detector("yunet")


def test_make_registration_learns_the_same_template(tmp_path, registration):
    out = tmp_path / "registration.json"
    assert make_registration.main(["--data", str(sample_path()), "--faces", "150",
                                   "--out", str(out)]) == 0
    learnt = Registration.load(out)
    # 150 sample faces against 6000 Training faces: the same places within a pixel and a half
    assert np.abs(learnt.landmarks - registration.landmarks).max() < 1.5
    assert TEMPLATE.is_file() and not list(tmp_path.glob("*.tmp*"))


def test_make_registration_names_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "broken.csv"
    bad.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    assert make_registration.main(["--data", str(bad), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}")
    assert not (tmp_path / "r.json").exists()


def test_nothing_is_downloaded(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise OSError("the network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from fer_keras.inference.recognizer import EmotionRecognizer

    recognizer = EmotionRecognizer()  # the packaged model, YuNet, the registration
    found = recognizer.detect(skdata.astronaut(), "rgb")
    assert len(found) == 1 and found[0]["emotion"] == "happy"


def test_the_binding_finds_what_the_wheels_own_function_finds(sample_faces):
    from yuface.yuface import detect

    from fer_keras.inference import yuface_binding

    library = yuface_binding.load()
    if library is None:
        pytest.skip("this yuface wheel has no libfacedetection.so entry point (Windows)")
    photos = [as_photo(face, side, angle) for face, side, angle in
              zip(sample_faces[:8], [120, 200] * 4, [0, 15, -20, 0, 0, 10, 0, -5])]
    photos += [skdata.astronaut()[..., ::-1], skdata.coffee()[..., ::-1]]
    found = 0
    for photo in photos:
        bgr = np.ascontiguousarray(photo if photo.ndim == 3 else
                                   cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR))
        ours = library.detect(bgr)
        # the wheel's 16th column is left uninitialised by its function
        assert np.array_equal(ours, np.asarray(detect(bgr)).reshape(-1, 16)[:, :15])
        found += len(ours)
    assert found >= 8
    with pytest.raises(ValueError, match="BGR image"):
        library.detect(np.zeros((40, 40), np.uint8))


def test_a_searching_thread_keeps_its_searches_on_its_core():
    from concurrent.futures import ThreadPoolExecutor

    detector = detectors.BundledYuNetDetector()
    if detector.library is None:
        pytest.skip("this yuface wheel has no libfacedetection.so entry point (Windows)")
    assert not detector.holds_lock
    own = detector.library.threads()

    def team():
        detector.thread_started()
        return detector.library.threads()

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(team).result() == 1
    assert detector.library.threads() == own >= 1  # other threads keep their whole team
