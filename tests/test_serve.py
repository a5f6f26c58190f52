"""``fer-keras serve``'s API through FastAPI's test client: answers, every bad input, concurrency.

The model is a small untrained network (`helpers.make_run`); the face photo is scikit-image's
public-domain ``data.astronaut()``, whose face OpenCV's Haar cascade finds. What these tests check
does not depend on the model's accuracy.
"""

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import make_run, png_bomb
from PIL import Image
from skimage import data as skdata

from fer_keras import CLASS_NAMES, __version__, cli
from fer_keras.commands import serve
from fer_keras.inference import serve_limits
from fer_keras.inference.recognizer import EmotionRecognizer
from fer_keras.inference.serve_app import STATIC, create_app

ASTRONAUT_FACE = (176, 62, 89, 113)  # x, y, w, h of the YuNet box on data.astronaut()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("serve"), head="softmax", equalize=None)


@pytest.fixture(scope="module")
def recognizer(run_dir):
    return EmotionRecognizer(run_dir)


@pytest.fixture(scope="module")
def client(recognizer):
    with TestClient(create_app(recognizer, max_bytes=2 * 2**20, max_pixels=4_000_000)) as c:
        yield c


@pytest.fixture(scope="module")
def astronaut():
    """The astronaut as BGR uint8 (512, 512, 3)."""
    return np.ascontiguousarray(skdata.astronaut()[..., ::-1])


def encode(image, ext=".png"):
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


@pytest.fixture(scope="module")
def png(astronaut):
    return encode(astronaut)


def post(client, data, name="photo.png", content_type="image/png", **kwargs):
    return client.post("/v1/emotions", files={"image": (name, data, content_type)}, **kwargs)


def ok_answer(response):
    assert response.status_code == 200, response.text
    return response.json()


def assert_astronaut(answer, width=512, height=512):
    assert (answer["width"], answer["height"]) == (width, height)
    assert len(answer["faces"]) == 1
    face = answer["faces"][0]
    assert np.all(np.abs(np.subtract(face["box"], ASTRONAUT_FACE)) <= 0.2 * ASTRONAUT_FACE[2])
    assert face["emotion"] in CLASS_NAMES and list(face["emotions"]) == list(CLASS_NAMES)
    assert face["probability"] == face["emotions"][face["emotion"]]
    assert 0 < answer["seconds"] < 60


@pytest.fixture(scope="module")
def bomb():
    data = png_bomb(30000, 30000)
    assert len(data) < 400_000
    return data


# --- answers -------------------------------------------------------------------------------------


def test_health_names_the_model_and_version(client):
    answer = client.get("/health").json()
    assert answer["status"] == "ok" and answer["version"] == __version__
    assert answer["model"] == "custom"
    assert list(answer["emotions"]) == list(CLASS_NAMES)


def test_multipart_photo_gives_the_recognizers_faces(client, recognizer, astronaut, png):
    answer = ok_answer(post(client, png))
    assert_astronaut(answer)
    expected = recognizer.detect(astronaut)
    assert [f["box"] for f in answer["faces"]] == [f["box"] for f in expected]
    assert answer["faces"][0]["emotions"] == pytest.approx(expected[0]["emotions"], abs=1e-5)
    assert set(answer["faces"][0]) == set(expected[0])


def test_json_base64_and_data_url_and_raw_body(client, png):
    text = base64.b64encode(png).decode()
    for payload in ({"image": text}, {"image": f"data:image/png;base64,{text}"}):
        assert_astronaut(ok_answer(client.post("/v1/emotions", json=payload)))
    raw = client.post("/v1/emotions", content=png, headers={"content-type": "image/png"})
    assert_astronaut(ok_answer(raw))


def pil_bytes(image, kind, **options):
    buffer = io.BytesIO()
    Image.fromarray(image[..., ::-1]).save(buffer, format=kind, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["jpeg", "bmp", "webp", "tiff", "ppm", "gif", "grey", "png16",
                                  "rgba", "exif_rotated"])
def test_image_formats(client, astronaut, kind):
    width, height = 512, 512
    if kind in ("jpeg", "bmp", "webp", "tiff", "ppm"):
        data = encode(astronaut, f".{kind.replace('jpeg', 'jpg')}")
    elif kind == "gif":
        data = pil_bytes(astronaut, "GIF")
    elif kind == "grey":
        data = encode(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY))
    elif kind == "png16":
        data = encode(astronaut.astype(np.uint16) * 257)
    elif kind == "rgba":
        data = encode(cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA))
    else:  # stored on its side, turned upright by its EXIF orientation (6: rotate 90 cw)
        exif = Image.Exif()
        exif[0x0112] = 6
        width = 400
        data = pil_bytes(np.ascontiguousarray(np.rot90(astronaut[:, :width])), "JPEG", exif=exif)
    answer = ok_answer(post(client, data, name=f"photo.{kind}", content_type="image/x-test"))
    assert_astronaut(answer, width, height)


def test_a_photo_without_faces_is_an_answer(client):
    answer = ok_answer(post(client, encode(skdata.coffee()[..., ::-1])))
    assert answer["faces"] == [] and answer["width"] == 600


# --- bad input: a 4xx with {"error": ...}, and the next request is served ------------------------

TEXT = b"this is not an image\n" * 20


def bad_requests(png, bomb):
    """(name, request keyword arguments, status) of every kind of bad upload."""
    jpeg = encode(skdata.astronaut()[..., ::-1], ".jpg")
    corrupt = png[:60] + bytes(len(png) - 120) + png[-60:]  # headers intact, pixels zeroed
    multipart = {"content-type": "multipart/form-data; boundary=xyz"}
    return [
        ("not an image", {"files": {"image": ("a.png", TEXT, "image/png")}}, 415),
        ("empty upload", {"files": {"image": ("a.png", b"", "image/png")}}, 400),
        ("truncated PNG", {"files": {"image": ("a.png", png[: len(png) // 2], "image/png")}}, 422),
        ("truncated JPEG", {"files": {"image": ("a.jpg", jpeg[: len(jpeg) // 2], None)}}, 422),
        ("corrupt PNG", {"files": {"image": ("a.png", corrupt, "image/png")}}, 422),
        ("only a PNG signature", {"files": {"image": ("a.png", png[:8], "image/png")}}, 422),
        ("decompression bomb", {"files": {"image": ("a.png", bomb, "image/png")}}, 413),
        ("64-megapixel PNG", {"files": {"image": ("a.png", png_bomb(8000, 8000), None)}}, 413),
        ("over-size upload", {"files": {"image": ("a.bmp", bytes(3 * 2**20), None)}}, 413),
        ("over-size JSON", {"json": {"image": "A" * (3 * 2**20)}}, 413),
        ("over-size image, body under the limit",
         {"files": {"image": ("a.bmp", bytes(5 * 2**19), None)}}, 413),
        ("text part", {"files": {"image": ("a.txt", TEXT, "text/plain")}}, 415),
        ("text body", {"content": TEXT, "headers": {"content-type": "text/plain"}}, 415),
        ("no content type", {"content": png}, 415),
        ("url-encoded form", {"data": {"image": "x"}}, 415),
        ("no image field", {"files": {"photo": ("a.png", png, "image/png")}}, 400),
        ("image field as text", {"data": {"image": "x"}, "files": {"f": ("a", b"1")}}, 400),
        ("malformed multipart", {"content": b"--xyz\r\nnonsense", "headers": multipart}, 400),
        ("bad JSON", {"content": b"{'image':", "headers": {"content-type": "application/json"}},
         400),
        ("JSON without image", {"json": {"photo": "x"}}, 400),
        ("JSON image not a string", {"json": {"image": 42}}, 400),
        ("JSON list", {"json": ["x"]}, 400),
        ("bad base64", {"json": {"image": "not base64!"}}, 400),
        ("base64 of text", {"json": {"image": base64.b64encode(TEXT).decode()}}, 415),
        ("empty base64", {"json": {"image": ""}}, 400),
        ("data URL not base64", {"json": {"image": "data:image/png,abc"}}, 400),
    ]


CASES = [case[0] for case in bad_requests(b"x" * 200, b"")]


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_a_4xx_json_error_and_the_server_goes_on(client, png, bomb, name,
                                                              monkeypatch):
    kwargs, status = {n: (k, s) for n, k, s in bad_requests(png, bomb)}[name]
    decoded = []
    imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(1) or imdecode(*a))
    start = time.perf_counter()
    response = client.post("/v1/emotions", **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and 10 < len(error) < 400 and "\n" not in error
    if status == 413:  # refused before decoding: no pixel decoded, no time spent
        assert not decoded and time.perf_counter() - start < 2
        assert "limit" in error
    assert_astronaut(ok_answer(post(client, png)))


def test_the_bomb_message_and_the_pixel_limit(recognizer, astronaut, png):
    with TestClient(create_app(recognizer, max_pixels=200_000)) as small:
        response = post(small, png)
        assert response.status_code == 413
        assert response.json()["error"] == ("the image is 512x512 (0.3 megapixels), over the "
                                            "limit of 0.2 megapixels")
        half = encode(cv2.resize(astronaut, (400, 400)))
        assert ok_answer(post(small, half))["width"] == 400


def test_the_byte_limit_before_reading_the_body(recognizer, png):
    with TestClient(create_app(recognizer, max_bytes=100_000)) as small:
        assert post(small, png).status_code == 413
        declared = small.post("/v1/emotions", content=png, headers={"content-type": "image/png"})
        assert declared.status_code == 413 and "request body" in declared.json()["error"]

        def chunks():  # no Content-Length: counted as the chunks come
            for i in range(0, len(png), 8192):
                yield png[i:i + 8192]

        chunked = small.post("/v1/emotions", content=chunks(),
                             headers={"content-type": "image/png"})
        assert chunked.status_code == 413 and "passed the limit" in chunked.json()["error"]
        small_png = encode(cv2.resize(skdata.astronaut()[..., ::-1], (300, 300)), ".jpg")
        assert ok_answer(post(small, small_png))["width"] == 300


def test_other_http_errors_are_json_too(client):
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    wrong = client.get("/v1/emotions")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_limits_are_checked(recognizer):
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        create_app(recognizer, max_bytes=0)
    with pytest.raises(ValueError, match="max_pixels"):
        serve_limits.Limits(max_pixels=1.5)


# --- concurrency ---------------------------------------------------------------------------------


class Watched:
    """A recognizer that records how many ``detect`` calls overlap (and can be slowed down)."""

    def __init__(self, inner, delay=0.0):
        self.inner, self.delay, self.active, self.peak = inner, delay, 0, 0
        self.class_names = inner.class_names
        self.guard = threading.Lock()

    def detect(self, image, *args, **kwargs):
        with self.guard:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
            return self.inner.detect(image, *args, **kwargs)
        finally:
            with self.guard:
                self.active -= 1


def test_concurrent_requests_get_their_own_answers(recognizer, astronaut):
    watched = Watched(recognizer, delay=0.01)
    photos = [encode(astronaut), encode(skdata.coffee()[..., ::-1]),
              encode(cv2.resize(astronaut, (700, 700)), ".jpg"), TEXT]
    expected = [1, 0, 1, None]
    answers = {}

    with TestClient(create_app(watched)) as shared:
        def worker(k):
            for i in range(6):
                j = (k + i) % len(photos)
                response = post(shared, photos[j])
                answers[k, i] = (j, response.status_code, response.json())

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert len(answers) == 48
    for j, status, answer in answers.values():
        if expected[j] is None:
            assert status == 415 and "error" in answer
        else:
            assert status == 200 and len(answer["faces"]) == expected[j]
    assert watched.peak == 1  # the model is never entered twice at once


def test_inference_runs_off_the_event_loop(recognizer, png):
    slow = Watched(recognizer, delay=1.5)
    with TestClient(create_app(slow)) as shared:
        busy = threading.Thread(target=post, args=(shared, png))
        busy.start()
        while not slow.active:
            time.sleep(0.01)
        start = time.perf_counter()
        assert shared.get("/health").json()["status"] == "ok"
        assert time.perf_counter() - start < 0.5 and slow.active
        busy.join(30)


# --- the page and the docs -----------------------------------------------------------------------


def test_the_page_and_its_files_are_served_and_fetch_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for name in ("app.js", "app.css"):
        assert f"/static/{name}" in page.text
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():
        text = path.read_text()
        assert "http://" not in text.replace("http://127.0.0.1", "").replace(
            "http://localhost", "") and "https://" not in text, path


def test_the_openapi_docs_describe_both_bodies(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/emotions"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)


# --- the command ---------------------------------------------------------------------------------


def test_serve_is_a_fer_keras_command(capsys):
    assert "serve" in cli.COMMANDS
    with pytest.raises(SystemExit) as stop:
        cli.main(["serve", "--help"])
    assert stop.value.code == 0 and "--max-megapixels" in capsys.readouterr().out


def test_command_errors_are_one_line(run_dir, capsys):
    with pytest.raises(SystemExit) as stop:
        serve.main(["--port", "70000"])
    assert stop.value.code == 2 and "--port must be in 0..65535" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        serve.main([str(run_dir), "--model", str(run_dir)])
    assert stop.value.code == 2 and "give the model once" in capsys.readouterr().err
    assert serve.main(["--model", str(run_dir.parent / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "missing" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve.main(["--model", str(run_dir), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_the_command_serves_until_interrupted(run_dir, png):
    command = [sys.executable, "-m", "fer_keras.serve", str(run_dir), "--port", "0",
               "--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = server.stdout.readline()
        assert line.startswith("fer-keras serve: http://127.0.0.1:"), (line, server.stderr)
        url = line.split()[2]
        with urllib.request.urlopen(url + "health", timeout=30) as answer:
            assert json.load(answer)["model"] == str(run_dir)
        request = urllib.request.Request(url + "v1/emotions", data=png,
                                         headers={"content-type": "image/png"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert len(json.load(answer)["faces"]) == 1
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
    finally:
        server.kill()
        server.communicate()


def test_workers_share_the_cores_among_their_openmp_teams(monkeypatch):
    environ = {}
    monkeypatch.setattr(os, "environ", environ)  # the workers' environment, restored after
    monkeypatch.setattr(serve, "default_workers", lambda: 8)
    serve.share_cores(3)
    assert environ == {"OMP_NUM_THREADS": "2"}
    environ["OMP_NUM_THREADS"] = "5"  # the user's own setting is kept
    serve.share_cores(2)
    assert environ == {"OMP_NUM_THREADS": "5"}
