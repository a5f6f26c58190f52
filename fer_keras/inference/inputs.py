"""The files ``fer-keras predict`` reads from its path arguments, and why it skips any other.

A folder is searched recursively, symbolic links followed; hidden files and folders (``.name``:
the system's and editors' own) are left out silently. Every other file that is not read is
reported with its reason: a type that is neither an image nor a video fer_keras reads, a broken
link, a link loop, something that is not a regular file (a named pipe would block the reader), a
folder that cannot be listed. A path given as such is kept as given, so that its reader says
what is wrong with it, unless it is no regular file.

Example:
    >>> found, skipped = collect_inputs(["holiday/"])
    >>> skipped
    [(PosixPath('holiday/notes.txt'), 'skipped: not an image or video (type .txt)')]
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Iterable

from fer_keras.inference.images import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def collect_inputs(paths: Iterable) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """``(found, skipped)``: ``(file, name under --out)`` for each image and video of ``paths``,
    and ``(path, why)`` for each file of their folders that is not read.

    Files keep their folder's layout under ``--out``; files are sorted by name within a folder.
    """
    found, skipped = [], []
    for path in map(Path, paths):
        if path.is_dir():
            root = path.stat()
            _search(path, Path(), {(root.st_dev, root.st_ino): path}, found, skipped)
        elif path.exists() and not path.is_file():
            skipped.append((path, _special(path.stat().st_mode)))
        else:
            found.append((path, Path(path.name)))
    return found, skipped


def _search(folder: Path, rel: Path, ancestors: dict, found: list, skipped: list) -> None:
    """Add the files under ``folder`` to ``found`` and ``skipped``; ``ancestors``: the folders
    being searched above it, by (device, inode), to tell a link loop."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except OSError as e:
        skipped.append((folder, f"skipped: cannot list the folder ({e.strerror})"))
        return
    for name in names:
        if name.startswith("."):
            continue
        path = folder / name
        try:
            info = path.stat()  # through links
        except OSError as e:
            skipped.append((path, _unreadable(path, e)))
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in ancestors:
                skipped.append((path, f"skipped: symlink loop (leads back to {ancestors[key]})"))
            else:
                _search(path, rel / name, {**ancestors, key: path}, found, skipped)
        elif not stat.S_ISREG(info.st_mode):
            skipped.append((path, _special(info.st_mode)))
        elif path.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
            found.append((path, rel / name))
        else:
            kind = f"type {path.suffix}" if path.suffix else "no file extension"
            skipped.append((path, f"skipped: not an image or video ({kind})"))


def _special(mode: int) -> str:
    """Why a file that is not a regular one (a named pipe would block its reader) is skipped."""
    kind = next((text for test, text in _KINDS if test(mode)), "a special file")
    return f"skipped: not a regular file ({kind})"


def _unreadable(path: Path, error: OSError) -> str:
    """Why a file whose ``stat`` failed is skipped."""
    if error.errno == errno.ELOOP:
        return "skipped: symlink loop"
    if path.is_symlink() and error.errno == errno.ENOENT:
        return f"skipped: broken symlink (its target {os.readlink(path)} does not exist)"
    return f"skipped: {error.strerror or error}"
