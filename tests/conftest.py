"""Shared fixtures: small FER2013-format CSVs in tmp_path (all 7 classes, all 3 Usages)."""

import gzip
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

USAGES = ("Training", "PublicTest", "PrivateTest")


def make_images(n, seed=0):
    """`n` random 48x48 uint8 faces-to-be, with the extremes 0 and 255 present."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)
    if n:
        images[0, 0, :2] = (0, 255)
    return images


def fer_lines(images, labels, usages):
    return [f"{lab},{' '.join(map(str, img.ravel()))},{use}"
            for img, lab, use in zip(images, labels, usages)]


def write_csv(path, lines, header="emotion,pixels,Usage", newline="\n", final_newline=True):
    """Write `header` and `lines` to `path` (gzipped when it ends in .gz)."""
    text = newline.join([header, *lines]) + (newline if final_newline else "")
    data = text.encode()
    if str(path).endswith(".gz"):
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_fer_csv(path, n_per_class_usage=2, usages=USAGES, seed=0, **kwargs):
    """A FER2013 CSV with `n_per_class_usage` rows of every class in every Usage.

    Returns (path, rows) where rows = (images uint8 (n,48,48), labels int64 (n,), usages list).
    """
    n = 7 * len(usages) * n_per_class_usage
    images = make_images(n, seed)
    labels = np.tile(np.arange(7), len(usages) * n_per_class_usage).astype(np.int64)
    use = [usages[i % len(usages)] for i in range(n)]
    write_csv(path, fer_lines(images, labels, use), **kwargs)
    return path, (images, labels, use)


@pytest.fixture
def fer_csv(tmp_path):
    return make_fer_csv(tmp_path / "fer2013.csv")
