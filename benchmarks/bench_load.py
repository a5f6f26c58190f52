"""Loader speed: load_fer2013 (first load and cached reload) against the common loader.

    python benchmarks/bench_load.py [dataset/fer2013.csv]

The common loader is `pd.read_csv` then `np.array(p.split())` per row. All three run one after the
other in this run on the same file; the script checks that they give identical arrays.
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

from fer_keras.data import load_fer2013


def common_loader(csv):
    df = pd.read_csv(csv)
    out = {}
    for usage, part in df.groupby("Usage", sort=False):
        images = np.stack([np.array(p.split(), dtype=np.uint8) for p in part["pixels"]])
        out[usage] = (images.reshape(-1, 48, 48), part["emotion"].to_numpy(np.int64))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default="dataset/fer2013.csv")
    args = parser.parse_args(argv)
    cache = args.csv + ".fer_keras-cache.npz"
    if os.path.exists(cache):
        os.remove(cache)
    t = time.perf_counter()
    ref = common_loader(args.csv)
    t_common = time.perf_counter() - t
    t = time.perf_counter()
    first = load_fer2013(args.csv)
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    again = load_fer2013(args.csv)
    t_cached = time.perf_counter() - t
    same = all(set(d) == set(ref) and all(np.array_equal(d[k][0], ref[k][0]) and
                                          np.array_equal(d[k][1], ref[k][1]) for k in ref)
               for d in (first, again))
    rows = sum(len(v[1]) for v in ref.values())
    print(f"rows: {rows}  cpus: {os.cpu_count()}  identical arrays: {same}")
    print(f"common pd.read_csv + split loader : {t_common:6.2f} s")
    print(f"load_fer2013, first load          : {t_first:6.2f} s   {t_common / t_first:5.1f}x")
    print(f"load_fer2013, cached reload       : {t_cached:6.2f} s   {t_common / t_cached:5.1f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
