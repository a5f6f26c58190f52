"""A run with its model loaded: :class:`Run` and :func:`load_run`.

`fer_keras.evaluation.packaged.resolve_model` turns what a user names as a model (a run
directory, a ``.keras`` file or the NAME of a packaged model, e.g. ``cpu_fast``) into its path;
`load_run` opens it: its record (:class:`~fer_keras.evaluation.run_files.RunRecord`: config,
metrics, history, classes), network, frozen-feature head or SVC, and `Run.predictor` scores
with them. What a run directory holds, and every writer and reader of it, is
:mod:`fer_keras.evaluation.run_files`.

Example:
    >>> run = load_run("cpu_fast")  # doctest: +SKIP
    >>> run.tta_mode(), run.packaged, run.output_dir() == Path.cwd()  # doctest: +SKIP
    ('tencrop', True, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import keras
import numpy as np
from sklearn.pipeline import Pipeline

from fer_keras.evaluation.packaged import resolve_model
from fer_keras.evaluation.predictor import Predictor
from fer_keras.evaluation.run_files import RunRecord, read_run
from fer_keras.models import heads
from fer_keras.models.saving import load_model_file

__all__ = ["Run", "load_run", "outputs_softmax"]


def outputs_softmax(model: keras.Model) -> bool:
    """Whether ``model``'s output layer is a softmax (probabilities, not L2-SVM or raw scores).

    An averaged ensemble (``fer_keras.evaluation.averaging``) outputs probabilities when every
    member does; a model ending in a nested model when that one does.
    """
    last = model.layers[-1]
    if isinstance(last, keras.layers.Average):
        return all(outputs_softmax(m) for m in model.layers if isinstance(m, keras.Model))
    if isinstance(last, keras.Model):
        return outputs_softmax(last)
    return getattr(getattr(last, "activation", None), "__name__", "") == "softmax"


@dataclass
class Run(RunRecord):
    """A trained run: its record (config, metrics, history, classes) and its network and optional
    feature head, ready to score images.

    Attributes:
        run_dir: the run directory (for a ``.keras`` file: its folder).
        config: its ``config.json`` (``{}`` for a ``.keras`` file without one beside it).
        model: the network (``best.keras`` of the run, or of the run named by ``features_from``).
        svc: the fitted SVC pipeline of an ``svc`` run.
        feature_head: the Keras head of a frozen-feature ``l2svm`` run (``head.keras``).
    """

    model: keras.Model
    svc: Pipeline | None = None
    feature_head: keras.Model | None = None

    _predictors: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def predictor(self, tta: str | None = None, batch_size: int = 256) -> Predictor:
        """The run's one scorer (:class:`~fer_keras.evaluation.predictor.Predictor`) at ``tta``
        (default: the run's own mode), built once per mode and batch size."""
        key = (self.tta_mode(tta), batch_size)
        if key not in self._predictors:
            self._predictors[key] = Predictor(self, key[0], batch_size)
        return self._predictors[key]

    def scores(self, images: np.ndarray, batch_size: int = 256, tta: str | None = None
               ) -> np.ndarray:
        """Float32 scores ``(n, k)`` of raw uint8 faces ``(n, 48, 48)``, preprocessed as in
        training, averaged over the views of ``tta`` (default: the run's own mode): the scores
        every command reports (:meth:`predictor`)."""
        return self.predictor(tta, batch_size).scores(images)

    @property
    def softmax(self) -> bool:
        """Whether the run's scores are probabilities (a softmax network without another head)."""
        return self.svc is None and self.feature_head is None and outputs_softmax(self.model)

    def joined_model(self) -> keras.Model:
        """The run's network as one Keras graph, a frozen-feature head joined onto its features.

        The network itself when the run has no such head (softmax and end-to-end L2-SVM runs, and
        ``svc`` runs, whose scikit-learn SVC stays outside any graph). This is the model that
        ``explain`` differentiates, ``export`` writes and the recognizer runs.
        """
        if self.feature_head is None:
            return self.model
        features = self.model.get_layer(self.feature_layer).output
        return keras.Model(self.model.inputs, self.feature_head(features),
                           name=f"{self.model.name}_{self.feature_head.name}")


def load_run(model: str | os.PathLike | None = None, *, compile: bool = True) -> Run:
    """Open a model: a run directory, a ``.keras`` file or a packaged name (:func:`resolve_model`).

    A run directory written by ``fer_keras.train`` or ``fer_keras.compare`` brings its config and
    its SVC or frozen-feature head; a ``.keras`` file is the network alone, with the
    ``config.json`` beside it (if any) saying how it was trained (:func:`read_run`). Models load
    with ``safe_mode`` and the SVC head without pickle; a damaged or foreign file raises
    :class:`~fer_keras.models.saving.ModelFileError` naming it. ``compile=False`` leaves out the
    training state (loss, optimizer): what a graph built on the networks should hold.
    """
    path = resolve_model(model)
    record = read_run(path)
    classes = len(record.class_names)
    if path.is_file():
        return Run(record.run_dir, record.config,
                   load_model_file(path, num_classes=classes, compile=compile))
    run_dir, network = record.run_dir, record.network_file
    if not network.is_file():
        raise FileNotFoundError(f"{network} is missing; did the run finish?")
    model = load_model_file(network, num_classes=classes, compile=compile)
    svc_file = run_dir / "svc_head.json"
    svc = heads.load_svc(svc_file) if svc_file.is_file() else None
    feature_head = (load_model_file(run_dir / "head.keras", num_classes=None, compile=compile)
                    if (run_dir / "head.keras").is_file() else None)
    return Run(run_dir, record.config, model, svc, feature_head)
