"""Pieces the data-layer benchmarks share: the parser's untimed warm-up and the exactness check."""

import time

import numpy as np

from fer_keras.data.loading import sample_path
from fer_keras.data.parse import parse_file


def warm_up_parser() -> None:
    """Parse the embedded sample once and print how long it took (Numba's compile or cache load)."""
    t = time.perf_counter()
    parse_file(sample_path())
    print(f"parser warm-up (not timed below): {time.perf_counter() - t:6.2f} s (Numba compile on "
          "first use, then a cache load)")


def same_splits(a: dict, b: dict) -> bool:
    """Whether two ``{usage: (images, labels)}`` dicts hold the same usages and identical arrays."""
    return set(a) == set(b) and all(np.array_equal(a[k][0], b[k][0]) and
                                    np.array_equal(a[k][1], b[k][1]) for k in a)
