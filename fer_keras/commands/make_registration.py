"""``python -m fer_keras.inference.make_registration``: learn FER2013's registration from its
Training faces and write ``registration.json`` (see :mod:`fer_keras.inference.learn_registration`).

Example:
    $ python -m fer_keras.inference.make_registration --data dataset/fer2013.csv --faces 6000
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from fer_keras import TRAIN_SPLIT
from fer_keras._io import write_json
from fer_keras.commands import _common as common
from fer_keras.data.loading import default_data_path, load_fer2013
from fer_keras.inference.learn_registration import measure, template
from fer_keras.inference.registration import TEMPLATE


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("inference.make_registration", "Learn FER2013's registration from its "
                      "Training faces and write registration.json.")
    p.add_argument("--data", default=None, help="FER2013 CSV (default: dataset/fer2013.csv)")
    p.add_argument("--faces", type=int, default=6000, help="Training faces drawn (6000)")
    p.add_argument("--enlarge", type=int, default=160, help="side of the enlarged face (160)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(TEMPLATE), help="the file written (the package's)")
    return p


@common.command
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    path = args.data or default_data_path()
    splits = load_fer2013(path)
    if TRAIN_SPLIT not in splits:
        raise ValueError(f"{path}: no {TRAIN_SPLIT} rows to learn from")
    images, _ = splits[TRAIN_SPLIT]
    rows = np.random.default_rng(args.seed).choice(len(images), min(args.faces, len(images)),
                                                   replace=False)
    found = measure(images[np.sort(rows)], args.enlarge)
    command = "python -m fer_keras.inference.make_registration " + " ".join(
        sys.argv[1:] if argv is None else argv)
    spec = template(found, len(rows), command.strip())
    write_json(args.out, spec)
    print(f"{args.out}: landmarks {spec['landmarks']}, found {spec['faces_found']} of "
          f"{len(rows)} faces")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
