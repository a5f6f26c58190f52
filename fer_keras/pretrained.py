"""``python -m fer_keras.pretrained``: ``fer-keras package`` (:mod:`fer_keras.commands.package`)."""

from fer_keras.commands.package import main

if __name__ == "__main__":
    raise SystemExit(main())
