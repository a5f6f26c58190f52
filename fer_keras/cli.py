"""The ``fer-keras`` console script: ``fer-keras COMMAND [options]`` runs one command.

Each command is a module of :mod:`fer_keras.commands` (the same as a ``python -m fer_keras.X``
face); what they share (the one error path, Ctrl-C, quiet TensorFlow) is in
``fer_keras.commands._common``.
Set ``FER_KERAS_VERBOSE=1`` to see TensorFlow's start-up lines and the traceback of an error.

Example:
    $ fer-keras evaluate fer_keras/pretrained/cpu_fast --split PublicTest
"""

from __future__ import annotations

import importlib
import sys

from fer_keras.commands import _common as common

#: ``fer-keras`` subcommand -> (its module in fer_keras.commands, what it does).
COMMANDS = {
    "convert": ("convert", "FER2013 CSV -> PNG tree (python -m fer_keras.utils)"),
    "train": ("train", "train one model; every run writes its own directory"),
    "compare": ("compare", "one network, then softmax / L2-SVM / SVC / LinearSVC heads on it"),
    "evaluate": ("evaluate", "metrics of a model (run, .keras file, packaged) on a split"),
    "predict": ("predict", "faces and emotions in photos, videos or a webcam"),
    "explain": ("explain", "saliency, SmoothGrad, Grad-CAM, filters, mistakes"),
    "export": ("export", "SavedModel, TFLite or ONNX, with a parity check"),
    "ensemble": ("ensemble", "k-fold ensembles of several models, resumable"),
    "search": ("search", "KerasTuner grid over optimisers x schedules"),
    "package": ("package", "package a run as a model shipped inside fer_keras"),
    "serve": ("serve", "a local web app and REST API: photos or a webcam -> emotions"),
}


def _usage() -> str:
    lines = ["usage: fer-keras COMMAND [options]   (fer-keras COMMAND --help for its options)", "",
             "commands:"]
    lines += [f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", f"{common.VERBOSE_ENV}=1 shows TensorFlow's start-up lines and tracebacks."]
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
    common.own_process(argv)
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        choices = ", ".join(COMMANDS)
        print(f"error: unknown command {name!r}; choose from {choices}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"fer_keras.commands.{COMMANDS[name][0]}")
    except KeyboardInterrupt:
        return common.interrupted()
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
