"""``python -m fer_keras.serve``: a local web app and REST API, photos or a webcam -> emotions.

The same as ``fer-keras serve``: a thin face over `fer_keras.inference.serve_server` (the
command, and how to run it in production) and `fer_keras.inference.serve_app` (the app), started
through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.inference.serve_app import create_app
    from fer_keras.inference.serve_server import build_parser
    from fer_keras.inference.serve_server import main as _main

__all__ = ["build_parser", "create_app", "main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
