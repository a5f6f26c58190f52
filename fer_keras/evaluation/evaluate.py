"""Evaluate a run directory: accuracy, top-2, per-class precision/recall/F1, confusion matrix.

``python -m fer_keras.evaluate models/shallow_cnn_svc_20250101-120000 --split PrivateTest`` loads
the run's ``best.keras`` (and its SVC or frozen-feature head, if any), predicts the split with the
run's own preprocessing, prints the metrics and writes ``metrics_<split>.json`` and
``confusion_<split>.png`` into the run directory. Without ``--split`` every evaluation split the
data has is evaluated (PublicTest, PrivateTest).

``--tta flip`` or ``--tta tencrop`` averages the scores over views of each face (see
:mod:`fer_keras.evaluation.tta`; a network trained on 40-px crops is always scored on 40-px crops,
the center one without TTA) and writes ``metrics_<split>_tta-<mode>.json`` and
``confusion_<split>_tta-<mode>.png`` beside the results without TTA.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fer_keras import TEST_SPLIT, USAGES, VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.evaluation.metrics import classification_metrics, plot_confusion_matrix, save_figure
from fer_keras.evaluation.run_dir import Run, load_run  # noqa: F401
from fer_keras.evaluation.tta import TTA_MODES
from fer_keras.models.saving import ModelFileError

#: Splits evaluated when none is asked for (those the data has).
EVALUATION_SPLITS = (VAL_SPLIT, TEST_SPLIT)


def evaluate_run(run: Run | str | os.PathLike, splits=None, *, dataset: dict | None = None,
                 data_path=None, out: str | os.PathLike | None = None,
                 tta: str = "none") -> dict[str, dict]:
    """Metrics of ``run`` on each of ``splits``; writes ``metrics_<split>.json`` and figures.

    Args:
        run: a :class:`Run` or a run directory.
        splits: split names; ``None`` for every one of :data:`EVALUATION_SPLITS` the data has.
        dataset: already loaded ``load_dataset`` output.
        data_path: data to read instead of the run's own ``config["data"]``.
        out: where to write the files (default: the run directory); ``False``-like to skip writing.
        tta: test-time augmentation, one of :data:`~fer_keras.evaluation.tta.TTA_MODES`; recorded
        as the
            metrics' ``"tta"``, and in the file names (``metrics_<split>_tta-<mode>.json``) unless
            ``"none"``, so results with and without TTA sit side by side.

    Returns:
        ``{split: classification_metrics(...)}``.
    """
    if tta not in TTA_MODES:
        raise ValueError(f"Unknown TTA mode. Expected one of {TTA_MODES}. Received: tta={tta!r}")
    run = run if isinstance(run, Run) else load_run(run)
    if dataset is None:
        dataset = data.load_dataset(data_path or run.config.get("data"))
    if splits is None:
        splits = [s for s in EVALUATION_SPLITS if s in dataset]
    missing = [s for s in splits if s not in dataset]
    if missing or not splits:
        raise ValueError(f"The data has no {', '.join(missing) or 'evaluation'} rows; "
                         f"its splits: {', '.join(dataset)}.")
    out = run.run_dir if out is None else out
    suffix = "" if tta == "none" else f"_tta-{tta}"
    results = {}
    merged = run.config.get("merge_disgust", False)
    names = data.class_names(merged)
    for split in splits:
        images, labels = dataset[split]
        labels = data.merge_disgust(labels) if merged else labels
        metrics = classification_metrics(labels, run.scores(images, tta=tta), names)
        metrics.update(split=split, run_dir=str(run.run_dir), head=run.config.get("head"), tta=tta)
        results[split] = metrics
        if out:
            _io.write_json(Path(out) / f"metrics_{split}{suffix}.json", metrics)
            title = f"{run.run_dir.name}: {_label(split, tta)} accuracy {metrics['accuracy']:.3f}"
            save_figure(plot_confusion_matrix(metrics["confusion_matrix"], names, title=title),
                        Path(out) / f"confusion_{split}{suffix}.png")
    return results


def _label(split: str, tta: str) -> str:
    return split if tta == "none" else f"{split} (TTA {tta})"


def format_metrics(metrics: dict) -> str:
    """A plain-text report of one split's metrics."""
    label = _label(metrics.get("split", ""), metrics.get("tta", "none"))
    lines = [f"{label}: n={metrics['n']}  accuracy={metrics['accuracy']:.4f}  "
             f"top-2={metrics['top2_accuracy']:.4f}  macro-F1={metrics['macro_f1']:.4f}",
             f"  {'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for name, c in metrics["per_class"].items():
        lines.append(f"  {name:<10}{c['precision']:>10.3f}{c['recall']:>10.3f}{c['f1']:>10.3f}"
                     f"{c['support']:>9d}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_keras.evaluate",
                                description=__doc__.split("\n")[0])
    p.add_argument("run_dir", help="a run directory (models/<model>_<head>_<timestamp>)")
    p.add_argument("--split", action="append", choices=USAGES,
                   help="split to evaluate; repeatable (default: every evaluation split present)")
    p.add_argument("--data", help="FER2013 CSV or PNG tree (default: the run's own data)")
    p.add_argument("--out", help="folder for metrics_<split>.json and confusion_<split>.png "
                                 "(default: the run directory)")
    p.add_argument("--tta", default="none", choices=TTA_MODES,
                   help="test-time augmentation: average the scores of the face and its mirror "
                        "(flip) or of ten crops and their mirrors (tencrop); the files get a "
                        "_tta-<mode> suffix (default: none)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = load_run(args.run_dir)
    except (FileNotFoundError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results = evaluate_run(run, args.split, data_path=args.data, out=args.out, tta=args.tta)
    for metrics in results.values():
        print(format_metrics(metrics))
    return 0

