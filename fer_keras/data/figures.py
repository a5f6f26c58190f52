"""Figures of the data itself (class balance, faces per class) and of a hyper-parameter search.

Each returns a `matplotlib.figure.Figure` built without pyplot, so nothing is shown or kept open
behind the caller's back; a notebook displays the returned figure, a script calls `fig.savefig`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from fer_keras import CLASS_NAMES


def plot_class_balance(data: dict, class_names=CLASS_NAMES):
    """Bar chart of images per class for each split of `data` (`{usage: (images, labels)}`)."""
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    width = 0.8 / max(1, len(data))
    x = np.arange(len(class_names))
    for k, (usage, (_, labels)) in enumerate(data.items()):
        counts = np.bincount(labels[labels >= 0], minlength=len(class_names))
        ax.bar(x + k * width, counts, width, label=f"{usage} ({len(labels)})")
    ax.set_xticks(x + width * (len(data) - 1) / 2, class_names)
    ax.set_ylabel("images")
    ax.set_title("FER2013 class balance")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_face_grid(images, labels, per_class: int = 8, class_names=CLASS_NAMES, seed: int = 0):
    """A grid with one row per class and `per_class` random faces of that class."""
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(per_class * 0.9, len(class_names) * 0.95))
    axes = fig.subplots(len(class_names), per_class, squeeze=False)
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(labels == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(pick):
                ax.imshow(images[pick[j]], cmap="gray", vmin=0, vmax=255)
        axes[c, 0].set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def plot_label_disagreement(images, labels, ferplus, count: int = 16, class_names=CLASS_NAMES,
                            seed: int = 0):
    """Faces whose FER2013 label is not their FER+ majority, each titled with both and its votes.

    Args:
        images, labels: one split's faces and FER2013 labels.
        ferplus: that split's ``fer_keras.data.ferplus.FerPlusSplit``.
        count: faces drawn at random among those that disagree.
    """
    rng = np.random.default_rng(seed)
    differ = np.flatnonzero((ferplus.majority >= 0) & (ferplus.majority != labels))
    pick = rng.choice(differ, size=min(count, len(differ)), replace=False)
    columns = 8
    rows = max(1, -(-len(pick) // columns))
    fig = Figure(figsize=(columns * 1.3, rows * 1.55))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), pick):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        share = ferplus.votes[i, ferplus.majority[i]]
        ax.set_title(f"{class_names[labels[i]]}\n→ {class_names[ferplus.majority[i]]} "
                     f"({share:.0%})", fontsize=7)
    fig.suptitle(f"FER2013 label → FER+ majority (its share of the votes): {len(differ)} of "
                 f"{int((ferplus.majority >= 0).sum())} faces disagree", fontsize=9)
    fig.tight_layout()
    return fig


def plot_search_heatmap(accuracy, optimizers, schedules, title: str = ""):
    """Heat map of PublicTest accuracy, one row per optimizer and one column per schedule.

    Args:
        accuracy: ``(len(optimizers), len(schedules))`` accuracies in [0, 1]; NaN marks a
            combination not trained (yet) or failed, drawn as an empty cell with a dash.
        optimizers, schedules: row and column labels.
        title: figure title.

    Example:
        >>> fig = plot_search_heatmap([[0.61, 0.64], [0.58, float("nan")]], ["sgd", "adam"],
        ...                           ["constant", "cosine"])
    """
    values = np.asarray(accuracy, dtype=float).reshape(len(optimizers), len(schedules))
    fig = Figure(figsize=(1.2 * len(schedules) + 3.0, 0.55 * len(optimizers) + 1.4),
                 layout="constrained")
    ax = fig.subplots()
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if high - low < 0.01:  # all (nearly) equal: a flat colour scale, not a degenerate one
        low, high = low - 0.005, high + 0.005
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=low, vmax=high,
                      aspect="auto")
    fig.colorbar(image, ax=ax, label="PublicTest accuracy", format="%.3f")
    ax.set(xticks=range(len(schedules)), yticks=range(len(optimizers)), xticklabels=schedules,
           yticklabels=optimizers, xlabel="schedule", ylabel="optimizer")
    middle = (low + high) / 2
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.3f}", ha="center", va="center", fontsize=9,
                color="black" if np.isnan(v) or v > middle else "white")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
