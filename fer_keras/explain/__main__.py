"""``python -m fer_keras.explain``: ``fer-keras explain`` (:mod:`fer_keras.commands.explain`)."""

from fer_keras.commands.explain import main

if __name__ == "__main__":
    raise SystemExit(main())
