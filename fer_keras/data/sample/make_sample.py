"""Draw the embedded sample from the real FER2013 file (see README.md beside this script).

    python fer_keras/data/sample/make_sample.py fer2013_training_publictest.csv.gz \
        --ferplus fer2013new.csv
"""

import argparse
import gzip
import io
import os
from pathlib import Path

import numpy as np

PER_USAGE = {"Training": 1200, "PublicTest": 400}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the real fer2013 CSV (.csv or .csv.gz)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("fer2013_sample.csv.gz")))
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--ferplus", help="FER+ labels (fer2013new.csv): their rows of the sample "
                        "go to fer2013new_sample.csv beside --out")
    args = parser.parse_args(argv)
    opener = gzip.open if args.source.endswith(".gz") else open
    with opener(args.source, "rb") as f:
        lines = f.read().split(b"\n")
    header, rows = lines[0], [ln for ln in lines[1:] if ln]
    emotion = np.array([int(r[: r.index(b",")]) for r in rows])
    usage = np.array([r[r.rindex(b",") + 1:].decode().strip() for r in rows])
    rng = np.random.default_rng(args.seed)
    keep = []
    for name, total in PER_USAGE.items():
        idx = np.flatnonzero(usage == name)
        counts = np.bincount(emotion[idx], minlength=7)
        # proportional allocation, largest remainders first, at least 10 rows per class
        quota = np.maximum(10, np.floor(counts / counts.sum() * total)).astype(int)
        order = np.argsort(-(counts / counts.sum() * total - quota))
        for c in order[: max(0, total - quota.sum())]:
            quota[c] += 1
        for c in range(7):
            pool = idx[emotion[idx] == c]
            keep.extend(rng.choice(pool, size=quota[c], replace=False))
    keep = np.sort(np.array(keep))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(header + b"\n" + b"\n".join(rows[i] for i in keep) + b"\n")
    _write(args.out, buf.getvalue())
    print(f"{args.out}: {len(keep)} rows, {len(buf.getvalue()) / 1e6:.2f} MB")
    if args.ferplus:
        with open(args.ferplus, "rb") as f:
            plus = f.read().split(b"\n")
        out = str(Path(args.out).with_name("fer2013new_sample.csv"))
        # row i of fer2013new.csv is row i of fer2013.csv, so the sample keeps the same rows
        _write(out, plus[0].rstrip(b"\r") + b"\n" + b"\n".join(
            plus[1 + i].rstrip(b"\r") for i in keep) + b"\n")
        print(f"{out}: {len(keep)} rows")
    return 0


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
