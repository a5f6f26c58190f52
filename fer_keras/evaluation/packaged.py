"""The models packaged inside fer_keras, and what a user's model argument names.

``fer_keras/pretrained/NAME/`` holds each packaged model (a run directory: ``best.keras``, its
``config.json``, metrics). :func:`resolve_model` turns a model argument -- a run directory, a
``.keras`` file or a packaged NAME -- into its path. Nothing here imports TensorFlow, so listing
the packaged models (``fer_keras.packaged_models()``) is instant.

Example:
    >>> "cpu_fast" in packaged_models()
    True
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_MODEL", "PRETRAINED_ROOT", "is_packaged", "packaged_model", "packaged_models",
           "resolve_model"]

#: Where the models packaged with fer_keras live, one folder each (``fer_keras/pretrained/NAME``).
PRETRAINED_ROOT = Path(__file__).resolve().parent.parent / "pretrained"
#: The packaged model used when no model is named.
DEFAULT_MODEL = "cpu_fast"


def packaged_models() -> list[str]:
    """Names of the models packaged in :data:`PRETRAINED_ROOT` (folders holding a best.keras)."""
    root = PRETRAINED_ROOT
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "best.keras").is_file())


def packaged_model(name: str = DEFAULT_MODEL) -> Path:
    """The folder of the packaged model ``name``; the one-line error lists the packaged names."""
    names = packaged_models()
    if name not in names:
        raise FileNotFoundError(
            f"No packaged model {name!r} (packaged: {', '.join(names) or 'none'}), nor a run "
            "directory or .keras file of that name: pass a run directory, a .keras file or a "
            "packaged name.")
    return PRETRAINED_ROOT / name


def resolve_model(name_or_path: str | os.PathLike | None = None) -> Path:
    """The path of the model a user names: a run directory, a ``.keras`` file or a packaged NAME.

    An existing path wins over a packaged name; ``None`` is the packaged :data:`DEFAULT_MODEL`.

    Raises:
        FileNotFoundError: nothing of that name; the one-line message lists the packaged names.

    Example:
        >>> resolve_model("cpu_fast")  # doctest: +SKIP
        PosixPath('.../fer_keras/pretrained/cpu_fast')
    """
    if name_or_path is None:
        return packaged_model()
    path = Path(name_or_path)
    if path.exists():
        return path
    if len(path.parts) == 1 and path.suffix != ".keras":  # a bare name: a packaged model's
        return packaged_model(path.name)
    raise FileNotFoundError(f"No model at {path}: pass a run directory, a .keras file or a "
                            f"packaged model name ({', '.join(packaged_models()) or 'none'}).")


def is_packaged(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies inside :data:`PRETRAINED_ROOT` (the installed package)."""
    return Path(path).resolve().is_relative_to(PRETRAINED_ROOT.resolve())
