"""``python -m fer_keras.train``: ``fer-keras train`` (:mod:`fer_keras.commands.train`)."""

from fer_keras.commands.train import main

if __name__ == "__main__":
    raise SystemExit(main())
