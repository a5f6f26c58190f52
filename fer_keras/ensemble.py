"""``python -m fer_keras.ensemble``: ``fer-keras ensemble`` (:mod:`fer_keras.commands.ensemble`)."""

from fer_keras.commands.ensemble import main

if __name__ == "__main__":
    raise SystemExit(main())
