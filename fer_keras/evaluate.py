"""``python -m fer_keras.evaluate``: ``fer-keras evaluate`` (:mod:`fer_keras.commands.evaluate`)."""

from fer_keras.commands.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
