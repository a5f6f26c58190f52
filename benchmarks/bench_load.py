"""Loader speed: load_fer2013 (first load and cached reload) against the common loader.

    python benchmarks/bench_load.py [dataset/fer2013.csv] [--rounds 3]

The common loader is `pd.read_csv` then `np.array(p.split())` per row. Every round runs the common
loader, a first load (the cache beside the CSV deleted) and a cached reload one after the other on
the same file, the common loader first in odd rounds and last in even ones; the script checks that
all give identical arrays every round, then prints each round and the ratios of the medians.
Imports are not timed, nor is the parser's warm-up: it parses the embedded sample first, so that
Numba's compile of the parsing kernel (once per install, then cached beside the module) or the load
of that cache is printed on its own line.
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd
from _shared import same_splits, warm_up_parser  # benchmarks/ is sys.path[0]

from fer_keras.data.loading import load_fer2013


def common_loader(csv):
    df = pd.read_csv(csv)
    out = {}
    for usage, part in df.groupby("Usage", sort=False):
        images = np.stack([np.array(p.split(), dtype=np.uint8) for p in part["pixels"]])
        out[usage] = (images.reshape(-1, 48, 48), part["emotion"].to_numpy(np.int64))
    return out


def _timed(f, *args):
    t = time.perf_counter()
    out = f(*args)
    return out, time.perf_counter() - t


def _ours(csv, cache):
    if os.path.exists(cache):
        os.remove(cache)
    first, t_first = _timed(load_fer2013, csv)
    again, t_cached = _timed(load_fer2013, csv)
    return first, again, t_first, t_cached


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default="dataset/fer2013.csv")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds, the common loader first in odd ones and last in even ones; "
                             "medians reported (default 3)")
    args = parser.parse_args(argv)
    cache = args.csv + ".fer_keras-cache.npz"
    warm_up_parser()
    times, same, rows = {"common": [], "first": [], "cached": []}, True, 0
    for r in range(args.rounds):
        if r % 2 == 0:
            ref, t_common = _timed(common_loader, args.csv)
            first, again, t_first, t_cached = _ours(args.csv, cache)
        else:
            first, again, t_first, t_cached = _ours(args.csv, cache)
            ref, t_common = _timed(common_loader, args.csv)
        same = same and same_splits(first, ref) and same_splits(again, ref)
        rows = sum(len(v[1]) for v in ref.values())
        for key, value in (("common", t_common), ("first", t_first), ("cached", t_cached)):
            times[key].append(value)
        print(f"round {r + 1} ({'common' if r % 2 == 0 else 'fer_keras'} first): common "
              f"{t_common:5.2f} s, first load {t_first:5.2f} s ({t_common / t_first:4.1f}x), "
              f"cached {t_cached:5.2f} s ({t_common / t_cached:5.1f}x)", flush=True)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"rows: {rows}  cpus: {os.cpu_count()}  identical arrays in every round: {same}")
    print(f"common pd.read_csv + split loader : {med['common']:6.2f} s (median of {args.rounds})")
    print(f"load_fer2013, first load          : {med['first']:6.2f} s   "
          f"{med['common'] / med['first']:5.1f}x")
    print(f"load_fer2013, cached reload       : {med['cached']:6.2f} s   "
          f"{med['common'] / med['cached']:5.1f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
