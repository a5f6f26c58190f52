"""Several runs as one model: the mean of their probabilities, each over its own test-time views.

:func:`average_model` joins softmax runs into one Keras graph of whole 48x48 raw faces: every
member cuts and mirrors its own views inside the graph (:func:`~fer_keras.evaluation.tta.view_model`
with the member's TTA mode, e.g. ten 40-px crops for a crop network, the face and its mirror for a
whole-face one), and the graph returns the mean of the members' probabilities. Saved as
``best.keras`` in an ensemble folder with a ``config.json`` of :func:`ensemble_config`, it is a run
like any other: ``evaluate``, ``predict``, ``EmotionRecognizer``, ``export``, ``explain`` and
``train --teacher`` open it with ``load_run``.

Example:
    >>> model = average_model([load_run("a"), load_run("b")])  # doctest: +SKIP
    >>> model.input_shape
    (None, 48, 48, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from fer_keras import IMAGE_SIZE
from fer_keras.evaluation.run_dir import Run
from fer_keras.evaluation.tta import view_model

__all__ = ["EnsembleMemberError", "average_model", "ensemble_config"]


class EnsembleMemberError(ValueError):
    """A run that cannot join an averaged ensemble (message in one line, naming the run)."""


def average_model(runs: Sequence[Run], labels: Sequence[str] | None = None,
                  name: str = "ensemble") -> keras.Model:
    """One graph of whole raw faces returning the mean probabilities of ``runs``.

    Args:
        runs: softmax runs with the same classes and the same equalisation (done before the
            graph, as for every run).
        labels: one name per member (default ``member1``...), naming its sub-model.
        name: the model's name.

    Raises:
        EnsembleMemberError: a run with an SVC or score head, other classes or other
            equalisation than the first, or no runs.
    """
    runs = list(runs)
    labels = list(labels or [f"member{i}" for i in range(1, len(runs) + 1)])
    _check(runs, labels)
    faces = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    outputs = []
    for run, label in zip(runs, labels, strict=True):
        views = view_model(run.joined_model(), run.tta_mode())
        member = keras.Model(views.inputs[0], views.outputs[0], name=f"member_{label}")
        outputs.append(member(faces))
    mean = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="average")(outputs)
    return keras.Model(faces, mean, name=name)


def ensemble_config(runs: Sequence[Run], labels: Sequence[str], **extra) -> dict:
    """The ``config.json`` that makes an ensemble folder's ``best.keras`` a run.

    The views are inside the graph (``tta`` none, no crop); equalisation and classes are the
    members'. ``members`` lists each member's label, run directory and TTA mode.
    """
    first = runs[0].config
    return {"model": "ensemble", "head": "softmax", "kind": "ensemble", "tta": "none",
            "crop": None, "equalize": first.get("equalize"),
            "merge_disgust": bool(first.get("merge_disgust", False)),
            "contempt": bool(first.get("contempt", False)),
            "members": [{"label": label, "run_dir": str(run.run_dir), "tta": run.tta_mode()}
                        for run, label in zip(runs, labels, strict=True)],
            **extra}


def _check(runs, labels):
    if not runs:
        raise EnsembleMemberError("An ensemble needs at least one member.")
    if len(labels) != len(runs):
        raise EnsembleMemberError(f"{len(labels)} labels for {len(runs)} members.")
    first = runs[0]
    for run in runs:
        if not run.softmax:
            raise EnsembleMemberError(f"{run.run_dir}: members are averaged as probabilities; "
                                      "this run has an SVC or score head.")
        if run.class_names != first.class_names:
            raise EnsembleMemberError(f"{run.run_dir}: {len(run.class_names)} classes, the first "
                                      f"member {len(first.class_names)}.")
        if run.config.get("equalize") != first.config.get("equalize"):
            raise EnsembleMemberError(
                f"{run.run_dir}: equalize={run.config.get('equalize')!r}, the first member "
                f"{first.config.get('equalize')!r}; members share one preprocessing.")
