"""``python -m fer_keras.evaluate``: evaluate a run, a .keras file or a packaged model.

The same as ``fer-keras evaluate``: a thin face over `fer_keras.evaluation.evaluate`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.evaluation.evaluate import Run, build_parser, evaluate_run, load_run
    from fer_keras.evaluation.evaluate import main as _main

__all__ = ["Run", "build_parser", "evaluate_run", "load_run", "main"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
