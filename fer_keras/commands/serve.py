"""``fer-keras serve`` (``python -m fer_keras.serve``): the app of
:mod:`fer_keras.inference.serve_app` under uvicorn, a local web app and REST API.

The server degrades and never locks anyone out (:mod:`fer_keras.inference.serve_guard`):

- a request's headers must arrive within ``--header-timeout`` s, and a request body may not
  pause for more than ``--body-timeout`` s (a JSON 408, and the connection is closed); headers
  are at most 16 kB (h11's limit: a 400 past it); an idle keep-alive connection closes after 5 s;
- a client address holds at most ``--max-per-client`` connections and the server
  ``--max-connections``: past a bound, the connection that has waited longest for its client
  (a stalled one, first) is closed to make room, so a new client always gets in;
- at most ``--queue`` images wait for the model; past that, and only then, a request is shed at
  once: a JSON 503 with ``Retry-After``. ``/health`` answers whatever the load;
- a client that disconnects during its upload is one line in the log, not a traceback.

In production, the way uvicorn and FastAPI recommend it:

- ``--workers N`` runs N uvicorn worker processes on the same socket; uvicorn's supervisor
  restarts one that dies. Each loads its own model and applies the same bounds (N times the
  connections and the queue in all). Each worker's YuNet searches with an OpenMP team of
  cores / N threads (``OMP_NUM_THREADS``, unless it is set): N teams of every core would wait on
  each other's cores. On 2 cores, 8 clients: ``--workers 2`` answered 1.57 times the requests of
  one worker (``python benchmarks/bench_serve.py --workers 1,2``), and 1.20 times what two
  workers with teams of both cores answered; measure on your machine the same way.
- Put it behind a reverse proxy (nginx, Caddy) for TLS, authentication and the clients of the
  internet, and keep it on 127.0.0.1: the server itself has no authentication. The proxy buffers
  slow uploads (nginx's ``proxy_request_buffering on``, its default); since every connection
  then comes from the proxy's address, set ``--max-per-client`` to ``--max-connections`` and
  bound each client in the proxy (nginx's ``limit_conn``).
- Run it under a supervisor (systemd, a container's restart policy) with ``GET /health`` as its
  health check.

The imports of TensorFlow's layers are inside the functions: each worker unpickles
:func:`make_app` before :func:`~fer_keras.commands._common.quiet_tensorflow` runs in it, and
``--help`` never loads TensorFlow.

Example:
    $ fer-keras serve cpu_fast --host 127.0.0.1 --port 8000 --workers 2
"""

from __future__ import annotations

import argparse
import functools
import os

from fer_keras.commands import _common as common
from fer_keras.data.parse import default_workers
from fer_keras.evaluation.packaged import DEFAULT_MODEL
from fer_keras.inference.serve_guard import DEFAULT_BODY_TIMEOUT, Guard, GuardedConfig
from fer_keras.inference.serve_limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_QUEUE

EPILOG = ("Hostile or slow clients: a request's headers must arrive within --header-timeout s "
          "and its body may not pause for --body-timeout s (408, connection closed); past "
          "--max-per-client or --max-connections the connection that has waited longest is "
          "closed, so a new client always gets in; past --queue waiting images a request gets "
          "a 503 with Retry-After; /health always answers. In production: --workers N "
          "(uvicorn's worker processes, each with its own model and the same bounds) behind a "
          "reverse proxy (nginx, Caddy) for TLS and authentication, the server on 127.0.0.1; "
          "behind a proxy every connection comes from the proxy, so set --max-per-client to "
          "--max-connections and bound clients in the proxy (nginx's limit_conn).")


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("serve", "a local web app and REST API: photos or a webcam -> faces and "
                   "emotions", epilog=EPILOG)
    common.add_model(p, default=DEFAULT_MODEL)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1: this machine only; the server has no authentication)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / 2**20,
                   help="largest image file accepted, in MiB (default %(default)g)")
    p.add_argument("--max-megapixels", type=float, default=DEFAULT_MAX_PIXELS / 1e6,
                   help="largest image accepted, in megapixels, read from its header before "
                   "decoding (default %(default)g)")
    common.add_tta(p, "each face's scores")
    p.add_argument("--detector", default=None, help="'yunet' (bundled with the yuface wheel), "
                   "'haar' (OpenCV's cascade) or a face model file: YuNet .onnx, SSD "
                   ".caffemodel/.pb (default: yunet where yuface is installed, else haar)")
    p.add_argument("--min-face", type=int, default=30, help="smallest face side in pixels (30)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own "
                   "model and the same bounds (default 1)")
    p.add_argument("--queue", type=int, default=DEFAULT_QUEUE, help="images that may wait for "
                   "the model in a worker; past it a request gets a 503 (default %(default)s)")
    default = Guard()
    p.add_argument("--header-timeout", type=float, default=default.header_timeout,
                   help="seconds for a request's headers to arrive (default %(default)g)")
    p.add_argument("--body-timeout", type=float, default=DEFAULT_BODY_TIMEOUT,
                   help="seconds a request body may pause (default %(default)g)")
    p.add_argument("--max-connections", type=int, default=default.max_connections,
                   help="open connections per worker (default %(default)s)")
    p.add_argument("--max-per-client", type=int, default=default.max_per_client,
                   help="open connections per client address and worker (default %(default)s)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="uvicorn's log level (default info: one line per request)")
    return p


def make_app(options: dict):
    """The app of one process: a recognizer of ``options["recognizer"]``, the app's options.

    uvicorn's app factory for ``--workers``: every worker calls it once, when it starts.
    """
    common.quiet_tensorflow()
    from fer_keras.inference.recognizer import EmotionRecognizer
    from fer_keras.inference.serve_app import create_app

    return create_app(EmotionRecognizer(**options["recognizer"]), **options["app"])


def share_cores(workers: int) -> None:
    """Each of ``workers`` processes started after this gets an OpenMP team (YuNet's) of its
    share of the cores, read from ``OMP_NUM_THREADS`` when its runtime loads; a value the user
    set is kept."""
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, default_workers() // workers)))


@common.command
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535. Received: {args.port}")
    if args.max_mb <= 0 or args.max_megapixels <= 0:
        parser.error("--max-mb and --max-megapixels must be positive")
    if args.workers < 1 or args.queue < 0:
        parser.error(f"--workers must be 1 or more and --queue 0 or more. Received: "
                     f"{args.workers} and {args.queue}")
    if not args.body_timeout > 0:
        parser.error(f"--body-timeout must be positive. Received: {args.body_timeout}")
    try:
        guard = Guard(header_timeout=args.header_timeout, max_connections=args.max_connections,
                      max_per_client=args.max_per_client)
    except ValueError as e:
        parser.error(str(e).replace("_", "-"))
    model = common.model_argument(args, parser)
    options = {"recognizer": {"model": model, "detector": args.detector,
                              "min_face": args.min_face, "tta": args.tta},
               "app": {"max_bytes": max(1, int(args.max_mb * 2**20)),
                       "max_pixels": max(1, int(args.max_megapixels * 1e6)),
                       "model_name": model, "queue": args.queue,
                       "body_timeout": args.body_timeout}}
    app = make_app(options)  # a model that does not load is one error line, before listening
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from fer_keras.inference.serve_app import listen

    if args.workers > 1:  # each worker loads its own
        app = functools.partial(make_app, options)
        share_cores(args.workers)
    sock = listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    workers = f", {args.workers} workers" if args.workers > 1 else ""
    print(f"fer-keras serve: http://{shown}:{port}/ (API docs: /docs{workers}; Ctrl-C stops)",
          flush=True)
    if not host.startswith("127.") and host not in ("::1", "localhost"):
        print(f"note: listening on {host}: whoever reaches this machine can use the server "
              "(it has no authentication)", flush=True)
    # a worker loading TensorFlow may not answer the supervisor's ping for a while
    config = GuardedConfig(app, guard=guard, factory=args.workers > 1, workers=args.workers,
                           log_level=args.log_level, timeout_keep_alive=5,
                           timeout_graceful_shutdown=10, timeout_worker_healthcheck=60)
    try:
        if args.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then passes it on: the normal end
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
