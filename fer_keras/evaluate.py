"""Evaluate a run directory: accuracy, top-2, per-class precision/recall/F1, confusion matrix.

``python -m fer_keras.evaluate models/shallow_cnn_svc_20250101-120000 --split PrivateTest`` loads
the run's ``best.keras`` (and its SVC or frozen-feature head, if any), predicts the split with the
run's own preprocessing, prints the metrics and writes ``metrics_<split>.json`` and
``confusion_<split>.png`` into the run directory. Without ``--split`` every evaluation split the
data has is evaluated (PublicTest, PrivateTest).

``--tta flip`` or ``--tta tencrop`` averages the scores over views of each face (see
:mod:`fer_keras.tta`; a network trained on 40-px crops is always scored on 40-px crops, the center
one without TTA) and writes ``metrics_<split>_tta-<mode>.json`` and
``confusion_<split>_tta-<mode>.png`` beside the results without TTA.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from sklearn.pipeline import Pipeline

from fer_keras import TEST_SPLIT, USAGES, VAL_SPLIT, _io, data, heads, pipeline
from fer_keras.metrics import classification_metrics, plot_confusion_matrix, save_figure
from fer_keras.saving import ModelFileError, load_model_file
from fer_keras.tta import TTA_MODES, model_input_size, tta_scores

#: Splits evaluated when none is asked for (those the data has).
EVALUATION_SPLITS = (VAL_SPLIT, TEST_SPLIT)


@dataclass
class Run:
    """A trained run: its config, network and optional feature head, ready to score images.

    Attributes:
        run_dir: the run directory.
        config: its ``config.json``.
        model: the network (``best.keras`` of the run, or of the run named by ``features_from``).
        svc: the fitted SVC pipeline of an ``svc`` run.
        feature_head: the Keras head of a frozen-feature ``l2svm`` run (``head.keras``).
    """

    run_dir: Path
    config: dict
    model: keras.Model
    svc: Pipeline | None = None
    feature_head: keras.Model | None = None

    def scores(self, images: np.ndarray, batch_size: int = 256, tta: str = "none") -> np.ndarray:
        """Scores ``(n, 7)`` of raw uint8 images ``(n, 48, 48)``, preprocessed as in training.

        Equalisation (if the run used it) applies to the whole faces; the network (and its SVC or
        feature head) then scores the views of ``tta`` (one of :data:`~fer_keras.tta.TTA_MODES`)
        at its own input side, and the scores are averaged (:func:`fer_keras.tta.tta_scores`).
        """
        images = np.asarray(images)
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        images = pipeline.equalize_images(images, self.config.get("equalize"))
        layer = self.config.get("feature_layer", heads.FEATURE_LAYER)

        def score(view):
            return heads.predict_scores(
                self.model, pipeline.make_dataset(view, batch_size=batch_size), svc=self.svc,
                feature_head=self.feature_head, feature_layer=layer)

        return tta_scores(score, images, tta, model_input_size(self.model))


def load_run(run_dir: str | os.PathLike) -> Run:
    """Load a run directory written by ``fer_keras.train`` or ``fer_keras.compare``.

    Models load with ``safe_mode`` and the SVC head without pickle; a damaged or foreign file
    raises :class:`~fer_keras.saving.ModelFileError` naming it.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json).")
    try:
        config = _io.read_json(run_dir / "config.json")
    except ValueError as err:
        raise ModelFileError(f"{run_dir / 'config.json'}: not valid JSON ({err})") from None
    network_dir = (run_dir / config["features_from"]).resolve() if config.get(
        "features_from") else run_dir
    if not (network_dir / "best.keras").is_file():
        raise FileNotFoundError(f"{network_dir / 'best.keras'} is missing; did the run finish?")
    model = load_model_file(network_dir / "best.keras",
                            num_classes=len(data.class_names(config.get("merge_disgust", False))))
    svc_file = run_dir / "svc_head.json"
    svc = heads.load_svc(svc_file) if svc_file.is_file() else None
    feature_head = (load_model_file(run_dir / "head.keras", num_classes=None)
                    if (run_dir / "head.keras").is_file() else None)
    return Run(run_dir, config, model, svc, feature_head)


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
        tta: test-time augmentation, one of :data:`~fer_keras.tta.TTA_MODES`; recorded as the
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


if __name__ == "__main__":
    raise SystemExit(main())
