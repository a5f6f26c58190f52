"""``fer-keras serve`` under load: concurrent loopback clients against the same photos in-process.

    python benchmarks/bench_serve.py [--model cpu_fast] [--clients 8] [--seconds 30] \
        [--single-seconds 5] [--inprocess-seconds 10] [--max-requests 20000] [--workers 1,2] \
        [--json FILE]

The photos are made from scikit-image's public-domain data and kept in memory as files: the
astronaut (512x512 PNG, 1 face), a 1000x600 JPEG group of three astronauts on the coffee picture
(3 faces), the coffee alone (600x400 PNG, no face) and the astronaut enlarged to 1600x1600 (JPEG,
1 face).

1. In-process: each photo decoded (``cv2.imdecode``) and passed to ``EmotionRecognizer.detect``,
   one after the other, for ``--inprocess-seconds``: photos/s and seconds per photo.
2. The server: ``python -m fer_keras.serve MODEL --port 0 --workers N`` started here on
   127.0.0.1 (the only address this benchmark talks to); one warm-up request per photo, not
   timed. With several ``--workers`` counts (``1,2``), phases 2-4 run for each in turn, one
   server after the other in this run.
3. One client, photo after photo, for ``--single-seconds``: the latency of a lone request,
   against the in-process time of the same photo (the per-request overhead of HTTP, multipart,
   JSON and the worker thread).
4. ``--clients`` clients at once for ``--seconds`` (each a keep-alive HTTP/1.1 connection posting
   the photos round robin, each starting at another photo): requests/s, p50/p95/p99 latency,
   errors (any answer that is not a 200 with the in-process number of faces). The overhead is
   the in-process photos/s over the served requests/s.

Bounded: every phase stops at its deadline and at ``--max-requests`` requests in all, every request
times out after 60 s, and the server is stopped (Ctrl-C, then killed) whatever happens. The client
threads run in this process, so their own HTTP and JSON work is part of the measured overhead.
"""

import argparse
import http.client
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

from fer_keras.commands._common import quiet_tensorflow

quiet_tensorflow()
from fer_keras.inference.recognizer import EmotionRecognizer  # noqa: E402

HOST = "127.0.0.1"


def make_photos() -> dict[str, bytes]:
    """Photo name -> file bytes (see the module's docstring)."""
    astronaut = skdata.astronaut()[..., ::-1]
    coffee = skdata.coffee()[..., ::-1]
    group = cv2.resize(coffee, (1000, 600))
    for x, y, scale, mirror in [(30, 40, 1.0, False), (330, 120, 0.8, True),
                                (600, 30, 1.3, False)]:
        patch = cv2.resize(astronaut[20:260, 120:340], None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_AREA)
        group[y:y + patch.shape[0], x:x + patch.shape[1]] = patch[:, ::-1] if mirror else patch
    images = {"astronaut.png": astronaut, "group.jpg": group, "coffee.png": coffee,
              "astronaut_1600.jpg": cv2.resize(astronaut, (1600, 1600),
                                               interpolation=cv2.INTER_CUBIC)}
    return {name: cv2.imencode(Path(name).suffix, image)[1].tobytes()
            for name, image in images.items()}


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with ``data`` as the field ``image``, and its content type."""
    boundary = f"fer-keras-bench-{os.getpid()}"
    kind = "image/png" if name.endswith(".png") else "image/jpeg"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"'
            f"\r\nContent-Type: {kind}\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def in_process(recognizer, photos: dict, seconds: float) -> dict:
    """Decode and detect photo after photo for ``seconds`` (one untimed warm-up pass first)."""
    faces = {name: len(recognizer.detect(cv2.imdecode(np.frombuffer(data, np.uint8),
                                                       cv2.IMREAD_ANYCOLOR)))
             for name, data in photos.items()}
    times = {name: [] for name in photos}
    deadline = time.perf_counter() + seconds
    for name in itertools.cycle(photos):
        if time.perf_counter() >= deadline:
            break
        start = time.perf_counter()
        recognizer.detect(cv2.imdecode(np.frombuffer(photos[name], np.uint8), cv2.IMREAD_ANYCOLOR))
        times[name].append(time.perf_counter() - start)
    n, total = sum(map(len, times.values())), sum(map(sum, times.values()))
    return {"faces": faces, "photos": n, "photos_per_s": n / total,
            "seconds_per_photo": {k: float(np.median(v)) for k, v in times.items() if v}}


def start_server(model: str, workers: int = 1) -> tuple[subprocess.Popen, int]:
    command = [sys.executable, "-m", "fer_keras.serve", model, "--host", HOST, "--port", "0",
               "--log-level", "warning", "--workers", str(workers)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    ready, _, _ = select.select([server.stdout], [], [], 300)
    line = server.stdout.readline() if ready else ""
    if not line.startswith(f"fer-keras serve: http://{HOST}:"):
        server.kill()
        raise RuntimeError(f"the server did not start (it said {line!r})")
    return server, int(line.split()[2].rstrip("/").rsplit(":", 1)[1])


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def load(port: int, bodies: list, clients: int, seconds: float, budget) -> dict:
    """``clients`` threads posting ``bodies`` for ``seconds``; latencies and errors."""
    records, lock = [], threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(k):
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        for i in itertools.count(k):
            if time.perf_counter() >= deadline or next(budget, None) is None:
                break
            name, body, kind, faces = bodies[i % len(bodies)]
            start = time.perf_counter()
            try:
                connection.request("POST", "/v1/emotions", body, {"Content-Type": kind})
                response = connection.getresponse()
                answer = json.loads(response.read())
                ok = response.status == 200 and len(answer["faces"]) == faces
                served = answer.get("seconds")
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                ok, served = False, None
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=60)
            with lock:
                records.append((name, time.perf_counter() - start, ok, served))
        connection.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latency = np.array([r[1] for r in records if r[2]]) * 1000
    served = [r[3] for r in records if r[2] and r[3] is not None]
    by_photo = {}
    for name, seconds, ok, _ in records:
        if ok:
            by_photo.setdefault(name, []).append(seconds)
    pct = (lambda q: float(np.percentile(latency, q))) if len(latency) else (lambda q: None)
    return {"clients": clients, "seconds": elapsed, "requests": len(records),
            "errors": sum(not r[2] for r in records),
            "requests_per_s": len(latency) / elapsed, "p50_ms": pct(50), "p95_ms": pct(95),
            "p99_ms": pct(99), "server_ms": float(np.mean(served)) * 1000 if served else None,
            "median_s_by_photo": {k: float(np.median(v)) for k, v in by_photo.items()}}


def worker_counts(text: str) -> list[int]:
    """``--workers``: ``"1,2"`` -> ``[1, 2]``, each at least 1."""
    try:
        counts = [int(n) for n in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"counts of 1 or more, such as 1,2; received {text!r}")
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cpu_fast", help="run directory, .keras file or "
                        "packaged model name (default %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--seconds", type=float, default=30, help="length of the concurrent "
                        "phase (30)")
    parser.add_argument("--single-seconds", type=float, default=5, help="length of the "
                        "one-client phase (5)")
    parser.add_argument("--inprocess-seconds", type=float, default=10, help="length of the "
                        "in-process phase (10)")
    parser.add_argument("--max-requests", type=int, default=20000, help="requests in all, at "
                        "most (20000)")
    parser.add_argument("--workers", type=worker_counts, default=[1], metavar="N[,N...]",
                        help="server processes (serve --workers), a comma-separated list to "
                        "compare several in one run (1)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or min(args.seconds, args.single_seconds) <= 0:
        parser.error("--clients must be in 1..64 and the phases last more than 0 s")
    counts = args.workers
    photos = make_photos()
    local = in_process(EmotionRecognizer(args.model), photos, args.inprocess_seconds)
    bodies = [(name, *multipart(name, data), local["faces"][name]) for name, data in photos.items()]
    budget = iter(range(args.max_requests))
    served = {n: serve(args, n, bodies, budget) for n in counts}
    per_photo = float(np.mean(list(local["seconds_per_photo"].values()))) * 1000
    report = {"model": args.model, "cores": os.cpu_count(), "photos": list(photos),
              "in_process": local, "workers": served}
    print(f"model {args.model}, {os.cpu_count()} cores, photos: {', '.join(photos)}")
    print(f"in-process      {local['photos_per_s']:7.2f} photos/s   "
          f"{per_photo:7.1f} ms per photo (mean of the photos' medians)")
    failed = False
    for n, (single, many) in served.items():
        print(f"--workers {n}")
        for name, r in (("one client", single), (f"{args.clients} clients", many)):
            failed = failed or bool(r["errors"])
            if r["p50_ms"] is None:
                print(f"{name:<15} no request succeeded ({r['errors']} errors)")
                continue
            print(f"{name:<15} {r['requests_per_s']:7.2f} requests/s {r['requests']:6d} "
                  f"requests {r['errors']} errors   p50 {r['p50_ms']:.1f}  p95 {r['p95_ms']:.1f}"
                  f"  p99 {r['p99_ms']:.1f} ms   server {r['server_ms']:.1f} ms")
        if many["requests_per_s"]:
            print(f"overhead: in-process photos/s / served requests/s = "
                  f"{local['photos_per_s'] / many['requests_per_s']:.2f}x")
        # a lone request against the same photo in-process, photo by photo
        extra = [single["median_s_by_photo"][k] - v for k, v in local["seconds_per_photo"].items()
                 if k in single["median_s_by_photo"]]
        if extra:
            print(f"overhead of a lone request over the same photo in-process (mean of the "
                  f"photos' medians): {float(np.mean(extra)) * 1000:+.1f} ms")
    if len(counts) > 1 and all(m["requests_per_s"] for _, m in served.values()):
        first = served[counts[0]][1]["requests_per_s"]
        print("requests/s against --workers " + str(counts[0]) + ": " + ", ".join(
            f"{n}: {m['requests_per_s'] / first:.2f}x" for n, (_, m) in served.items()))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 1 if failed else 0


def serve(args, workers: int, bodies: list, budget) -> tuple[dict, dict]:
    """Phases 2-4 against a server of ``workers`` processes: ``(one client, many clients)``."""
    server, port = start_server(args.model, workers)
    try:
        load(port, bodies, 1, 120, iter(range(len(bodies))))  # warm-up: each photo once
        if workers > 1:  # each process answers its first request of each photo slowly
            load(port, bodies, workers, 120, iter(range(2 * workers * len(bodies))))
        return (load(port, bodies, 1, args.single_seconds, budget),
                load(port, bodies, args.clients, args.seconds, budget))
    finally:
        stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
