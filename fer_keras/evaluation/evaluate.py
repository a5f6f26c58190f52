"""Evaluate a model: accuracy, top-2, per-class precision/recall/F1, confusion matrix.

``fer-keras evaluate MODEL --split PrivateTest`` (or ``python -m fer_keras.evaluate``) loads the
model (``MODEL`` or ``--model MODEL``: a run directory, a ``.keras`` file or the name of a packaged
model such as ``cpu_fast``, the default), predicts the split with the model's own preprocessing,
prints the metrics and writes ``metrics_<split>.json`` and ``confusion_<split>.png`` into ``--out``
(default: the run directory, a ``.keras`` file's folder, or the current folder for a packaged
model, which is never written into). Without ``--split`` every evaluation split the data has is
evaluated (PublicTest, PrivateTest).

``--tta`` averages the scores over views of each face (see :mod:`fer_keras.evaluation.tta`; a
network trained on 40-px crops is always scored on 40-px crops, the center one without TTA); it
defaults to the model's own mode (its config's ``"tta"``: ``flip`` for ``cpu_fast``), so the
figure is the one ``predict`` gives. With a mode other than ``none`` the files are
``metrics_<split>_tta-<mode>.json`` and ``confusion_<split>_tta-<mode>.png``, beside the results
without TTA.
"""

from __future__ import annotations

import os
from pathlib import Path

from fer_keras import TEST_SPLIT, VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.data.ferplus import ferplus_labels
from fer_keras.evaluation.metrics import (
    LABEL_SET_TITLES,
    label_set_metrics,
    own_label_set,
    save_confusion_figure,
)
from fer_keras.evaluation.run_dir import Run, load_run

#: Splits evaluated when none is asked for (those the data has).
EVALUATION_SPLITS = (VAL_SPLIT, TEST_SPLIT)


def evaluate_run(run: Run | str | os.PathLike, splits=None, *, dataset: dict | None = None,
                 data_path=None, out: str | os.PathLike | None = None,
                 tta: str | None = None, ferplus=None) -> dict[str, dict]:
    """Metrics of ``run`` on each of ``splits``; writes ``metrics_<split>.json`` and figures.

    Args:
        run: a :class:`Run`, or a model for :func:`load_run` (run directory, ``.keras`` file or
            packaged name).
        splits: split names; ``None`` for every one of :data:`EVALUATION_SPLITS` the data has.
        dataset: already loaded ``load_dataset`` output.
        data_path: data to read instead of the run's own (:meth:`Run.data_path`).
        out: the folder to write the files into (default: :meth:`Run.output_dir`, never the
            installed package); ``False``-like to skip writing.
        tta: test-time augmentation, one of :data:`~fer_keras.evaluation.tta.TTA_MODES`;
            ``None``: the run's own (:meth:`Run.tta_mode`). Recorded as the metrics' ``"tta"``,
            and in the file names (``metrics_<split>_tta-<mode>.json``) unless ``"none"``, so
            results with and without TTA sit side by side.
        ferplus: FER+ labels (``fer2013new.csv``); default: the run's own, else the file beside
            the data (for data read here, not a ``dataset`` given). When found, every split is
            also scored on their majority.

    Returns:
        ``{split: classification_metrics(...)}`` against the run's own label set (FER2013's
        labels, or the FER+ majority for a run trained on FER+), with ``"labels"`` naming it and
        ``"label_sets"`` the accuracy and macro-F1 on each label set the data has.

    Example:
        >>> results = evaluate_run("cpu_fast", ["PublicTest"], out=False)  # doctest: +SKIP
        >>> results["PublicTest"]["tta"]  # the packaged model's own mode  # doctest: +SKIP
        'tencrop'
    """
    run = run if isinstance(run, Run) else load_run(run)
    tta = run.tta_mode(tta)
    if dataset is None:  # FER+ labels by default only for data read here, never for data given
        data_path = data_path or run.data_path() or data.default_data_path()
        dataset = data.load_dataset(data_path)
        if ferplus is None and not run.packaged:
            ferplus = run.config.get("ferplus")
    if splits is None:
        splits = [s for s in EVALUATION_SPLITS if s in dataset]
    missing = [s for s in splits if s not in dataset]
    if missing or not splits:
        raise ValueError(f"The data has no {', '.join(missing) or 'evaluation'} rows; "
                         f"its splits: {', '.join(dataset)}.")
    own = own_label_set(run.label_set)
    fp = ferplus_labels(dataset, data_path, ferplus,
                        required=own != "fer2013", merge_disgust=run.merge_disgust,
                        contempt=run.contempt)
    out = run.output_dir() if out is None else out
    suffix = "" if tta == "none" else f"_tta-{tta}"
    results = {}
    names = run.class_names
    for split in splits:
        images, labels = dataset[split]
        sets = label_set_metrics(run.scores(images, tta=tta), run.labels(labels),
                                 fp[split] if fp else None, names)
        metrics = {**sets[own], "split": split, "run_dir": str(run.run_dir),
                   "head": run.config.get("head"), "tta": tta, "labels": own,
                   "label_sets": {k: _summary(m) for k, m in sets.items()}}
        results[split] = metrics
        if out:
            _io.write_json(Path(out) / f"metrics_{split}{suffix}.json", metrics)
            title = f"{run.run_dir.name}: {_label(split, tta)} accuracy {metrics['accuracy']:.3f}"
            save_confusion_figure(metrics["confusion_matrix"],
                                  Path(out) / f"confusion_{split}{suffix}.png", names, title=title)
    return results


def _summary(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("n", "accuracy", "macro_f1", "excluded") if k in metrics}


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
    for name, m in metrics.get("label_sets", {}).items():
        excluded = f" ({m['excluded']} faces without a majority left out)" if m.get(
            "excluded") else ""
        lines.append(f"  against {LABEL_SET_TITLES[name]}: accuracy={m['accuracy']:.4f}  "
                     f"macro-F1={m['macro_f1']:.4f}  n={m['n']}{excluded}")
    return "\n".join(lines)
