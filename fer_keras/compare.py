"""``python -m fer_keras.compare``: ``fer-keras compare`` (:mod:`fer_keras.commands.compare`)."""

from fer_keras.commands.compare import main

if __name__ == "__main__":
    raise SystemExit(main())
