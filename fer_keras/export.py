"""``python -m fer_keras.export``: ``fer-keras export`` (:mod:`fer_keras.commands.export`)."""

from fer_keras.commands.export import main

if __name__ == "__main__":
    raise SystemExit(main())
