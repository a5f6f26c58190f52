"""``fer-keras serve`` against hostile clients: stalled headers and bodies, too many connections,
disconnects mid-upload, a full queue (issue 30).

The guard's tests run uvicorn in a thread with a stand-in recognizer and small bounds; the last
ones start the real command with the packaged model, as a user would, and hold 100 stalled
uploads open while a photo is analysed.
"""

import http.client
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from helpers import UvicornThread
from skimage import data as skdata

from fer_keras import CLASS_NAMES, cli
from fer_keras.inference import serve_guard
from fer_keras.inference.serve_app import create_app, listen
from fer_keras.inference.serve_guard import Guard, GuardedConfig

HOST = "127.0.0.1"


class NoFaces:
    """A recognizer that finds nothing, after ``delay`` seconds."""

    class_names = CLASS_NAMES

    def __init__(self, delay=0.0):
        self.delay = delay

    def detect(self, image):
        time.sleep(self.delay)
        return []


def png(image):
    return cv2.imencode(".png", image)[1].tobytes()


SMALL = png(np.zeros((32, 32, 3), np.uint8))


class Server(UvicornThread):
    """uvicorn with ``guard`` serving ``app`` in a thread on a free loopback port."""

    def __init__(self, app, guard):
        self.sock = listen(HOST, 0)
        self.port = self.sock.getsockname()[1]
        config = GuardedConfig(app, guard=guard, log_config=None, log_level="info",
                               timeout_keep_alive=5)
        self.server = uvicorn.Server(config)
        self.start_thread()


def connect(port, source=HOST, data=b""):
    """A raw connection from ``source`` (any 127.x address is this machine) that sent ``data``."""
    sock = socket.create_connection((HOST, port), timeout=10, source_address=(source, 0))
    sock.sendall(data)
    return sock


def upload_head(length, path="/v1/emotions"):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def read_all(sock, timeout):
    """What the server sends until it closes the connection (``None``: still open)."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def closed(sock) -> bool:
    """Whether the server closed ``sock`` (whatever it said first)."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    return read_all(sock, 0.5) is not None


def get(port, path="/health", source=HOST):
    connection = http.client.HTTPConnection(HOST, port, timeout=10, source_address=(source, 0))
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def post(port, data, timeout=30):
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("POST", "/v1/emotions", data, {"Content-Type": "image/png"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture
def logged(monkeypatch):
    """The records of uvicorn's error log (where the guard writes), none held back by the
    one-a-second rule; read from the logger itself, whatever another test made it propagate."""
    monkeypatch.setattr(serve_guard.notes, "every", 0)
    records, logger = [], logging.getLogger("uvicorn.error")
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def messages(records, part):
    return [r.getMessage() for r in records if part in r.getMessage()]


def no_traceback(records):
    text = "\n".join(r.getMessage() for r in records)
    return not any(r.exc_info for r in records) and "Exception in ASGI" not in text


# --- the guard, in-process -----------------------------------------------------------------------


def test_stalled_headers_end_in_a_408_and_an_idle_connection_closes(logged):
    with Server(create_app(NoFaces()), Guard(header_timeout=0.5)) as server:
        start = time.monotonic()
        partial = connect(server.port, data=b"POST /v1/emotions HTTP/1.1\r\nHost: x\r\n")
        idle = connect(server.port)
        answer = read_all(partial, 5)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer
        assert "headers did not arrive within 0.5 s" in json.loads(answer.split(b"\r\n\r\n")[1])[
            "error"]
        assert read_all(idle, 5) == b""  # nothing asked, nothing said
        assert time.monotonic() - start < 3
        assert get(server.port)[0] == 200
    lines = messages(logged, "headers did not arrive")
    assert len(lines) == 1 and "\n" not in lines[0] and no_traceback(logged)


def test_a_stalled_body_ends_in_a_json_408_and_the_connection_closes(logged):
    with Server(create_app(NoFaces(), body_timeout=0.5), Guard()) as server:
        stalled = connect(server.port, data=upload_head(100_000) + SMALL[:20])
        answer = read_all(stalled, 5)
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower()
        assert json.loads(body) == {"error": "the request body stopped arriving: nothing for "
                                             "0.5 s"}
        assert post(server.port, SMALL)[0] == 200
    assert len(messages(logged, "stopped arriving")) == 1 and no_traceback(logged)


def test_past_the_bounds_the_longest_silent_connection_makes_room(logged):
    guard = Guard(header_timeout=30, max_connections=6, max_per_client=4)
    with Server(create_app(NoFaces(), body_timeout=30), guard) as server:
        first = [connect(server.port, "127.0.0.2", upload_head(10_000)) for _ in range(4)]
        time.sleep(0.2)
        for sock in first[1:]:  # all but the first say something again
            sock.sendall(b"\x89PNG")
        time.sleep(0.2)
        fifth = connect(server.port, "127.0.0.2", upload_head(10_000))
        time.sleep(0.3)
        assert closed(first[0]) and not any(map(closed, first[1:] + [fifth]))
        others = [connect(server.port, "127.0.0.3", upload_head(10_000)) for _ in range(2)]
        time.sleep(0.3)  # 6 open: one more from anywhere closes the longest silent
        assert get(server.port, source="127.0.0.4")[0] == 200
        time.sleep(0.2)
        assert closed(first[1]) and not any(map(closed, first[2:] + [fifth] + others))
        for sock in first + others + [fifth]:
            sock.close()
    lines = messages(logged, "to make room")
    assert "from 127.0.0.2 at most" in lines[0] and "6 connections at most" in lines[1]
    assert len(lines) == 2 and no_traceback(logged)


def test_a_disconnect_during_an_upload_is_one_log_line(logged):
    with Server(create_app(NoFaces()), Guard()) as server:
        sock = connect(server.port, data=upload_head(100_000) + SMALL[:100])
        time.sleep(0.2)
        sock.close()
        time.sleep(0.3)
        assert get(server.port)[0] == 200
    lines = messages(logged, "disconnected")
    assert len(lines) == 1 and "during its upload to POST /v1/emotions" in lines[0]
    assert no_traceback(logged)


def test_a_full_queue_sheds_with_a_json_503_and_retry_after_and_health_answers():
    with TestClient(create_app(NoFaces(delay=1.0), queue=1)) as client:
        answers = []

        def send():
            answers.append(client.post("/v1/emotions", content=SMALL,
                                       headers={"content-type": "image/png"}))

        threads = [threading.Thread(target=send) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.2)
        health = client.get("/health").json()
        assert (health["images"], health["capacity"]) == (2, 2)
        shed = client.post("/v1/emotions", content=SMALL, headers={"content-type": "image/png"})
        assert shed.status_code == 503 and int(shed.headers["retry-after"]) >= 1
        assert "the server is busy" in shed.json()["error"]
        for t in threads:
            t.join(30)
        assert [a.status_code for a in answers] == [200, 200]
        assert client.get("/health").json()["images"] == 0


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="header_timeout must be a positive number"):
        Guard(header_timeout=0)
    with pytest.raises(ValueError, match="max_per_client must be at most max_connections"):
        Guard(max_connections=4, max_per_client=8)
    with pytest.raises(ValueError, match="queue must be an integer >= 0"):
        create_app(NoFaces(), queue=-1)
    with pytest.raises(ValueError, match="body_timeout must be a positive number"):
        create_app(NoFaces(), body_timeout=0)


def test_the_command_documents_the_bounds_and_production(capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--workers", "--queue", "--header-timeout", "--body-timeout",
                 "--max-connections", "--max-per-client", "reverse proxy"):
        assert flag in text
    with pytest.raises(SystemExit) as stop:
        cli.main(["serve", "--max-connections", "4", "--max-per-client", "8"])
    assert stop.value.code == 2
    assert "max-per-client must be at most max-connections" in capsys.readouterr().err


# --- the real command, with the packaged model ---------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``fer-keras serve`` (packaged model, short timeouts) on a free port; its stderr's file.

    Its output goes to files: uvicorn writes the access log to stdout, which would fill a pipe."""
    folder = tmp_path_factory.mktemp("serve")
    out, log = folder / "stdout.txt", folder / "stderr.txt"
    command = [sys.executable, "-m", "fer_keras.serve", "--port", "0", "--log-level", "info",
               "--header-timeout", "4", "--body-timeout", "4"]
    with open(out, "w") as stdout, open(log, "w") as stderr:
        server = subprocess.Popen(command, stdout=stdout, stderr=stderr,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 300
        while "\n" not in out.read_text() and server.poll() is None:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        line = out.read_text().partition("\n")[0]
        assert line.startswith(f"fer-keras serve: http://{HOST}:"), (line, log.read_text())
        port = int(line.split()[2].rstrip("/").rsplit(":", 1)[1])
        photo = png(np.ascontiguousarray(skdata.astronaut()[..., ::-1]))
        assert len(post(port, photo, timeout=120)[1]["faces"]) == 1  # warm-up, not timed
        yield port, photo, log
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_command_logs_a_disconnect_mid_upload_as_one_line(served):
    port, _, log = served
    before = len(log.read_text().splitlines())
    sock = connect(port, data=upload_head(2_000_000) + b"\x89PNG\r\n\x1a\n" + bytes(50_000))
    time.sleep(0.3)
    sock.close()
    time.sleep(0.5)
    assert get(port)[0] == 200
    time.sleep(0.2)
    new = log.read_text().splitlines()[before:]  # (the access log is on stdout)
    assert "Traceback" not in "\n".join(new) and len(new) <= 1, new
    assert len(new) == 1 and "disconnected during its upload" in new[0], new


@pytest.mark.slow  # 10 s, and the server's start (about 12 s) when run alone
def test_100_stalled_uploads_for_10_s_lock_nobody_out(served):
    """Headers with a large Content-Length, then nothing: each stalled upload the server drops
    (a 408 after --body-timeout, or closed to make room) is opened again at once."""
    port, photo, log = served
    stalled = [connect(port, data=upload_head(5_000_000)) for _ in range(100)]
    dropped, checks, deadline = 0, [], time.monotonic() + 10
    next_check = time.monotonic() + 1
    try:
        while time.monotonic() < deadline:
            for i, sock in enumerate(stalled):
                if closed(sock):
                    sock.close()
                    stalled[i] = connect(port, data=upload_head(5_000_000))
                    dropped += 1
            if time.monotonic() >= next_check:
                start = time.monotonic()
                health = get(port)[0]
                middle = time.monotonic()
                status, answer = post(port, photo)
                checks.append((health, round(middle - start, 3), status,
                               len(answer.get("faces", [])), round(time.monotonic() - middle, 3)))
                next_check = time.monotonic() + 1.5
            time.sleep(0.1)
    finally:
        for sock in stalled:
            sock.close()
    assert len(checks) >= 4, checks
    for health, health_s, status, faces, photo_s in checks:
        assert (health, status, faces) == (200, 200, 1), checks
        assert health_s < 2 and photo_s < 2, checks
    assert dropped >= 100  # past 64 from one address they make room; all time out after 4 s
    assert "Traceback" not in log.read_text()
