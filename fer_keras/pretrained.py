"""``python -m fer_keras.pretrained``: package a finished run as a model shipped in fer_keras.

The same as ``fer-keras package``: a thin face over `fer_keras.inference.pretrained`,
started through the shared `fer_keras.cli` layer.
"""

from fer_keras import cli

with cli.starting(__name__):  # Ctrl-C while TensorFlow loads: one line, no traceback
    cli.quiet_tensorflow()
    from fer_keras.inference.pretrained import main as _main
    from fer_keras.inference.pretrained import package_run, pretrained_dir

__all__ = ["main", "package_run", "pretrained_dir"]


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
