"""``fer-keras evaluate`` (``python -m fer_keras.evaluate``): the metrics of a model on a split.

``MODEL`` (or ``--model``) is a run directory, a ``.keras`` file or a packaged name (default
``cpu_fast``); the metrics are printed and written beside the run (see
:mod:`fer_keras.evaluation.evaluate`). ``--help`` and a usage error never load TensorFlow.

Example:
    $ fer-keras evaluate fer_keras/pretrained/cpu_fast --split PublicTest
"""

from __future__ import annotations

import argparse

from fer_keras import USAGES
from fer_keras.commands import _common as common
from fer_keras.evaluation.packaged import DEFAULT_MODEL


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("evaluate", "Evaluate a model: accuracy, top-2, per-class "
                      "precision/recall/F1, confusion matrix.")
    common.add_model(p, default=DEFAULT_MODEL)
    p.add_argument("--split", action="append", choices=USAGES,
                   help="split to evaluate; repeatable (default: every evaluation split present)")
    common.add_data(p, "the run's own; for a packaged model dataset/fer2013.csv if present, "
                    "else the embedded sample")
    common.add_out(p, "metrics_<split>.json and confusion_<split>.png",
                   shown_default="the run directory, or the current folder for a packaged model")
    common.add_tta(p, "the scores (the files of a mode other than none end in _tta-<mode>)")
    p.add_argument("--ferplus", metavar="FILE", help="FER+ labels (fer2013new.csv) to score the "
                   "FER+ majority too (default: the run's own, else the file beside the data)")
    return p


@common.command
def main(argv=None) -> int:
    args, model = common.parse_with_model(build_parser(), argv)
    common.quiet_tensorflow()
    from fer_keras.evaluation.evaluate import evaluate_run, format_metrics

    results = evaluate_run(model, args.split, data_path=args.data, out=args.out, tta=args.tta,
                           ferplus=args.ferplus)
    for metrics in results.values():
        print(format_metrics(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
