"""Classification metrics and figures shared by training, evaluation and the head comparison.

Figures are built on ``matplotlib.figure.Figure`` directly, not pyplot: nothing is shown, no global
backend is switched, and ``savefig`` renders with Agg.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from fer_keras import CLASS_NAMES, _io


def classification_metrics(labels: np.ndarray, scores: np.ndarray,
                           class_names=CLASS_NAMES) -> dict:
    """Accuracy, top-2 accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix.

    Args:
        labels: true labels ``(n,)``.
        scores: class scores ``(n, k)`` — probabilities, L2-SVM scores or SVC decision values; only
            their order matters.
        class_names: names of the ``k`` classes.

    Returns:
        A JSON-ready dict; ``confusion_matrix[i][j]`` counts true class ``i`` predicted as ``j``.
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    k = len(class_names)
    predicted = scores.argmax(axis=1)
    top2 = np.argsort(-scores, axis=1, kind="stable")[:, :2]
    classes = np.arange(k)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0)
    return {
        "n": int(len(labels)),
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else float("nan"),
        "top2_accuracy": float(np.mean((top2 == labels[:, None]).any(axis=1))) if len(labels)
        else float("nan"),
        "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro",
                                   zero_division=0)),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                             "f1": float(f1[i]), "support": int(support[i])}
                      for i, name in enumerate(class_names)},
        "confusion_matrix": confusion_matrix(labels, predicted, labels=classes).tolist(),
    }


#: How reports name the keys of :func:`label_set_metrics`.
LABEL_SET_TITLES = {"fer2013": "FER2013 labels", "ferplus_majority": "FER+ majority"}


def label_set_metrics(scores: np.ndarray, labels: np.ndarray, ferplus=None,
                      class_names=CLASS_NAMES) -> dict[str, dict]:
    """:func:`classification_metrics` of one split's scores against each label set it has.

    Args:
        scores: ``(n, k)`` scores of every row of the split.
        labels: the split's original FER2013 labels ``(n,)`` (already merged if the run merges).
        ferplus: the split's ``fer_keras.data.ferplus.FerPlusSplit``, or ``None``.

    Returns:
        ``{"fer2013": metrics}``, plus ``"ferplus_majority"`` (on the rows with a FER+ majority
        among the k classes; ``"excluded"`` counts the others) when ``ferplus`` is given.
    """
    out = {"fer2013": classification_metrics(labels, scores, class_names)}
    if ferplus is not None:
        keep = ferplus.majority >= 0
        out["ferplus_majority"] = {**classification_metrics(ferplus.majority[keep], scores[keep],
                                                            class_names),
                                   "excluded": int((~keep).sum())}
    return out


def own_label_set(label_set: str) -> str:
    """The key of :func:`label_set_metrics` a run trained on ``label_set`` is selected on."""
    return "fer2013" if label_set == "fer2013" else "ferplus_majority"


def plot_confusion_matrix(matrix, class_names=CLASS_NAMES, title: str = "") -> Figure:
    """Counts (left) and row-normalised rates (right, the diagonal is per-class recall)."""
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, values, fmt, name in ((axes[0], counts, "{:.0f}", "counts"),
                                  (axes[1], rates, "{:.2f}", "normalised by true class")):
        image = ax.imshow(values, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax, fraction=0.046)
        ax.set(xticks=range(len(class_names)), yticks=range(len(class_names)),
               xticklabels=class_names, yticklabels=class_names, xlabel="predicted",
               ylabel="true", title=name)
        ax.tick_params(axis="x", labelrotation=45)
        threshold = values.max() / 2 if values.size else 0
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                    color="white" if v > threshold else "black")
    if title:
        fig.suptitle(title)
    return fig


def plot_history(history: dict[str, list[float]], *, phase_starts=(), title: str = "") -> Figure:
    """Loss and accuracy curves, train vs validation, with dashed lines where a phase starts."""
    epochs = history.get("epoch") or list(range(len(next(iter(history.values()), []))))
    epochs = [e + 1 for e in epochs]
    metrics = [m for m in ("loss", "accuracy", "top2") if m in history]
    fig = Figure(figsize=(5 * max(len(metrics), 1), 4), layout="constrained")
    for ax, metric in zip(np.atleast_1d(fig.subplots(1, max(len(metrics), 1))), metrics):
        ax.plot(epochs, history[metric], label=f"train {metric}")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label=f"validation {metric}")
        for start in phase_starts:
            ax.axvline(start + 0.5, color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel="epoch", title=metric)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save ``fig`` atomically (format from the suffix)."""
    with _io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return Path(path)


def save_confusion_figure(matrix, path: str | os.PathLike, class_names=CLASS_NAMES,
                          title: str = "") -> Path:
    """Draw a confusion matrix (:func:`plot_confusion_matrix`) and save it atomically at ``path``.

    Example:
        >>> save_confusion_figure(metrics["confusion_matrix"], "run/confusion_PublicTest.png",
        ...                       title="PublicTest accuracy 0.712")  # doctest: +SKIP
    """
    return save_figure(plot_confusion_matrix(matrix, class_names, title=title), path)
