"""The run-directory API: what a run directory holds and how to open one, name one, stamp one.

`Run`/`load_run` open a finished run (its config, network, frozen-feature head or SVC);
`make_run_dir` names a new one; `library_versions` is what every run records.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from sklearn.pipeline import Pipeline

from fer_keras import __version__, _io
from fer_keras.data import loading as data
from fer_keras.data import pipeline
from fer_keras.evaluation.tta import model_input_size, tta_scores
from fer_keras.models import heads
from fer_keras.models.saving import ModelFileError, load_model_file


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
        feature head) then scores the views of ``tta`` (one of
        :data:`~fer_keras.evaluation.tta.TTA_MODES`)
        at its own input side, and the scores are averaged
        (:func:`fer_keras.evaluation.tta.tta_scores`).
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
    raises :class:`~fer_keras.models.saving.ModelFileError` naming it.
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
