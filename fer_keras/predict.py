"""``python -m fer_keras.predict``: ``fer-keras predict`` (:mod:`fer_keras.commands.predict`)."""

from fer_keras.commands.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
