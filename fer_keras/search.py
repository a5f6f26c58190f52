"""``python -m fer_keras.search``: ``fer-keras search`` (:mod:`fer_keras.commands.search`)."""

from fer_keras.commands.search import main

if __name__ == "__main__":
    raise SystemExit(main())
