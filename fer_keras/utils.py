"""``python -m fer_keras.utils``: convert a FER2013 CSV (``--data``/``--csv``) into a PNG tree.

The same as ``fer-keras convert``: a thin face over `fer_keras.data.convert`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while it loads: one line, no traceback
    from fer_keras.data.convert import main as _main  # no TensorFlow: converting needs none

__all__ = ["main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
