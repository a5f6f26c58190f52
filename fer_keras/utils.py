"""``python -m fer_keras.utils``: convert a FER2013 CSV (``--data``/``--csv``) into a PNG tree.

The same as ``fer-keras convert``: a thin face over `fer_keras.data.convert`,
started through the shared `fer_keras.cli` layer.
"""
# ruff: noqa: E402  (TensorFlow is imported quietly before the layers load it)

from fer_keras import cli

cli.quiet_tensorflow()

from fer_keras.data.convert import main as _main

__all__ = ["main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
