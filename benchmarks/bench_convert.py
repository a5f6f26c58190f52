"""Converter speed: fer_keras.utils against the common pandas.iterrows + str.split + PIL loop.

    python benchmarks/bench_convert.py [dataset/fer2013.csv] [--dir /dev/shm]

Both write every row as a PNG into a fresh temporary folder, one after the other in this run, each
after `os.sync()`; the script checks that both trees hold identical pixels, then prints the times
and their ratio. Imports are not timed on either side, nor is the parser's warm-up: it parses the
embedded sample first, so that Numba's compile of the parsing kernel (done once per install and then
cached beside the module) or the load of that cache is printed on its own line.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fer_keras import CLASS_NAMES
from fer_keras.data import load_png_tree, sample_path
from fer_keras.parse import parse_file
from fer_keras.utils import convert


def common_loop(csv, out):
    """What most FER2013 repositories do (the seed's Utils included)."""
    df = pd.read_csv(csv)
    for row, r in df.iterrows():
        pixels = np.array(r["pixels"].split(), dtype=np.uint8).reshape(48, 48)
        folder = os.path.join(out, r["Usage"], f"{r['emotion']}_{CLASS_NAMES[r['emotion']]}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(pixels).save(os.path.join(folder, f"{row:05d}.png"))
    return len(df)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default="dataset/fer2013.csv")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--dir", help="where both trees are written (default: beside the CSV; "
                                      "/dev/shm takes the disk out of the comparison)")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    parse_file(sample_path())
    t_warm = time.perf_counter() - t
    with tempfile.TemporaryDirectory(dir=args.dir or Path(args.csv).parent) as tmp:
        # flush earlier writes first, so neither side pays for the other's disk write-back
        os.sync()
        t = time.perf_counter()
        n = common_loop(args.csv, os.path.join(tmp, "common"))
        t_common = time.perf_counter() - t
        os.sync()
        t = time.perf_counter()
        convert(args.csv, os.path.join(tmp, "fer_keras"), workers=args.workers, progress=False)
        t_ours = time.perf_counter() - t
        a = load_png_tree(os.path.join(tmp, "common"))
        b = load_png_tree(os.path.join(tmp, "fer_keras"))
        same = list(a) == list(b) and all(np.array_equal(a[k][0], b[k][0]) and
                                          np.array_equal(a[k][1], b[k][1]) for k in a)
    print(f"rows: {n}  cpus: {os.cpu_count()}  identical trees: {same}  "
          f"written under: {args.dir or Path(args.csv).parent}")
    print(f"parser warm-up (not timed below): {t_warm:6.2f} s (Numba compile on first use, "
          "then a cache load)")
    print(f"common iterrows+split+PIL loop : {t_common:7.2f} s")
    print(f"python -m fer_keras.utils      : {t_ours:7.2f} s")
    print(f"speed-up                       : {t_common / t_ours:7.1f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
