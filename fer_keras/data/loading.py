"""FER2013 into exact in-memory arrays: CSV (cached) or PNG tree, FER+ labels, splits and weights.

Splits follow the dataset's own `Usage` column: Training → train, PublicTest → validation (model
selection), PrivateTest → test (reported, never used to choose anything).

Example:
    >>> data = load_dataset("dataset/fer2013.csv")          # doctest: +SKIP
    >>> x_train, y_train = data["Training"]                  # uint8 (28709, 48, 48), int64 (28709,)
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from fer_keras import CLASS_NAMES, IMAGE_SIZE, TRAIN_SPLIT, _io
from fer_keras.data.convert import UNLABELED_DIR, class_dir, finish_swap
from fer_keras.data.parse import ALL_USAGES, NO_LABEL, FER2013Error, Table, parse_file

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the installed fer_keras/
_PACKAGE_ROOT = _PACKAGE_DIR.parent
#: The embedded real sample, package data so that it ships in every install.
SAMPLE_CSV = Path(__file__).resolve().parent / "sample" / "fer2013_sample.csv.gz"
FULL_CSV = Path("dataset") / "fer2013.csv"
_CACHE_SUFFIX = ".fer_keras-cache.npz"
_CACHE_VERSION = 1


def _find(relative: Path) -> Path | None:
    """`relative` under the working directory, else under the source checkout."""
    for root in (Path.cwd(), _PACKAGE_ROOT):
        if (root / relative).exists():
            return root / relative
    return None


def dataset_dir() -> Path:
    """The project's `dataset/` folder (under the working directory, else the source checkout)."""
    return _find(Path("dataset")) or Path("dataset")


def sample_path() -> Path:
    """The embedded real sample, `fer_keras/data/sample/fer2013_sample.csv.gz` in the package.

    Example:
        >>> sample_path().name
        'fer2013_sample.csv.gz'
    """
    if not SAMPLE_CSV.is_file():
        raise FileNotFoundError(f"{SAMPLE_CSV}: the embedded sample is missing from this install "
                                "of fer_keras (reinstall it, or pass the data path)")
    return SAMPLE_CSV


def default_data_path() -> Path:
    """`dataset/fer2013.csv` under the working directory (else the source checkout) when
    present, else the embedded sample (`sample_path()`)."""
    return _find(FULL_CSV) or sample_path()


def _cache_path(path: Path) -> Path:
    return path.with_name(path.name + _CACHE_SUFFIX)


def _stamp(path: Path) -> np.ndarray:
    st = path.stat()
    return np.array([_CACHE_VERSION, st.st_size, st.st_mtime_ns], np.int64)


def read_table(path, *, cache: bool = True, workers: int | None = None) -> Table:
    """Every row of a FER2013 CSV as a `fer_keras.data.parse.Table`, from a cache when it is fresh.

    The cache (`<csv>.fer_keras-cache.npz` beside the file) is keyed on the file's size and
    modification time, rewritten when either changes, and written atomically; where the folder is
    read-only, and for files inside the package (the embedded sample, 0.1 s to parse), the file is
    simply parsed each time.
    """
    path = Path(path)
    # package data may be read-only, and a file written there outlives `pip uninstall`
    cache = cache and not path.resolve().is_relative_to(_PACKAGE_DIR)
    cached = _cache_path(path)
    if cache and cached.exists() and path.exists():
        try:
            with np.load(cached) as z:
                if np.array_equal(z["stamp"], _stamp(path)):
                    return Table(z["images"], z["labels"], z["usage"])
        except (OSError, ValueError, KeyError, EOFError):
            pass  # unreadable cache: parse the CSV again and rewrite it
    table = parse_file(path, workers=workers)
    if cache:
        try:
            with _io.atomic_path(cached) as tmp, open(tmp, "wb") as f:
                np.savez(f, stamp=_stamp(path), images=table.images, labels=table.labels,
                         usage=table.usage)
        except OSError:
            pass  # a read-only folder: the next read parses the CSV again
    return table


def load_fer2013(path, *, cache: bool = True, workers: int | None = None):
    """Each Usage of a FER2013 CSV → (images uint8 `(n, 48, 48)`, labels int64 `(n,)`).

    Args:
        path: `fer2013.csv` or a variant (see `fer_keras.data.parse`), optionally gzipped.
        cache: read and write the array cache beside the CSV.
        workers: parsing threads (default: every CPU, for large files).

    Raises:
        FER2013Error: the file is missing or malformed; the message names the line.
    """
    return read_table(path, cache=cache, workers=workers).split()


_ROW = re.compile(r"^(\d+)\.png$")


def load_png_tree(root, *, workers: int = 4):
    """Read a tree written by `python -m fer_keras.utils` back into `load_fer2013`'s arrays.

    Rows come back in CSV order (the file names are the CSV rows), so the arrays equal the CSV's.
    """
    root = Path(root)
    if not root.is_dir():
        raise FER2013Error(root, None, "no such folder")
    finish_swap(root)
    names = {class_dir(i): i for i in range(len(CLASS_NAMES))} | {UNLABELED_DIR: NO_LABEL}
    out = {}
    for usage in ALL_USAGES:
        if not (root / usage).is_dir():
            continue
        entries = []
        for d in sorted((root / usage).iterdir()):
            if d.name not in names:
                raise FER2013Error(d, None, f"unexpected folder; expected one of {sorted(names)}")
            for f in d.iterdir():
                m = _ROW.match(f.name)
                if m is None:
                    raise FER2013Error(f, None, "unexpected file; expected <row>.png")
                entries.append((int(m.group(1)), names[d.name], str(f)))
        entries.sort()

        def read(entry):
            img = cv2.imread(entry[2], cv2.IMREAD_UNCHANGED)
            if img is None or img.shape != (IMAGE_SIZE, IMAGE_SIZE) or img.dtype != np.uint8:
                raise FER2013Error(entry[2], None,
                                   f"not a grey {IMAGE_SIZE}x{IMAGE_SIZE} 8-bit PNG")
            return img

        with ThreadPoolExecutor(workers) as pool:
            images = list(pool.map(read, entries))
        empty = np.empty((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
        out[usage] = (np.stack(images) if images else empty,
                      np.array([e[1] for e in entries], np.int64))
    if not out:
        raise FER2013Error(root, None, f"no {'/'.join(ALL_USAGES)} folder inside")
    return out


def load_dataset(path=None, **kwargs):
    """A CSV (`load_fer2013`) or a PNG tree (`load_png_tree`); None → `default_data_path()`."""
    path = Path(path) if path is not None else default_data_path()
    if path.is_dir():
        return load_png_tree(path)
    return load_fer2013(path, **kwargs)


def subset(images, labels, fraction: float, seed: int = 0):
    """A stratified `fraction` of (images, labels), rows kept in their order."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]. Received: fraction={fraction}")
    if fraction == 1:
        return images, labels
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(labels)), train_size=fraction, stratify=labels,
                               random_state=seed)
    keep.sort()
    return images[keep], labels[keep]


def class_weights(labels, num_classes: int = len(CLASS_NAMES)) -> dict[int, float]:
    """`n / (k * count)` per class ("balanced"), for `model.fit(class_weight=...)`."""
    counts = np.bincount(labels, minlength=num_classes).astype(float)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


#: The six classes of :func:`merge_disgust` labels: *disgust* folded into *angry*.
MERGED_CLASS_NAMES = tuple(name for name in CLASS_NAMES if name != "disgust")
_MERGE_DISGUST = np.array([0, 0, 1, 2, 3, 4, 5])


def merge_disgust(labels) -> np.ndarray:
    """FER2013 labels with *disgust* (1) merged into *angry* (0): six classes, 2..6 → 1..5.

    Disgust is 1.5% of FER2013 (547 of 35,887 faces) and often confused with anger, so some
    projects (e.g. ``bst261_cnn``'s) train on six classes. Unlabelled rows (-1) stay -1. Name the
    new labels with ``class_names(merge_disgust=True)``.

    Example:
        >>> merge_disgust([0, 1, 2, 6])
        array([0, 0, 1, 5])
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < NO_LABEL or labels.max() >= len(CLASS_NAMES)):
        raise ValueError(f"FER2013 labels are 0..{len(CLASS_NAMES) - 1} (or {NO_LABEL} for "
                         f"none). Received labels in [{labels.min()}, {labels.max()}]")
    return np.where(labels == NO_LABEL, NO_LABEL, _MERGE_DISGUST[labels.clip(0)])


#: The class FER+ adds to FER2013's: label ``len(class_names(merge_disgust))`` of a run with it.
CONTEMPT = "contempt"


def class_names(merge_disgust: bool = False, contempt: bool = False) -> tuple[str, ...]:
    """Class names in label order: FER2013's seven, or the six of :func:`merge_disgust` labels;
    with ``contempt``, FER+'s eighth class after them (label 7, or 6 when merged).

    Example:
        >>> class_names(contempt=True)[-2:]
        ('neutral', 'contempt')
    """
    names = MERGED_CLASS_NAMES if merge_disgust else CLASS_NAMES
    return (*names, CONTEMPT) if contempt else names


def config_class_names(config) -> tuple[str, ...]:
    """:func:`class_names` of a run config (a mapping with ``merge_disgust`` and ``contempt``)."""
    return class_names(bool(config.get("merge_disgust", False)),
                       bool(config.get("contempt", False)))


def stratified_kfold(labels, n_splits: int = 5, seed: int = 0):
    """[(train_index, val_index)] for `n_splits` stratified, shuffled folds."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(labels)), labels))


def train_split(data: dict):
    """(images, labels) of Training; a clear error when the data has none."""
    if TRAIN_SPLIT not in data:
        raise ValueError(f"the data has no {TRAIN_SPLIT} rows (splits: {', '.join(data)})")
    return data[TRAIN_SPLIT]


def find_duplicates(images) -> list[np.ndarray]:
    """Groups (arrays of indices, size ≥ 2) of pixel-identical images, largest group first."""
    flat = np.ascontiguousarray(np.asarray(images).reshape(len(images), -1))
    keys = flat.view(np.dtype((np.void, flat.shape[1])))[:, 0]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
    return sorted((g for g in groups if len(g) > 1), key=len, reverse=True)
