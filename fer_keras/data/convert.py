"""Convert a FER2013 CSV into a tree of PNG images: `fer-keras convert`.

`fer-keras convert --data fer2013.csv --out dataset` (or `python -m fer_keras.utils`; the command
is `fer_keras.commands.convert`) writes the tree into the folder `--out`.

The tree is a contract other tools rely on::

    OUT/<Usage>/<label>_<name>/<row>.png     e.g. dataset/Training/3_happy/00007.png

`<label>_<name>` runs `0_angry` ... `6_neutral`, so sorting the folders gives the label order (as
`keras.utils.image_dataset_from_directory` does); `<row>` is the 0-based data row of the CSV,
zero-padded. Rows without a label (Kaggle's test.csv) go to `OUT/Test/unlabeled/`. Images are grey
48x48 PNGs holding the CSV's pixels exactly.

The tree is built in a hidden folder beside its target and swapped in at the end; a failed run
writes nothing, and an existing tree is replaced only with `--overwrite`. The swap is journalled, so
a run killed mid-swap is completed by the next run (or by `fer_keras.data.loading.load_png_tree`),
never left half old, half new. A converter holds its `--out` (`fer_keras.data.out_folder`): a second
one into the same folder refuses, and whatever a killed one left there is cleaned by the next.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from fer_keras import CLASS_NAMES
from fer_keras.data.out_folder import (
    JOURNAL,
    clean_leftovers,
    finish_swap,
    own_folder,
    staging_folder,
    swap_in,
)
from fer_keras.data.parse import ALL_USAGES, NO_LABEL, FER2013Error, default_workers, parse_file

__all__ = ["JOURNAL", "UNLABELED_DIR", "class_dir", "convert", "finish_swap", "summary"]

UNLABELED_DIR = "unlabeled"
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


def class_dir(label: int) -> str:
    """`3` → `3_happy`; -1 → `unlabeled`."""
    return UNLABELED_DIR if label == NO_LABEL else f"{label}_{CLASS_NAMES[label]}"


def _label_of(folder: str) -> int:
    return NO_LABEL if folder == UNLABELED_DIR else int(folder.split("_")[0])


def _folder_shares(table, workers: int) -> list[list[tuple[str, np.ndarray]]]:
    """Rows grouped by destination folder, the folders dealt out to ``workers`` threads.

    Each folder goes to one thread only (largest first, to the thread with the fewest rows): two
    threads creating files in one directory queue on its lock, which cost the converter up to
    half its time when every thread wrote into every folder.
    """
    keys = table.usage.astype(np.int64) * 16 + (table.labels.astype(np.int64) + 1)
    order = np.argsort(keys, kind="stable")
    cuts = np.flatnonzero(np.diff(keys[order])) + 1
    groups = [(ALL_USAGES[table.usage[rows[0]]], class_dir(int(table.labels[rows[0]])), rows)
              for rows in np.split(order, cuts) if len(rows)]
    shares, loads = [[] for _ in range(workers)], [0] * workers
    for usage, folder, rows in sorted(groups, key=lambda g: -len(g[2])):
        k = loads.index(min(loads))
        shares[k].append((os.path.join(usage, folder), rows))
        loads[k] += len(rows)
    return [share for share in shares if share]


def _write_png(dir_fd: int, name: str, image: np.ndarray) -> None:
    # OpenCV's default PNG settings encode fastest here (measured against levels 0-3 and the RLE
    # and Huffman strategies); os.open/os.write cost a fifth of open()/write() per file
    _, png = cv2.imencode(".png", image)
    fd = os.open(name, _WRITE_FLAGS, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, png)
    finally:
        os.close(fd)


def _write_share(tmp: Path, table, share, width: int, progress, stop) -> int:
    """Encode and write the rows of ``share`` (folder, rows) under ``tmp``; returns the count."""
    written = 0
    for folder, rows in share:
        path = os.path.join(tmp, folder)
        os.makedirs(path, exist_ok=True)
        dir_fd = os.open(path, os.O_RDONLY)  # names resolved in the folder, not from the root
        try:
            for start in range(0, len(rows), 500):
                if stop.is_set():
                    return written
                chunk = rows[start:start + 500]
                for i in chunk:
                    _write_png(dir_fd, f"{i:0{width}d}.png", table.images[i])
                written += len(chunk)
                progress(len(chunk))
        finally:
            os.close(dir_fd)
    return written


def convert(csv_path, out="dataset", *, overwrite=False, workers=None, progress=True) -> dict:
    """Write the PNG tree of a FER2013 CSV; returns `{usage: {class_dir: count}}`.

    Args:
        csv_path: `fer2013.csv` or a variant (see `fer_keras.data.parse`), optionally gzipped.
        out: folder receiving `<Usage>/` sub-folders.
        overwrite: replace existing `<Usage>/` folders; without it their presence is an error.
        workers: threads parsing and encoding; default every CPU.
        progress: show a progress bar (on a terminal only).

    Raises:
        FER2013Error: malformed input (nothing is written), an existing tree without `overwrite`,
            or another converter writing into `out`.
    """
    out = Path(out)
    created = not out.exists()
    try:
        with own_folder(out):  # from the first look at the folder to the end of the swap
            clean_leftovers(out)
            existing = [u for u in ALL_USAGES if (out / u).exists()]
            if existing and not overwrite:
                raise FER2013Error(out / existing[0], None,
                                   "already exists; pass --overwrite to replace it")
            table = parse_file(csv_path, workers=workers)
            tmp = staging_folder(out)
            try:
                usages = _write_tree(table, tmp, workers, progress)
                swap_in(out, tmp, usages)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        if created:  # a run that fails leaves no empty folder behind
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    return {u: {d.name: int(np.sum((table.usage == ALL_USAGES.index(u)) &
                                   (table.labels == _label_of(d.name))))
                 for d in sorted((out / u).iterdir())} for u in usages}


def _write_tree(table, tmp: Path, workers, progress) -> list[str]:
    """Write every image of ``table`` under ``tmp``; returns the Usage folders written."""
    n = len(table.labels)
    width = max(5, len(str(n - 1)))
    bar = tqdm(total=n, unit="img", disable=None if progress else True, desc="fer2013 → PNG")
    lock, stop = threading.Lock(), threading.Event()

    def advance(count):
        with lock:
            bar.update(count)

    shares = _folder_shares(table, workers or default_workers())
    # OpenCV's encoder and file writes release the GIL, so threads spread over the cores
    with ThreadPoolExecutor(len(shares) or 1) as pool, bar:
        jobs = [pool.submit(_write_share, tmp, table, share, width, advance, stop)
                for share in shares]
        try:
            for job in as_completed(jobs):
                job.result()
        except BaseException:
            stop.set()
            raise
    counts = np.bincount(table.usage, minlength=len(ALL_USAGES))
    usages = [u for u, c in zip(ALL_USAGES, counts) if c]
    for usage in usages:
        labels = [NO_LABEL] if usage == ALL_USAGES[-1] else range(len(CLASS_NAMES))
        for label in labels:  # empty classes get a folder too, so folder order = label order
            (tmp / usage / class_dir(label)).mkdir(parents=True, exist_ok=True)
    return usages


def summary(tree: dict) -> str:
    """A table of images per Usage and class."""
    dirs = sorted({d for counts in tree.values() for d in counts}, key=lambda d: (d[0] == "u", d))
    lines = [f"{'class':<12}" + "".join(f"{u:>13}" for u in tree)]
    for d in dirs:
        lines.append(f"{d:<12}" + "".join(f"{tree[u].get(d, 0):>13}" for u in tree))
    lines.append(f"{'total':<12}" + "".join(f"{sum(c.values()):>13}" for c in tree.values()))
    return "\n".join(lines)
