"""``python -m fer_keras.compare``: one network, then softmax, L2-SVM and SVC heads on its features.

The same as ``fer-keras compare``: a thin face over `fer_keras.experiments.compare`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.experiments.compare import build_parser, compare
    from fer_keras.experiments.compare import main as _main

__all__ = ["build_parser", "compare", "main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
