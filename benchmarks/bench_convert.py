"""Converter speed: fer_keras.utils against the common pandas.iterrows + str.split + PIL loop.

    python benchmarks/bench_convert.py [dataset/fer2013.csv] [--dir /dev/shm] [--rounds 3]
    python benchmarks/bench_convert.py dataset/fer2013.csv --whole   # the two commands, start-up
                                                                     # and imports included

Both write every row as a PNG into a fresh folder of their own, one after the other in this run,
each after `os.sync()`, for ``--rounds`` rounds with the order swapped every round; the script
checks that both trees hold identical pixels every round, then prints each round and the ratio of
the medians. Imports are not timed on either side, nor is the parser's warm-up: it parses the
embedded sample first, so that Numba's compile of the parsing kernel (done once per install and then
cached beside the module) or the load of that cache is printed on its own line.

On ext4 without a journal (this VM's root disk), creating files is up to 3x slower for 60 s after
many files were deleted nearby, and for 6 min if their inode-table blocks hold unwritten changes
(as creating new files among them makes them): the inode allocator skips every recently deleted
inode (`recently_deleted()` in fs/ext4/ialloc.c), one buffer lookup each (perf record: the kernel's
`find_get_block_common` and `recently_deleted` on top). So the trees are deleted only after the
last round, and a run started within minutes of deleting another tree (an earlier run's, say)
times that instead; both sides pay it, the converter most, as its time is mostly file creation.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _shared import same_splits, warm_up_parser  # benchmarks/ is sys.path[0]
from common_convert import common_loop

from fer_keras.data.convert import convert
from fer_keras.data.loading import load_png_tree

COMMANDS = {  # --whole: each side as the command a user runs, Python's start and imports included
    "common": lambda csv, out, workers: [sys.executable, str(Path(__file__).with_name(
        "common_convert.py")), csv, out],
    "fer_keras": lambda csv, out, workers: [
        sys.executable, "-m", "fer_keras.utils", "--data", csv, "--out", out, "--quiet",
        *(["--workers", str(workers)] if workers else [])],
}


def _timed(side, csv, out, workers, whole=False) -> float:
    os.sync()  # flush earlier writes first, so no side pays for another's disk write-back
    t = time.perf_counter()
    if whole:
        subprocess.run(COMMANDS[side](csv, out, workers), check=True)
    elif side == "common":
        common_loop(csv, out)
    else:
        convert(csv, out, workers=workers, progress=False)
    return time.perf_counter() - t


def _same_trees(a, b) -> tuple[bool, int]:
    """Whether the two trees hold identical arrays; the number of images in the first."""
    a, b = load_png_tree(a), load_png_tree(b)
    return same_splits(a, b), sum(len(labels) for _, labels in a.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default="dataset/fer2013.csv")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--dir", help="where both trees are written (default: beside the CSV; "
                                      "/dev/shm takes the disk out of the comparison)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of both sides, the order swapped every round; medians "
                             "reported (default 3)")
    parser.add_argument("--whole", action="store_true",
                        help="time each side as the command a user runs: `python -m "
                             "fer_keras.utils` against `python common_convert.py`, start-up and "
                             "imports included")
    args = parser.parse_args(argv)
    where = args.dir or Path(args.csv).parent
    warm_up_parser()
    times, same, rows = {"common": [], "fer_keras": []}, True, 0
    # Every round writes into its own folders, all deleted after the last round (see above).
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        for r in range(args.rounds):
            # A disk's speed drifts between runs minutes apart (journal commits, write-back), so
            # the sides alternate which goes first.
            order = ("common", "fer_keras") if r % 2 == 0 else ("fer_keras", "common")
            out = {side: os.path.join(tmp, f"round{r + 1}", side) for side in order}
            for side in order:
                times[side].append(_timed(side, args.csv, out[side], args.workers, args.whole))
            same_now, rows = _same_trees(out["common"], out["fer_keras"])
            same = same and same_now
            print(f"round {r + 1} ({order[0]} first): common {times['common'][-1]:6.2f} s, "
                  f"fer_keras {times['fer_keras'][-1]:6.2f} s, "
                  f"{times['common'][-1] / times['fer_keras'][-1]:5.1f}x", flush=True)
    t_common, t_ours = np.median(times["common"]), np.median(times["fer_keras"])
    print(f"rows: {rows}  cpus: {os.cpu_count()}  "
          f"identical trees in every round: {same}  written under: {where}")
    print("timed: " + ("whole commands, start-up and imports included" if args.whole
                       else "the calls, imports not timed"))
    print(f"common iterrows+split+PIL loop : {t_common:7.2f} s (median of {args.rounds})")
    print(f"python -m fer_keras.utils      : {t_ours:7.2f} s (median of {args.rounds})")
    print(f"speed-up                       : {t_common / t_ours:7.1f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
