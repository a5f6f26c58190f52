"""``python -m fer_keras.utils``: ``fer-keras convert`` (:mod:`fer_keras.commands.convert`)."""

from fer_keras.commands.convert import main

if __name__ == "__main__":
    raise SystemExit(main())
