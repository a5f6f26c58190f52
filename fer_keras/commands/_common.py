"""What every command shares: the one error path, Ctrl-C, quiet TensorFlow and the shared flags.

Every command's ``main`` is a :func:`command`: it runs through :func:`run` (one error path:
``error: <file>[:<line>]: <what is wrong>``, a non-zero exit, no traceback), imports TensorFlow
through :func:`quiet_tensorflow` (its C++ start-up lines kept off the terminal) and only once
its command line is parsed, so ``--help`` and a usage error never load it. Ctrl-C ends any
command with one line, ``interrupted``, and exit status 130: while it imports TensorFlow, while
it runs and while Python shuts down after it.
Set ``FER_KERAS_VERBOSE=1`` to see TensorFlow's start-up lines and the traceback of an error.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import sys
import threading

from fer_keras.evaluation.tta import TTA_MODES  # no TensorFlow: Keras loads in view_model

VERBOSE_ENV = "FER_KERAS_VERBOSE"
#: Whether this process is one command started from a shell (``fer-keras X`` or ``python -m``),
#: not a caller of ``main(argv)`` such as a test: then Ctrl-C ends the process itself.
_whole_process = False


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


def interrupted_now(signum=None, frame=None) -> None:
    """End the process at once, as Ctrl-C ends a command: ``interrupted`` and exit status 130.

    ``os._exit``: no clean-up of a TensorFlow half imported, nothing that a second Ctrl-C could
    interrupt with a traceback.
    """
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os.write(2, b"interrupted\n")
    os._exit(130)


def _end_quietly() -> None:
    """Until the process ends, Ctrl-C ends it at once with the same one line (Python's shutdown
    joins threads and runs clean-ups, which a KeyboardInterrupt would break with a traceback)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupted_now)


def own_process(argv) -> None:
    """Note a command started from a shell (``argv`` None: the process's own command line)."""
    global _whole_process
    _whole_process |= argv is None


def interrupted() -> int:
    """Ctrl-C: the whole process ends at once; a caller of ``main(argv)`` gets status 130."""
    if _whole_process:
        interrupted_now()
    print("interrupted", file=sys.stderr, flush=True)
    return 130


def describe(error: BaseException) -> str:
    """One line for an error caused by the user's input (the file first, when it is known)."""
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    text = str(error).strip() or type(error).__name__
    if isinstance(error, KeyError):
        text = f"unknown key {text}"
    return " ".join(text.split("\n")[0].split()) if "\n" in text else text


def run(main, argv=None) -> int:
    """Run a command's ``main(argv)`` through the one error path every command shares.

    ``argv`` None: the process's own command line; Ctrl-C then ends the process at once, even
    in a TensorFlow half imported or while Python shuts down.
    """
    own_process(argv)
    try:
        return main(argv)
    except KeyboardInterrupt:
        return interrupted()
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        if verbose():
            raise
        print(f"error: {describe(error)}", file=sys.stderr)
        return 2
    finally:
        if _whole_process:
            _end_quietly()


def command(main):
    """A command's ``main(argv=None) -> int``, run through :func:`run`; the function itself,
    which raises instead of printing the error line, stays reachable as ``main.__wrapped__``."""

    @functools.wraps(main)
    def wrapped(argv=None) -> int:
        return run(main, argv)

    return wrapped


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the one error line every command prints: ``error: <prog>: <what>``, exit 2."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (--help lists the options)\n")


def parser(prog: str, description: str, **kwargs) -> ArgumentParser:
    """The parser of command ``prog`` (``python -m fer_keras.<prog>``)."""
    return ArgumentParser(prog=f"python -m fer_keras.{prog}", description=description, **kwargs)


class _Renamed(argparse.Action):
    """The old spelling of a flag: a one-line note on stderr, then the value under the new name."""

    def __init__(self, option_strings, dest, note: str, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.note = note

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {self.note}", file=sys.stderr, flush=True)
        setattr(namespace, self.dest, values)


def add_renamed(p: argparse.ArgumentParser, old: str, new: str, note: str, **kwargs) -> None:
    """Accept ``old``, hidden from the help, as the flag ``new`` with the deprecation ``note``."""
    p.add_argument(old, dest=new.lstrip("-").replace("-", "_"), action=_Renamed, note=note,
                   help=argparse.SUPPRESS, **kwargs)


# The shared flags: one name and one meaning each, in every command that has them.
DATA_HELP = "FER2013 CSV (.csv/.csv.gz) or PNG tree"
MODEL_HELP = ("a run directory, a .keras file, or the name of a model packaged with fer_keras "
              "(e.g. cpu_fast)")


def add_data(p: argparse.ArgumentParser, default: str = "dataset/fer2013.csv if present, else "
             "the embedded sample", *aliases: str, **kwargs) -> None:
    """``--data PATH``: the FER2013 data the command reads."""
    p.add_argument("--data", *aliases, help=f"{DATA_HELP} (default: {default})", **kwargs)


def add_out(p: argparse.ArgumentParser, what: str, default: str | None = None, *,
            shown_default: str | None = None, **kwargs) -> None:
    """``--out DIR``: the folder the command writes into (always a folder).

    ``shown_default``: the default the help names when ``default`` is not a path (e.g. None, or
    ``argparse.SUPPRESS`` in a parser whose defaults come from a config).
    """
    shown = shown_default if shown_default is not None else _shown(default)
    suffix = f" (default: {shown})" if shown is not None else ""
    p.add_argument("--out", default=default, metavar="DIR", help=f"folder for {what}{suffix}",
                   **kwargs)


def _shown(default):
    """A default as the help shows it (None and argparse.SUPPRESS are shown as nothing)."""
    return None if default in (None, argparse.SUPPRESS) else default


def add_model(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """The model argument: ``MODEL`` positionally or ``--model MODEL`` (one of them).

    ``default``: used when neither is given (e.g. the packaged model); ``None`` makes it required.
    Read it back with :func:`model_argument`.
    """
    text = MODEL_HELP + (f"; default {default}" if default else "")
    p.add_argument("model_positional", nargs="?", metavar="MODEL", help=text)
    p.add_argument("--model", help="the same as MODEL")
    p.set_defaults(model_default=default)


def parse_with_model(parser: argparse.ArgumentParser, argv=None
                     ) -> tuple[argparse.Namespace, str]:
    """``argv`` parsed by ``parser`` (one with :func:`add_model`) and the model it names, as
    :func:`model_argument` reads it: the preamble of every command over one trained model."""
    args = parser.parse_args(argv)
    return args, model_argument(args, parser)


def model_argument(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None
                   ) -> str:
    """The model a command line names (MODEL or ``--model``, not both; else the default).

    With ``parser``, a missing or doubled model is that parser's one-line option error (exit 2);
    without it, a ``ValueError``.
    """
    given = [m for m in (args.model_positional, args.model) if m]
    problem = None
    if len(given) > 1:
        problem = (f"give the model once: MODEL or --model, not both (got {given[0]!r} and "
                   f"{given[1]!r})")
    elif not given and not args.model_default:
        problem = "name a model: a run directory, a .keras file or a packaged model name"
    if problem:
        if parser is not None:
            parser.error(problem)
        raise ValueError(problem)
    return given[0] if given else args.model_default


def add_tta(p: argparse.ArgumentParser, what: str = "the scores", **kwargs) -> None:
    """``--tta MODE``: test-time views averaged into ``what``; default the model's own mode."""
    p.add_argument("--tta", choices=TTA_MODES, help=f"test-time augmentation of {what}: none, "
                   "the face and its mirror (flip) or ten crops and their mirrors (tencrop) "
                   "(default: the model's own, from its config)", **kwargs)


def add_max_megapixels(p: argparse.ArgumentParser, default_pixels: int) -> None:
    """``--max-megapixels M``: the largest image read, judged from its header before decoding."""
    p.add_argument("--max-megapixels", type=float, default=default_pixels / 1e6, metavar="M",
                   help="largest image read, in megapixels (width x height), judged from its "
                   "header before any pixel is decoded; a larger one is refused "
                   f"(default {default_pixels / 1e6:g})")


def max_pixels(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The pixel limit ``--max-megapixels`` sets (a non-positive one is the parser's error)."""
    if not args.max_megapixels > 0:
        parser.error(f"--max-megapixels must be positive. Received: {args.max_megapixels}")
    return max(1, int(args.max_megapixels * 1e6))


def add_max_minutes(p: argparse.ArgumentParser, **kwargs) -> None:
    """``--max-minutes M``: the time budget of each training run."""
    p.add_argument("--max-minutes", type=float, metavar="M", help="time budget of each training "
                   "run, in minutes; the run stops (and its clock-driven schedule anneals) "
                   "within it", **kwargs)


def add_seed(p: argparse.ArgumentParser, default: int | None = 0, **kwargs) -> None:
    """``--seed N``: seeds Python, NumPy, TensorFlow and the SVC."""
    p.add_argument("--seed", type=int, default=default, help="seeds Python, NumPy, TensorFlow "
                   f"and the SVC (default {_shown(default) or 0})", **kwargs)


def add_verbose(p: argparse.ArgumentParser, default: int | None = 2, **kwargs) -> None:
    """``--verbose {0,1,2}``: Keras fit verbosity."""
    p.add_argument("--verbose", type=int, choices=[0, 1, 2], default=default,
                   help="Keras fit verbosity (default 2: one line per epoch)", **kwargs)
