"""Figures for :mod:`fer_keras.explain`: maps over faces, filter patterns, mistakes, curves.

Each returns a ``matplotlib.figure.Figure`` built without pyplot (see
:mod:`fer_keras.data.figures`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fer_keras import CLASS_NAMES
from fer_keras.evaluation.metrics import plot_history
from fer_keras.evaluation.run_files import HISTORY_FILE, RunRecord, is_run, read_config


def _grey(image) -> np.ndarray:
    image = np.asarray(image, dtype="float32")
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def plot_explanations(images, maps: Mapping[str, np.ndarray], titles: Sequence[str] | None = None,
                      *, alpha: float = 0.5, cmap: str = "jet") -> Figure:
    """One column per face: the face, then each map over it.

    Args:
        images: the faces, ``(n, h, w)`` or ``(n, h, w, 1)``, 0–255.
        maps: ``{row title: maps}``, each as returned by ``saliency``, ``smoothgrad`` or
            ``grad_cam`` for ``images``.
        titles: one per face (e.g. ``"sad → fear"``).
        alpha: opacity of the map over the face (1 hides the face).
        cmap: colormap of the maps.
    """
    n = len(images)
    fig = Figure(figsize=(1.3 * max(n, 2), 1.45 * (1 + len(maps))), layout="constrained")
    axes = fig.subplots(1 + len(maps), max(n, 1), squeeze=False)
    for j in range(n):
        face = _grey(images[j])
        axes[0, j].imshow(face, cmap="gray", vmin=0, vmax=255)
        if titles is not None:
            axes[0, j].set_title(titles[j], fontsize=7)
        for i, values in enumerate(maps.values(), start=1):
            axes[i, j].imshow(face, cmap="gray", vmin=0, vmax=255)
            axes[i, j].imshow(_grey(values[j]), cmap=cmap, vmin=0, vmax=1, alpha=alpha)
    for i, name in enumerate(["face", *maps]):
        axes[i, 0].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_filters(patterns, titles: Sequence[str] | None = None, *, columns: int = 8,
                 title: str = "") -> Figure:
    """A grid of filter images (``filter_patterns``, ``filter_on_face``), each contrast-stretched.

    Stretching each image to its own range shows the pattern, whose absolute level is arbitrary.
    """
    n = len(patterns)
    rows = max(1, -(-n // columns))
    cols = min(columns, max(n, 1))
    fig = Figure(figsize=(1.2 * cols, 1.3 * rows + (0.3 if title else 0)), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            image = np.asarray(patterns[k], dtype="float32")
            low, high = image.min(), image.max()
            ax.imshow((image - low) / (high - low if high > low else 1.0),
                      cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_title(titles[k] if titles is not None else f"filter {k}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_mistakes(images, mistakes: Mapping[str, np.ndarray], class_names=CLASS_NAMES,
                  title: str = "") -> Figure:
    """The most confident mistake per (true, predicted) pair, rows true and columns predicted.

    Args:
        images: the images ``mistakes`` indexes into.
        mistakes: the output of ``confident_mistakes`` (the first mistake per pair is shown).
        class_names: names of the classes.
        title: figure title.
    """
    k = len(class_names)
    fig = Figure(figsize=(1.15 * k + 0.6, 1.2 * k + 0.6), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    shown = set()
    for index, true, predicted, margin in zip(mistakes["index"], mistakes["true"],
                                              mistakes["predicted"], mistakes["margin"]):
        if (true, predicted) in shown:
            continue
        shown.add((true, predicted))
        ax = axes[true, predicted]
        ax.imshow(_grey(images[index]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"#{index} Δ{margin:.2f}", fontsize=6)
    for c, name in enumerate(class_names):
        axes[c, 0].set_ylabel(f"true {name}", fontsize=8)
        axes[-1, c].set_xlabel(f"predicted {name}", fontsize=8)
        axes[c, c].set_facecolor("0.92")
    fig.suptitle(title or "Most confident mistakes (Δ: score of predicted − score of true)",
                 fontsize=9)
    return fig


def plot_training_curves(run: str | os.PathLike | RunRecord) -> Figure:
    """Loss and accuracy curves of a run (a run directory, or its record or loaded ``Run``) from
    its history, a dashed line where each later phase starts."""
    if not isinstance(run, RunRecord):
        run = RunRecord(Path(run), read_config(run) if is_run(run) else {})
    history = run.history
    if not history:
        raise FileNotFoundError(f"{run.run_dir} has no {HISTORY_FILE}: only a run that trained "
                                "has a training history.")
    return plot_history(history, phase_starts=run.phase_starts, title=run.run_dir.name)
