"""``python -m fer_keras.serve``: ``fer-keras serve`` (:mod:`fer_keras.commands.serve`)."""

from fer_keras.commands.serve import main

if __name__ == "__main__":
    raise SystemExit(main())
