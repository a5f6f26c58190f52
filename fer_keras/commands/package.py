"""``fer-keras package`` (``python -m fer_keras.pretrained``): a finished run as a model shipped
inside fer_keras (see :mod:`fer_keras.inference.pretrained`).

Example:
    $ fer-keras package models/shallow_cnn_softmax_20261203-080819 --name cpu_fast --force
"""

from __future__ import annotations

import argparse

from fer_keras import VAL_SPLIT
from fer_keras.commands import _common as common
from fer_keras.evaluation.packaged import DEFAULT_MODEL
from fer_keras.evaluation.run_files import read_metrics


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("pretrained", "Package a finished run as a model shipped inside fer_keras "
                      "(fer-keras package).")
    common.add_model(p)
    p.add_argument("--name", default=DEFAULT_MODEL, help=f"the packaged model's name (default "
                   f"{DEFAULT_MODEL})")
    common.add_out(p, "the packaged models (NAME/ is written in it)",
                   shown_default="fer_keras/pretrained inside the package")
    p.add_argument("--force", action="store_true", help="replace a packaged model of that name "
                   "in the package's own folder")
    return p


@common.command
def main(argv=None) -> int:
    args, model = common.parse_with_model(build_parser(), argv)
    common.quiet_tensorflow()
    from fer_keras.inference.pretrained import package_run

    target = package_run(model, args.name, root=args.out, force=args.force)
    metrics = read_metrics(target)
    print(f"{target}: {(target / 'best.keras').stat().st_size / 2**20:.2f} MiB, {VAL_SPLIT} "
          f"accuracy {metrics[VAL_SPLIT]['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
