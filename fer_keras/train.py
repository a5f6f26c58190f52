"""``python -m fer_keras.train``: train one model; every run writes its own directory.

The same as ``fer-keras train``: a thin face over `fer_keras.training.train`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.training.train import build_parser, resolve_config, resume, train
    from fer_keras.training.train import main as _main

__all__ = ["build_parser", "main", "resolve_config", "resume", "train"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
