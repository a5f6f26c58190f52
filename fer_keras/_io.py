"""Atomic file writes for run artefacts.

A run killed half-way (Ctrl-C, ``kill -9``, out of memory, a shared machine's time limit) must never
leave a truncated ``config.json`` or ``best.keras`` that a later ``evaluate`` would trust, so every
artefact is written to a temporary file in the same directory, flushed to disk and moved into place
with :func:`os.replace`, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


class ModelFileError(ValueError):
    """A model or head file that is missing, truncated, tampered with or not ours.

    The message names the file and says what is wrong in one line, so CLIs print it as is.
    """


def _fsync(path: Path, directory: bool = False) -> None:
    # A rename is atomic against a killed process without this; the fsyncs make it survive a power
    # cut too (the data reaches the disk before the name points to it). Directories cannot be
    # opened on Windows, where the rename is durable on its own.
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()
#: The modes ``open()`` and ``mkdir`` give new files and folders under this process's umask.
FILE_MODE, DIR_MODE = 0o666 & ~_UMASK, 0o777 & ~_UMASK


def temp_dir(prefix: str, parent: str | os.PathLike) -> Path:
    """A new empty folder in ``parent``, with the permissions ``mkdir`` would give it.

    ``tempfile.mkdtemp`` makes it private (0700); a model folder swapped in from it must stay
    readable by the other users and services that read a plain folder there.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, DIR_MODE)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds.

    The temporary name keeps the suffix of ``path`` because some writers (``model.save``,
    ``savefig``) choose the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix="".join(path.suffixes) or None,
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file private (0600); the artefact gets the mode open() would give it
    os.chmod(tmp, FILE_MODE)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent, directory=True)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_link(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Make ``path`` an atomic hard link to ``source`` (a copy where links are not supported).

    A link costs nothing and keeps the content ``source`` has now even after ``source`` is
    atomically replaced, which is how a resumable run snapshots its best checkpoint.
    """
    with atomic_path(path) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
