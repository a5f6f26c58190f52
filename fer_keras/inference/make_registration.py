"""``python -m fer_keras.inference.make_registration``: the command of
:mod:`fer_keras.commands.make_registration`, which writes ``registration.json``."""

from fer_keras.commands.make_registration import main

if __name__ == "__main__":
    raise SystemExit(main())
