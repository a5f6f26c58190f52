"""``fer-keras convert`` (``python -m fer_keras.utils``): a FER2013 CSV → a tree of PNG images.

``--data`` (``--csv`` is the same) names the CSV, ``--out`` the folder that receives
``<Usage>/<label>_<name>/<row>.png`` (see :mod:`fer_keras.data.convert`). TensorFlow is never
loaded: converting needs none.

Example:
    $ fer-keras convert --data dataset/fer2013.csv --out dataset
"""

from __future__ import annotations

import argparse

from fer_keras.commands import _common as common
from fer_keras.data.convert import convert, summary


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("utils", "Convert a FER2013 CSV (fer2013.csv, icml_face_data.csv, Kaggle "
                      "train.csv / test.csv; .csv or .csv.gz) into "
                      "OUT/<Usage>/<label>_<name>/<row>.png.")
    common.add_data(p, "dataset/fer2013.csv; a CSV, not a tree", "--csv", metavar="CSV")
    p.set_defaults(data="dataset/fer2013.csv")
    common.add_out(p, "the <Usage>/ folders", "dataset")
    p.add_argument("--overwrite", action="store_true", help="replace an existing tree")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel threads (default: every CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    return p


@common.command
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    tree = convert(args.data, args.out, overwrite=args.overwrite, workers=args.workers,
                   progress=not args.quiet)
    if not args.quiet:
        print(f"wrote {sum(sum(c.values()) for c in tree.values())} images to {args.out}/")
        print(summary(tree))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
