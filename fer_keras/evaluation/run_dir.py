"""The run-directory API: what a run directory holds and how to open one, name one, stamp one.

`fer_keras.evaluation.packaged.resolve_model` turns what a user names as a model (a run
directory, a ``.keras`` file or the NAME of a packaged model, e.g. ``cpu_fast``) into its path;
`Run`/`load_run` open it (its config, network, frozen-feature head or SVC); `make_run_dir` names
a new run; `library_versions` is what every run records.

Example:
    >>> run = load_run("cpu_fast")  # doctest: +SKIP
    >>> run.tta_mode(), run.packaged, run.output_dir() == Path.cwd()  # doctest: +SKIP
    ('tencrop', True, True)
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from sklearn.pipeline import Pipeline

from fer_keras import __version__, _io
from fer_keras.data import loading as data
from fer_keras.evaluation.packaged import is_packaged, resolve_model
from fer_keras.evaluation.predictor import Predictor
from fer_keras.evaluation.tta import check_mode
from fer_keras.models import heads
from fer_keras.models.saving import ModelFileError, load_model_file


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
class Run:
    """A trained run: its config, network and optional feature head, ready to score images.

    Attributes:
        run_dir: the run directory (for a ``.keras`` file: its folder).
        config: its ``config.json`` (``{}`` for a ``.keras`` file without one beside it).
        model: the network (``best.keras`` of the run, or of the run named by ``features_from``).
        svc: the fitted SVC pipeline of an ``svc`` run.
        feature_head: the Keras head of a frozen-feature ``l2svm`` run (``head.keras``).
    """

    run_dir: Path
    config: dict
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
    def feature_layer(self) -> str:
        """The network layer an SVC or frozen-feature head reads."""
        return self.config.get("feature_layer", heads.FEATURE_LAYER)

    @property
    def network_file(self) -> Path:
        """The network's ``best.keras``: the run's own, or that of the run its head was fitted on
        (``features_from``, the network of a ``compare`` head run)."""
        source = self.config.get("features_from")
        return (self.run_dir / source).resolve() / "best.keras" if source else (
            self.run_dir / "best.keras")

    @property
    def class_names(self) -> tuple[str, ...]:
        """The run's class names in score order: FER2013's seven, or six with ``merge_disgust``,
        then ``contempt`` for a run with FER+'s eighth class."""
        return data.config_class_names(self.config)

    @property
    def merge_disgust(self) -> bool:
        """Whether the run has six classes, disgust merged into angry."""
        return bool(self.config.get("merge_disgust", False))

    @property
    def contempt(self) -> bool:
        """Whether the run has FER+'s contempt as a class of its own (after the others)."""
        return bool(self.config.get("contempt", False))

    @property
    def label_set(self) -> str:
        """What the run learned from: ``fer2013``, ``ferplus_majority`` or ``ferplus_votes``."""
        return self.config.get("labels", "fer2013")

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """FER2013 ``labels`` as the run's classes (disgust merged into angry for a 6-class run)."""
        return data.merge_disgust(labels) if self.config.get("merge_disgust") else labels

    @property
    def softmax(self) -> bool:
        """Whether the run's scores are probabilities (a softmax network without another head)."""
        return self.svc is None and self.feature_head is None and outputs_softmax(self.model)

    @property
    def packaged(self) -> bool:
        """Whether this is a model packaged inside fer_keras (never written into)."""
        return is_packaged(self.run_dir)

    def output_dir(self) -> Path:
        """Where commands write by default: the run directory (a ``.keras`` file's folder), or
        the current folder for a packaged model, so nothing is written into the package."""
        return Path.cwd() if self.packaged else self.run_dir

    def data_path(self) -> str | None:
        """The data the run was trained on (``config["data"]``); ``None`` (the default data) for
        a packaged model, whose recorded path was the packager's."""
        return None if self.packaged else self.config.get("data")

    def tta_mode(self, mode: str | None = None) -> str:
        """``mode`` if given, else the run's own (``config["tta"]``), else ``"none"``; checked."""
        return check_mode(mode or self.config.get("tta") or "none")

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
    ``config.json`` beside it (if any) saying how it was trained. Models load with ``safe_mode``
    and the SVC head without pickle; a damaged or foreign file raises
    :class:`~fer_keras.models.saving.ModelFileError` naming it. ``compile=False`` leaves out the
    training state (loss, optimizer): what a graph built on the networks should hold.
    """
    path = resolve_model(model)
    if path.is_file():
        beside = path.with_name("config.json")
        config = read_config(beside) if beside.is_file() else {}
        return Run(path.parent, config, load_model_file(path, num_classes=_classes(config),
                                                        compile=compile))
    run_dir = path
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json).")
    config = read_config(run_dir / "config.json")
    network_dir = (run_dir / config["features_from"]).resolve() if config.get(
        "features_from") else run_dir
    if not (network_dir / "best.keras").is_file():
        raise FileNotFoundError(f"{network_dir / 'best.keras'} is missing; did the run finish?")
    model = load_model_file(network_dir / "best.keras", num_classes=_classes(config),
                            compile=compile)
    svc_file = run_dir / "svc_head.json"
    svc = heads.load_svc(svc_file) if svc_file.is_file() else None
    feature_head = (load_model_file(run_dir / "head.keras", num_classes=None, compile=compile)
                    if (run_dir / "head.keras").is_file() else None)
    return Run(run_dir, config, model, svc, feature_head)


def read_config(path: str | os.PathLike) -> dict:
    """A run's ``config.json``; a damaged one raises a one-line ``ModelFileError`` naming it."""
    path = Path(path)
    try:
        config = _io.read_json(path)
    except ValueError as err:
        raise ModelFileError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: not a run config (a JSON object)")
    return config


def _classes(config: dict) -> int:
    return len(data.config_class_names(config))


def make_run_dir(out: str | os.PathLike, model: str, head: str, suffix: str = "") -> Path:
    """Create ``out/<model>_<head>_<YYYYmmdd-HHMMSS><suffix>`` (``-2``, ``-3``… if taken)."""
    stem = f"{model}_{head}_{time.strftime('%Y%m%d-%H%M%S')}{suffix}"
    Path(out).mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        run_dir = Path(out) / (stem if n == 1 else f"{stem}-{n}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise FileExistsError(f"Too many runs named {stem} in {out}.")


def library_versions() -> dict[str, str]:
    """Versions of Python, fer_keras and the libraries that change results, plus the machine."""
    import matplotlib
    import numpy
    import sklearn
    import tensorflow

    return {"python": platform.python_version(), "fer_keras": __version__,
            "keras": keras.__version__, "keras_backend": keras.backend.backend(),
            "tensorflow": tensorflow.__version__, "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "matplotlib": matplotlib.__version__,
            "platform": platform.platform(), "cpu_count": str(os.cpu_count())}
