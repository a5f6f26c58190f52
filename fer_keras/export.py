"""``python -m fer_keras.export``: a run or packaged model to SavedModel, TFLite or ONNX.

The same as ``fer-keras export``: a thin face over `fer_keras.inference.export`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.inference.export import build_parser, export_model
    from fer_keras.inference.export import main as _main

__all__ = ["build_parser", "export_model", "main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
