"""The common FER2013 CSV -> PNG loop (pandas.iterrows + str.split + PIL), as most repositories
write it (the seed's Utils included): bench_convert.py's other side.

    python benchmarks/common_convert.py CSV OUT
"""

import os
import sys

import numpy as np
import pandas as pd
from PIL import Image

CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def common_loop(csv, out):
    """Write every row of ``csv`` as ``out/<Usage>/<label>_<name>/<row>.png``; the row count."""
    df = pd.read_csv(csv)
    for row, r in df.iterrows():
        pixels = np.array(r["pixels"].split(), dtype=np.uint8).reshape(48, 48)
        folder = os.path.join(out, r["Usage"], f"{r['emotion']}_{CLASS_NAMES[r['emotion']]}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(pixels).save(os.path.join(folder, f"{row:05d}.png"))
    return len(df)


if __name__ == "__main__":
    common_loop(sys.argv[1], sys.argv[2])
