"""``python -m fer_keras.search``: a KerasTuner grid over optimisers and schedules.

The same as ``fer-keras search``: a thin face over `fer_keras.experiments.search`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.experiments.search import build_parser
    from fer_keras.experiments.search import main as _main

__all__ = ["build_parser", "main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
