"""Peak memory of one epoch of the 96x96x3 training pipeline, against holding the set at 96x96x3.

    python benchmarks/bench_memory_96.py [--data CSV] [--batch-size 64] [--json FILE]

Each measurement runs in its own child process (this script with ``--child MODE``), and its peak
resident memory (max RSS) is read from the kernel's accounting of that child (``os.wait4``), so
the two never share a heap:

- ``pipeline``: ``fer_keras.data.pipeline.make_dataset(..., training=True, augment=True,
  image_size=96, channels=3)`` over Training, iterated for one full epoch. Images stay uint8
  48x48 in memory; the 96x96x3 float32 view exists a batch at a time.
- ``materialised``: Training resized to 96x96x3 float32 once, held as one array, then one epoch
  of shuffled batches sliced from it. Its size is ``n x 96 x 96 x 3 x 4`` bytes (3.2 GB for the
  28,709 FER2013 Training faces); when that is over ``--max-materialised-gb`` (4) or half the
  available memory, it is computed and reported, not allocated.

Each child also reports its max RSS after imports and loading the data (``baseline``), so
``peak - baseline`` is what the epoch itself added. Data: ``dataset/fer2013.csv`` when present,
else the embedded sample. Iterating the full set at 96x96x3 takes minutes of CPU; run it when the
machine is otherwise idle.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MB = 1024 ** 2
SIDE, CHANNELS = 96, 3


def materialised_bytes(n: int) -> int:
    """Bytes of ``n`` faces held as 96x96x3 float32."""
    return n * SIDE * SIDE * CHANNELS * 4


def max_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, or None elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def child(mode: str, data_path: str, batch_size: int) -> dict:
    """One epoch in this process; returns the numbers the parent prints."""
    import numpy as np
    import tensorflow as tf

    from fer_keras.data.loading import load_dataset
    from fer_keras.data.pipeline import augmentation, make_dataset

    x, y = load_dataset(data_path)["Training"]
    baseline = max_rss_mb()
    start = time.perf_counter()
    seen, extra = 0, {}
    if mode == "pipeline":
        ds = make_dataset(x, y, batch_size=batch_size, training=True, augment=True,
                          image_size=SIDE, channels=CHANNELS)
        for images, _ in ds:
            seen += int(images.shape[0])
    else:
        held = np.empty((len(x), SIDE, SIDE, CHANNELS), np.float32)
        for i in range(0, len(x), 1024):  # resized in chunks, so only the result is whole
            chunk = tf.image.resize(x[i:i + 1024, ..., None].astype(np.float32), (SIDE, SIDE))
            held[i:i + 1024] = np.repeat(chunk.numpy(), CHANNELS, axis=-1)
        extra["materialise_seconds"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        # The same random augmentation per batch, but at 96x96x3 on the held array (traced
        # once, like the pipeline's map function).
        aug = augmentation(True, seed=0)
        augment = tf.function(lambda batch: aug(batch, training=True), reduce_retracing=True)
        order = np.random.default_rng(0).permutation(len(x))
        for i in range(0, len(x), batch_size):
            seen += int(augment(held[order[i:i + batch_size]]).shape[0])
    return {"mode": mode, "images": seen, "seconds": round(time.perf_counter() - start, 2),
            "baseline_rss_mb": round(baseline, 1), **extra}


def measure(mode: str, data_path: str, batch_size: int) -> dict:
    """Run ``child(mode)`` in a fresh process; add its peak RSS as the kernel accounted it."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", mode,
                             "--data", data_path, "--batch-size", str(batch_size)],
                            stdout=subprocess.PIPE, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen.wait
    if proc.returncode:
        raise RuntimeError(f"the {mode} child failed with exit code {proc.returncode}")
    row = json.loads(output.strip().splitlines()[-1])
    row["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="FER2013 CSV (default dataset/fer2013.csv, else the "
                                       "embedded sample)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-materialised-gb", type=float, default=4.0,
                        help="allocate the materialised set only below this size (4)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--child", choices=["pipeline", "materialised"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.data is None:
        from fer_keras.data.loading import default_data_path

        args.data = str(default_data_path())
    if args.child:
        print(json.dumps(child(args.child, args.data, args.batch_size)), flush=True)
        return 0

    rows = [measure("pipeline", args.data, args.batch_size)]
    n = rows[0]["images"]
    size = materialised_bytes(n)
    available = available_bytes()
    limit = min(args.max_materialised_gb * 1e9, available / 2 if available else float("inf"))
    if size <= limit:
        rows.append(measure("materialised", args.data, args.batch_size))
    else:
        rows.append({"mode": "materialised", "images": n, "skipped": True})
    print(f"data: {args.data}  Training images: {n}  batch: {args.batch_size}  "
          f"cpus: {os.cpu_count()}")
    print(f"Training at {SIDE}x{SIDE}x{CHANNELS} float32 would hold {size / MB:,.0f} MB "
          f"({size / 1e9:.2f} GB)")
    for r in rows:
        if r.get("skipped"):
            print(f"{r['mode']:<13} not allocated: {size / 1e9:.2f} GB is over the limit of "
                  f"{limit / 1e9:.2f} GB (--max-materialised-gb, half the available memory)")
            continue
        added = r["peak_rss_mb"] - r["baseline_rss_mb"]
        print(f"{r['mode']:<13} peak RSS {r['peak_rss_mb']:8,.0f} MB   after loading "
              f"{r['baseline_rss_mb']:8,.0f} MB   epoch added {added:7,.0f} MB   "
              f"{r['images']} images in {r['seconds']:.1f} s "
              f"({r['images'] / r['seconds']:,.0f} img/s)"
              + (f", after {r['materialise_seconds']:.1f} s materialising"
                 if "materialise_seconds" in r else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
