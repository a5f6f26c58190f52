"""``python -m fer_keras.explain``: why a model decides (saliency, Grad-CAM, filters, mistakes).

The same as ``fer-keras explain``: a thin face over `fer_keras.explain.run`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.explain.run import build_parser
    from fer_keras.explain.run import main as _main

__all__ = ["build_parser", "main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
