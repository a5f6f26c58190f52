"""``python -m fer_keras.ensemble``: train and combine ensembles, k-fold or full-Training families.

The same as ``fer-keras ensemble``: a thin face over `fer_keras.experiments.ensemble`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.experiments.ensemble import build_parser, ensemble, parse_members
    from fer_keras.experiments.ensemble import main as _main

__all__ = ["build_parser", "ensemble", "main", "parse_members"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
