"""``python -m fer_keras.serve``: a local web app and REST API, photos or a webcam -> emotions.

The same as ``fer-keras serve``: a thin face over `fer_keras.inference.serve_app`, started
through the shared `fer_keras.cli` layer.
"""
# ruff: noqa: E402  (TensorFlow is imported quietly before the layers load it)

from fer_keras import cli

cli.quiet_tensorflow()

from fer_keras.inference.serve_app import build_parser, create_app
from fer_keras.inference.serve_app import main as _main

__all__ = ["build_parser", "create_app", "main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
