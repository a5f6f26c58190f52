"""PublicTest accuracy and training time against the fraction of Training a model trains on.

:func:`fraction_sweep` trains one ``fer_keras.train`` config once per fraction (train's ``subset``
key: a stratified, seeded fraction of Training) into ``OUT/subset_<fraction>/`` and collects each
run's PublicTest metrics and fit time; :func:`plot_fraction_sweep` draws them.

Calling it again finds what is done (:func:`fer_keras.experiments.kfold.fold_run`): a finished run
is reused,
a killed one continues from its last finished epoch, and a run trained with other settings or on
other data raises :class:`~fer_keras.experiments.kfold.StaleRunError`.

Fit time grows in proportion to the fraction only with a fixed number of epochs: give the config
no time budget (``max_minutes=None``) and an ``early_stopping_patience`` of at least ``epochs``.

Example:
    >>> rows = fraction_sweep(recipe_config("bst261", cpu=True), [0.1, 0.5, 1.0],
    ...                       out="models/bst261_sweep")  # doctest: +SKIP
    >>> fig = plot_fraction_sweep(rows)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fer_keras import TRAIN_SPLIT, VAL_SPLIT
from fer_keras.data import loading as data
from fer_keras.evaluation.run_files import find_runs, read_run
from fer_keras.experiments.kfold import StaleRunError, fold_run
from fer_keras.training.train import resolve_config

__all__ = ["fraction_sweep", "plot_fraction_sweep"]


def fraction_sweep(config: dict, fractions, *, dataset: dict | None = None,
                   out: str | os.PathLike = "models/fraction_sweep") -> list[dict]:
    """Train (or find) one run of ``config`` per fraction of Training; one row per run.

    Args:
        config: a ``fer_keras.train`` config; its ``subset`` and ``out`` are set per fraction.
        fractions: fractions of Training in (0, 1], e.g. ``[0.1, 0.25, 0.5, 1.0]``.
        dataset: already loaded ``load_dataset`` output (default: read ``config["data"]``).
        out: the sweep folder; fraction ``f`` trains into ``out/subset_<f>/``.

    Returns:
        ``[{"fraction", "train_images", "classes", "epochs", "accuracy", "macro_f1",
        "fit_seconds", "run_dir"}, ...]`` in the order of ``fractions``; ``accuracy`` and
        ``macro_f1`` are those of the best epoch on PublicTest, ``epochs`` the epochs trained.
    """
    if dataset is None:
        dataset = data.load_dataset(config.get("data") or data.default_data_path())
    labels = data.train_split(dataset)[1]
    seed = resolve_config(config)["seed"]
    rows = []
    for fraction in fractions:
        folder = Path(out) / f"subset_{fraction:g}"
        kept = data.subset(np.arange(len(labels)), labels, fraction, seed)[0]
        expected = {TRAIN_SPLIT: len(kept), VAL_SPLIT: len(dataset[VAL_SPLIT][1])}
        _check_data_sizes(folder, expected)
        run_dir = fold_run(folder, {**config, "subset": fraction}, dataset)
        run = read_run(run_dir)
        metrics = run.metrics
        rows.append({"fraction": fraction, "train_images": run.config["data_sizes"][TRAIN_SPLIT],
                     "classes": len(run.class_names),
                     "epochs": sum(p["epochs_run"] for p in run.config["phases"]),
                     "accuracy": metrics[VAL_SPLIT]["accuracy"],
                     "macro_f1": metrics[VAL_SPLIT]["macro_f1"],
                     "fit_seconds": metrics["fit_seconds"], "run_dir": str(run_dir)})
    return rows


def _check_data_sizes(folder: Path, expected: dict) -> None:
    """The newest run in ``folder`` (the one ``fold_run`` would reuse) saw as many images."""
    runs = find_runs(folder)
    if not runs:
        return
    found = read_run(runs[-1]).config.get("data_sizes", {})
    differing = {k: (found.get(k), n) for k, n in expected.items() if found.get(k) != n}
    if differing:
        raise StaleRunError(f"{runs[-1]} was trained on other data: " + "; ".join(
            f"{found_n} {k} images there, {n} here" for k, (found_n, n) in differing.items())
            + ". Use another out folder.")


def plot_fraction_sweep(rows: list[dict], *, title: str = "") -> Figure:
    """PublicTest accuracy (left axis) and fit minutes (right axis) against the fraction used.

    Each accuracy point is labelled with its value and the number of Training images.
    """
    rows = sorted(rows, key=lambda r: r["fraction"])
    percent = [100 * r["fraction"] for r in rows]
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(percent, [r["accuracy"] for r in rows], "o-", color="C0",
            label="PublicTest accuracy (best epoch)")
    for x, r in zip(percent, rows):
        ax.annotate(f"{r['accuracy']:.3f}\n{r['train_images']:,} img", (x, r["accuracy"]),
                    textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8,
                    color="C0")
    ax.set(xlabel="fraction of Training used (%)", ylabel="PublicTest accuracy",
           xticks=percent, xlim=(0, 105))
    ax.margins(y=0.25)
    twin = ax.twinx()
    twin.plot(percent, [r["fit_seconds"] / 60 for r in rows], "s--", color="C1",
              label="training time")
    twin.set_ylabel("training time (minutes)", color="C1")
    twin.set_ylim(bottom=0)
    twin.tick_params(axis="y", colors="C1")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower right")
    if title:
        ax.set_title(title)
    return fig
