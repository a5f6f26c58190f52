"""The command-line layer every command shares, and the ``fer-keras`` console script.

Every ``python -m fer_keras.X`` module and every ``fer-keras X`` subcommand starts through
`quiet_tensorflow` (TensorFlow's C++ start-up lines kept off the terminal) and runs through `run`
(one error path: ``error: <file>[:<line>]: <what is wrong>``, a non-zero exit, no traceback).
Set ``FER_KERAS_VERBOSE=1`` to see TensorFlow's start-up lines and the traceback of an error.

Example:
    $ fer-keras evaluate fer_keras/pretrained/cpu_fast --split PublicTest
"""

from __future__ import annotations

import importlib
import os
import sys

VERBOSE_ENV = "FER_KERAS_VERBOSE"

#: ``fer-keras`` subcommand -> the ``python -m fer_keras.<module>`` it is the same as.
COMMANDS = {
    "convert": ("utils", "FER2013 CSV -> PNG tree (python -m fer_keras.utils)"),
    "train": ("train", "train one model; every run writes its own directory"),
    "compare": ("compare", "one network, then softmax / L2-SVM / SVC heads on its features"),
    "evaluate": ("evaluate", "metrics of a run directory on a split"),
    "predict": ("predict", "faces and emotions in photos, videos or a webcam"),
    "explain": ("explain.__main__", "saliency, SmoothGrad, Grad-CAM, filters, mistakes"),
    "export": ("export", "SavedModel, TFLite or ONNX, with a parity check"),
    "ensemble": ("ensemble", "k-fold ensembles of several models"),
    "search": ("search", "KerasTuner grid over optimisers x schedules"),
    "package": ("pretrained", "package a run as a model shipped inside fer_keras"),
}


def verbose() -> bool:
    """Whether the user asked for TensorFlow's start-up lines and tracebacks."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def quiet_tensorflow() -> None:
    """Import TensorFlow once with its C++ start-up lines kept off stderr.

    The oneDNN notice, the CUDA stub lines and, on a machine without a GPU, ``failed call to
    cuInit`` are written by C++ before ``TF_CPP_MIN_LOG_LEVEL`` is read, so stderr itself is
    pointed at the null device while TensorFlow loads and looks for devices.
    """
    if verbose() or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def describe(error: BaseException) -> str:
    """One line for an error caused by the user's input (the file first, when it is known)."""
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    text = str(error).strip() or type(error).__name__
    if isinstance(error, KeyError):
        text = f"unknown key {text}"
    return " ".join(text.split("\n")[0].split()) if "\n" in text else text


def run(main, argv=None) -> int:
    """Run a command's ``main(argv)`` through the one error path every command shares."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        if verbose():
            raise
        print(f"error: {describe(error)}", file=sys.stderr)
        return 2


def _usage() -> str:
    lines = ["usage: fer-keras COMMAND [options]   (fer-keras COMMAND --help for its options)", "",
             "commands:"]
    lines += [f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", f"{VERBOSE_ENV}=1 shows TensorFlow's start-up lines and tracebacks."]
    return "\n".join(lines)


def main(argv=None) -> int:
    """``fer-keras COMMAND ...``: the same commands as ``python -m fer_keras.<module>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        from fer_keras import __version__

        print(f"fer-keras {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        choices = ", ".join(COMMANDS)
        print(f"error: unknown command {name!r}; choose from {choices}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"fer_keras.{COMMANDS[name][0]}")
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
