"""Hostile input and faults: decompression bombs, damaged videos, odd folders, Ctrl-C while a
command starts, and two converters into one folder.

Every refusal is one ``error:`` line and a non-zero exit, never a traceback, and nothing costly
(a decode, a model) happens for what is refused. The data are small and generated here.
"""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import make_fer_csv, make_run, png_bomb
from PIL import Image

from fer_keras.commands import predict
from fer_keras.commands.convert import main as convert_cli  # in-process, one error path
from fer_keras.data import out_folder
from fer_keras.data.convert import convert
from fer_keras.inference import images, recognizer, video
from fer_keras.inference.images import DEFAULT_MAX_PIXELS, ImageTooLarge
from fer_keras.inference.inputs import collect_inputs
from fer_keras.inference.predict import EmotionRecognizer

# --- fixtures and makers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """A 30000x30000 PNG (900 megapixels, 3.4 GB as 32-bit pixels) of about 110 kB."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(png_bomb(30000, 30000))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def no_decoding(monkeypatch):
    """Counts the decodes (OpenCV's and Pillow's) that happen while a test runs."""
    decoded = []
    imdecode, pillow = cv2.imdecode, images._pillow_decode
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append("cv2") or imdecode(*a))
    monkeypatch.setattr(images, "_pillow_decode",
                        lambda *a: decoded.append("pillow") or pillow(*a))
    return decoded


def error_lines(text):
    return [line for line in text.splitlines() if line.startswith("error:")]


# --- 1. one image-size policy, judged from the header --------------------------------------------

BOMB_ERROR = "30000 x 30000 pixels (900 megapixels), over the limit of 40 megapixels"


def test_the_header_gives_the_size_of_a_bomb_without_decoding(bomb, no_decoding):
    assert images.image_header(bomb) == ("PNG", 30000, 30000)
    with pytest.raises(ImageTooLarge, match=re.escape(BOMB_ERROR)):
        images.read_image(bomb)
    assert images.size_refusal(bomb, DEFAULT_MAX_PIXELS) == BOMB_ERROR
    assert images.size_refusal(bomb, None) is None
    assert no_decoding == []


def test_the_server_uses_the_same_limit_and_header_reader(bomb):
    from fer_keras.inference import serve_limits

    assert serve_limits.DEFAULT_MAX_PIXELS == DEFAULT_MAX_PIXELS
    with pytest.raises(serve_limits.UploadError) as refused:
        serve_limits.sniff(bomb.read_bytes(), serve_limits.Limits())
    assert refused.value.status == 413 and "30000x30000" in str(refused.value)


def test_predict_refuses_a_bomb_in_one_line_before_loading_the_model(bomb, tmp_path, capsys,
                                                                     no_decoding, monkeypatch):
    monkeypatch.setattr(recognizer, "EmotionRecognizer", None)  # must never be needed
    out = tmp_path / "out"
    assert predict.main([str(bomb), "--out", str(out), "--model", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: {bomb}: {BOMB_ERROR}\n" and captured.out == ""
    assert no_decoding == [] and not out.exists()


def test_the_pixel_limit_of_the_recognizer_and_of_the_flag(run_dir, tmp_path, capsys,
                                                           no_decoding):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((400, 600), 90, np.uint8))
    small = EmotionRecognizer(run_dir, max_pixels=100_000)
    expected = "600 x 400 pixels (0.24 megapixels), over the limit of 0.1 megapixels"
    for detect in (small.detect, lambda p: small.detect_many([p])):
        with pytest.raises(ImageTooLarge, match=re.escape(expected)):
            detect(photo)
    assert [r.error for r in small.iter_detect([photo])] == [expected]
    assert no_decoding == []
    assert EmotionRecognizer(run_dir, max_pixels=None).detect(photo) == []
    assert predict.main([str(photo), "--model", str(run_dir), "--max-megapixels", "0.1"]) == 1
    assert capsys.readouterr().err == f"error: {photo}: {expected}\n"
    with pytest.raises(SystemExit):
        predict.main([str(photo), "--max-megapixels", "0"])
    assert "--max-megapixels must be positive" in capsys.readouterr().err


def test_explain_refuses_a_bomb_of_its_own_images_too(bomb):
    from fer_keras.explain.run import _read_pngs

    with pytest.raises(ValueError, match=re.escape(f"{bomb}: {BOMB_ERROR}")):
        _read_pngs([bomb])


# A child's peak memory counts what it shared with its parent when it was forked: the command is
# started from a small Python, which reports the command's own peak (kB on Linux).
PEAK = ("import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], capture_output=True); "
        "sys.stderr.buffer.write(done.stderr); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in kB (Linux)")
def test_a_bomb_costs_under_500_mb_in_a_real_process(bomb, tmp_path):
    """The whole command as ``fer-keras predict bomb.png`` runs it: TensorFlow alone would take
    0.7 GB, so it must not even load."""
    done = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "fer_keras.predict",
                           str(bomb), "--out", str(tmp_path / "o")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: {bomb}: {BOMB_ERROR}\n"
    peak_mb = int(done.stdout) / 1024
    assert peak_mb < 500, f"peak {peak_mb:.0f} MB"


# --- 2. videos read past a damaged stretch -------------------------------------------------------

FRAMES = 300


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A 300-frame mp4, the same with 50 kB of garbage in the middle, and one cut in half (its
    index, the moov atom written at the end, is missing)."""
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (160, 120))
    writer = cv2.VideoWriter(str(root / "good.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25,
                             (160, 120))
    for t in range(FRAMES):
        frame = np.roll(base, t, axis=1)
        cv2.putText(frame, str(t), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    data = bytearray((root / "good.mp4").read_bytes())
    assert len(data) > 200_000
    middle = len(data) // 2
    data[middle:middle + 50_000] = rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    (root / "damaged.mp4").write_bytes(bytes(data))
    (root / "no_index.mp4").write_bytes((root / "good.mp4").read_bytes()[:middle])
    return root


class NoFaces:
    """The recognizer's part that video reading uses, without a model."""

    max_pixels = DEFAULT_MAX_PIXELS

    def detect(self, frame):
        return []


def test_a_damaged_video_is_read_to_its_end(videos):
    stats = video.VideoStats()
    seen = [index for index, _, _ in video.iter_video(NoFaces(), str(videos / "damaged.mp4"),
                                                       stats=stats)]
    assert stats.declared == stats.frames == FRAMES
    assert 0 < stats.lost < 100 and len(seen) == FRAMES - stats.lost
    assert seen[-1] == FRAMES - 1  # past the damage, to the last frame
    gaps = [b - a for a, b in zip(seen, seen[1:]) if b - a > 1]
    assert sum(gaps) - len(gaps) == stats.lost  # the frames after the damage keep their index
    clean = video.VideoStats()
    assert len(list(video.iter_video(NoFaces(), str(videos / "good.mp4"), stats=clean))) == FRAMES
    assert clean.lost == 0


def test_video_frames_over_the_pixel_limit_are_refused_before_reading(videos):
    small = NoFaces()
    small.max_pixels = 10_000
    with pytest.raises(ImageTooLarge, match=re.escape("160 x 120 pixels (0.0192 megapixels), over "
                                                      "the limit of 0.01 megapixels")):
        next(video.iter_video(small, str(videos / "good.mp4")))


class Capture:
    """A capture whose reads succeed (True) or fail (False) as ``script`` says, then fail."""

    def __init__(self, script):
        self.script = iter(script)

    def read(self):
        ok = next(self.script, False)
        return ok, np.zeros((4, 4, 3), np.uint8) if ok else None


@pytest.mark.parametrize("declared, lost, frames", [(None, 3, 10), (11, 3, 10), (13, 6, 13)])
def test_lost_frames_are_counted_with_or_without_a_frame_count(declared, lost, frames):
    stats = video.VideoStats(declared=declared)
    got = list(video.read_frames(Capture([True] * 5 + [False] * 3 + [True] * 2), stats))
    assert [f is None for f in got] == [False] * 5 + [True] * 3 + [False] * 2
    # the end: one missing frame is a count's rounding, more are lost
    assert (stats.lost, stats.frames) == (lost, frames)
    camera = video.VideoStats()
    assert len(list(video.read_frames(Capture([True, False, True]), camera, camera=True))) == 1


def test_predict_reports_the_lost_frames_and_ffmpeg_stays_quiet(run_dir, videos, tmp_path,
                                                               capfd):
    out, report = tmp_path / "out", tmp_path / "r.json"
    damaged = videos / "damaged.mp4"
    assert predict.main([str(damaged), "--model", str(run_dir), "--out", str(out), "--json",
                         str(report), "--no-progress"]) == 1
    captured = capfd.readouterr()  # the file descriptors: what FFmpeg writes is caught too
    lost = json.loads(report.read_text())["results"][0]["lost_frames"]
    assert 0 < lost < 100
    assert captured.err == (f"error: {damaged}: {lost} of {FRAMES} frames did not decode and "
                            "were skipped (a damaged stretch of the file)\n")
    assert f"{FRAMES - lost} frames analysed" in captured.out
    assert f"{lost} frames lost (did not decode)" in captured.out
    capture = cv2.VideoCapture(str(out / "damaged.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES  # the timing kept
    capture.release()


def test_a_video_without_its_index_is_one_line(run_dir, videos, capfd):
    broken = videos / "no_index.mp4"
    assert predict.main([str(broken), "--model", str(run_dir), "--no-progress"]) == 1
    captured = capfd.readouterr()
    assert captured.err == (f"error: {broken}: cannot open it as a video: not a video OpenCV "
                            "reads, or damaged (cut short, or its index is missing)\n")


# --- 3. folders say what they skip ---------------------------------------------------------------

@pytest.fixture
def odd_folder(tmp_path):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    grey = np.full((64, 64), 120, np.uint8)
    cv2.imwrite(str(root / "plain.png"), grey)
    first, second = Image.new("RGB", (64, 48), (200, 30, 30)), Image.new("RGB", (64, 48))
    first.save(root / "anim.gif", save_all=True, append_images=[second])
    Image.fromarray(grey).save(root / "sub" / "old.tga")  # a format only Pillow reads
    (root / "notes.txt").write_text("not a photo")
    (root / ".DS_Store").write_bytes(b"\0")  # hidden: left out without a word
    os.symlink("nowhere.jpg", root / "gone.jpg")
    os.symlink("b.png", root / "a.png")
    os.symlink("a.png", root / "b.png")
    os.symlink("..", root / "sub" / "up")
    os.mkfifo(root / "pipe.jpg")  # a reader would wait for it forever
    return root


def test_collect_inputs_reports_every_file_it_skips(odd_folder):
    found, skipped = collect_inputs([odd_folder])
    assert [str(rel) for _, rel in found] == ["anim.gif", "plain.png", "sub/old.tga"]
    assert {p.relative_to(odd_folder).as_posix(): why for p, why in skipped} == {
        "a.png": "skipped: symlink loop",
        "b.png": "skipped: symlink loop",
        "gone.jpg": "skipped: broken symlink (its target nowhere.jpg does not exist)",
        "notes.txt": "skipped: not an image or video (type .txt)",
        "pipe.jpg": "skipped: not a regular file (a named pipe)",
        "sub/up": f"skipped: symlink loop (leads back to {odd_folder})",
    }
    named = collect_inputs([odd_folder / "pipe.jpg", odd_folder / "gone.jpg"])
    assert named == ([(odd_folder / "gone.jpg", Path("gone.jpg"))],  # its reader says why
                     [(odd_folder / "pipe.jpg", "skipped: not a regular file (a named pipe)")])


def test_predict_a_folder_says_what_it_skipped(run_dir, odd_folder, tmp_path, capsys):
    out, report = tmp_path / "out", tmp_path / "r.json"
    assert predict.main([str(odd_folder), "--model", str(run_dir), "--out", str(out), "--json",
                         str(report)]) == 1
    captured = capsys.readouterr()
    errors = error_lines(captured.err)
    assert len(errors) == 6 and all(": skipped: " in line for line in errors), captured.err
    for name in ("anim.gif", "plain.png", "old.tga"):
        assert f"{name}: no faces" in captured.out
    assert (out / "anim.png").is_file() and (out / "sub" / "old.png").is_file()
    results = json.loads(report.read_text())["results"]
    assert sum(bool(r.get("skipped")) for r in results) == 6


def test_a_gif_gives_its_first_frame(odd_folder):
    bgr = images.read_image(odd_folder / "anim.gif")
    assert bgr.shape == (48, 64, 3) and tuple(bgr[10, 10]) == (30, 30, 200)
    data = io.BytesIO()
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(data, "TGA")
    tga = odd_folder / "grey.tga"
    tga.write_bytes(data.getvalue())
    assert cv2.imdecode(np.frombuffer(data.getvalue(), np.uint8), cv2.IMREAD_ANYCOLOR) is None
    assert (images.read_image(tga) == 7).all()


# --- 4. Ctrl-C while a command starts ------------------------------------------------------------

def loads_tensorflow(pid):
    """Whether process ``pid`` has started loading TensorFlow's libraries."""
    try:
        with open(f"/proc/{pid}/maps") as maps:
            return "tensorflow" in maps.read()
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("command", [
    ["fer_keras.predict", "{photo}"],  # TensorFlow loads in main(), with a photo to analyse
    ["fer_keras.cli", "predict", "{photo}"],
    ["fer_keras.evaluate", "{photo}"],  # TensorFlow loads in main(), its command line parsed
    ["fer_keras.cli", "evaluate", "{photo}"],
    ["fer_keras.train", "--data", "{photo}"],  # TensorFlow loads in main(), as for evaluate
], ids=["predict", "fer-keras predict", "evaluate", "fer-keras evaluate", "train"])
def test_ctrl_c_while_tensorflow_loads_is_one_line(command, tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.zeros((64, 64), np.uint8))
    process = subprocess.Popen([sys.executable, "-m", *(a.format(photo=photo) for a in command)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not loads_tensorflow(process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert (process.returncode, err.decode(), out) == (130, "interrupted\n", b"")


# --- 5. the converter owns its output folder -----------------------------------------------------

def test_a_second_converter_into_the_same_folder_refuses(tmp_path, capsys):
    csv, _ = make_fer_csv(tmp_path / "a.csv")
    out = tmp_path / "out"
    with out_folder.own_folder(out):  # a first converter, still writing
        assert convert_cli(["--csv", str(csv), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert re.fullmatch(rf"error: {re.escape(str(out))}: another converter \(pid {os.getpid()}"
                            r"\) is writing into this folder; wait for it to end or choose "
                            r"another --out\n", err), err
        assert os.listdir(out) == [out_folder.LOCK]  # nothing of the second one
        done = subprocess.run([sys.executable, "-m", "fer_keras.utils", "--csv", str(csv),
                               "--out", str(out)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and error_lines(done.stderr) == [done.stderr.strip()]
    assert convert_cli(["--csv", str(csv), "--out", str(out), "--quiet"]) == 0
    assert sorted(os.listdir(out)) == ["PrivateTest", "PublicTest", "Training"]  # lock gone
    # the first tree is there now: the later converter needs --overwrite to replace it
    assert convert_cli(["--csv", str(csv), "--out", str(out), "--quiet"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_a_killed_converters_leftovers_are_removed_by_the_next(tmp_path):
    csv, _ = make_fer_csv(tmp_path / "a.csv")
    out = tmp_path / "out"
    dead = 2**22 + 12345  # above any pid this machine gives
    tmp, old = out / f".fer_keras_tmp_{dead}_0a1b", out / f".fer_keras_old_{dead}_0a1b"
    (tmp / "Training" / "3_happy").mkdir(parents=True)
    (tmp / "Training" / "3_happy" / "00000.png").write_bytes(b"half")
    (old / "PublicTest").mkdir(parents=True)
    (out / ".fer_keras_swap.json.tmp").write_text('{"tmp": ')  # cut short while written
    (out / out_folder.LOCK).write_text(f"{dead}\n")  # its lock file: the lock went with it
    convert(csv, out, progress=False)
    assert sorted(os.listdir(out)) == ["PrivateTest", "PublicTest", "Training"]


def test_a_failed_convert_leaves_no_folder(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n0,1 2,Training\n")
    with pytest.raises(ValueError, match="expected 2304 pixels"):
        convert(bad, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_converter_killed_mid_write_is_cleaned_by_the_next(tmp_path):
    csv, _ = make_fer_csv(tmp_path / "big.csv", n_per_class_usage=400)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "fer_keras.utils", "--csv", str(csv),
                                "--out", str(out), "--quiet", "--workers", "1"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            p.name.startswith(".fer_keras_tmp_") and any(p.rglob("*.png"))
            for p in (out.iterdir() if out.exists() else [])):
        time.sleep(0.005)
    process.kill()
    assert process.wait() == -signal.SIGKILL  # killed while it wrote, not after
    assert convert_cli(["--csv", str(csv), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert sorted(os.listdir(out)) == ["PrivateTest", "PublicTest", "Training"]
