"""The converter's hold on its output folder: one converter at a time, a journalled swap.

- :func:`own_folder`: a lock (``OUT/.fer_keras_convert.lock``, ``flock``) held from the first check
  of the folder to the end of the swap, so a second converter into the same folder refuses in one
  line instead of replacing the first one's tree. The operating system lets go of the lock when
  its process ends, however it is killed, so a killed converter never leaves a folder locked.
- :func:`swap_in`: the new ``<Usage>/`` folders, built in a hidden staging folder, replace the old
  ones; the plan is journalled before anything moves, so a run killed mid-swap is completed by
  the next run (or by a reader, :func:`finish_swap`), never left half old, half new.
- :func:`clean_leftovers`: with the lock held, whatever a killed run left in the folder (its
  staging folder, the old folders of a swap, a half-written journal) is finished or removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from fer_keras.data.parse import ALL_USAGES, FER2013Error

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

JOURNAL = ".fer_keras_swap.json"
LOCK = ".fer_keras_convert.lock"
TMP_PREFIX = ".fer_keras_tmp_"
OLD_PREFIX = ".fer_keras_old_"


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _lock(out: Path) -> int:
    """The descriptor of ``out``'s lock file, locked; a :class:`FER2013Error` when it is held."""
    path = out / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise FER2013Error(out, None, f"another converter (pid {holder or '?'}) is writing "
                                          "into this folder; wait for it to end or choose "
                                          "another --out")
        try:  # the holder removes the file as it ends: the lock must be on the file at the path
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def own_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Hold the folder ``out`` (created if absent) for one converter while the block runs.

    Raises:
        FER2013Error: another converter holds it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fd = _lock(out)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield out
    finally:
        # removed while still locked, so a converter that opened it meanwhile sees it is gone
        with contextlib.suppress(OSError):  # Windows removes no open file: it stays, unlocked
            (out / LOCK).unlink()
        os.close(fd)


def staging_folder(out: Path) -> Path:
    """A new hidden folder in ``out`` to build the tree in."""
    tmp = out / f"{TMP_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def finish_swap(out: Path) -> None:
    """Complete a swap that a killed run left journalled in ``out`` (rolls forward; idempotent)."""
    journal = out / JOURNAL
    if not journal.exists():
        return
    plan = json.loads(journal.read_text())
    tmp, old = out / plan["tmp"], out / plan["old"]
    old.mkdir(exist_ok=True)
    for usage in ALL_USAGES:  # old splits the new tree lacks go too: no mix of old and new
        src, dst = tmp / usage, out / usage
        new = usage in plan["usages"]
        if new and not src.exists():
            continue  # swapped in already
        if dst.exists():
            dst.rename(old / usage)
        if new:
            src.rename(dst)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    journal.unlink()  # last: a run killed while removing the folders above finishes them


def swap_in(out: Path, tmp: Path, usages: list[str]) -> None:
    """Move the new Usage folders from ``tmp`` into ``out``, replacing every old Usage folder."""
    plan = {"tmp": tmp.name, "old": OLD_PREFIX + tmp.name[len(TMP_PREFIX):], "usages": usages}
    journal_tmp = out / (JOURNAL + ".tmp")
    journal_tmp.write_text(json.dumps(plan))
    os.replace(journal_tmp, out / JOURNAL)  # the plan, whole, before anything moves
    finish_swap(out)


def clean_leftovers(out: Path) -> None:
    """Finish a journalled swap and remove every staging and old folder a killed run left.

    Only with :func:`own_folder` held: then no other converter is using any of them.
    """
    finish_swap(out)
    (out / (JOURNAL + ".tmp")).unlink(missing_ok=True)
    for path in out.iterdir():
        if path.name.startswith((TMP_PREFIX, OLD_PREFIX)) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
