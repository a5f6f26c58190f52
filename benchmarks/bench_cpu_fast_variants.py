"""Training speed of the ``cpu_fast`` network against wider variants and batch 128, side by side.

    python benchmarks/bench_cpu_fast_variants.py [--rounds 2] [--steps 15]

Every variant trains from pre-made tensors in memory (bfloat16, 40-px crops, the recipe's model
options plus the variant's), the variants alternated ``--rounds`` times and each one's median
images/s reported with its ratio to the recipe's network and its forward GFLOP per image. It
answers two questions of the recipe: does batch 128 buy epochs, and what would wider stages cost.
"""

import argparse
import sys

import keras
import numpy as np
from bench_train import bench

from fer_keras.data.loading import load_dataset, sample_path

VARIANTS = [("cpu_fast (32-256 filters), batch 64", {}, 64),
            ("cpu_fast, batch 128", {}, 128),
            ("48-384 filters, batch 64", {"filters": (48, 96, 192, 384)}, 64),
            ("64-512 filters, batch 64", {"filters": (64, 128, 256, 512)}, 64),
            ("64-512 filters, batch 128", {"filters": (64, 128, 256, 512)}, 128)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args(argv)
    keras.config.set_dtype_policy("mixed_bfloat16")
    x, y = load_dataset(sample_path())["Training"]
    speeds, gflops = {label: [] for label, _, _ in VARIANTS}, {}
    for _ in range(args.rounds):
        for label, options, batch in VARIANTS:
            result = bench("cpu_fast", x, y, args.steps, batch, options, pipeline=False)
            speeds[label].append(result["memory_img_s"])
            gflops[label] = result["gflops_per_image"]
    base = np.median(speeds[VARIANTS[0][0]])
    print(f"| variant | GFLOP/image (forward) | img/s (median of {args.rounds}) | ratio |")
    print("|---|---:|---:|---:|")
    for label, _, _ in VARIANTS:
        median = np.median(speeds[label])
        print(f"| {label} | {gflops[label]:.3f} | {median:.1f} | {median / base:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
