"""A run directory's files, written and read in one place, without Keras.

Every kind of run writes its directory here: :func:`make_run_dir` names it, :func:`write_config`
and :func:`write_metrics` write ``config.json`` and ``metrics.json`` (train, compare's heads, a
family ensemble), each atomically (:func:`fer_keras._io.write_json`: a run killed at any moment
never leaves half a file) and in the format every run has had, so runs written before and the
models packaged in fer_keras read as they did. ``history.csv`` (:data:`HISTORY_FILE`) is the epoch
log Keras's ``CSVLogger`` keeps during training.

Everything that reads a run reads it through :class:`RunRecord` (:func:`read_run`): its config,
its metrics, its history, its classes and labels, without loading its model;
:class:`~fer_keras.evaluation.run_dir.Run` (:func:`~fer_keras.evaluation.run_dir.load_run`) is
the same record with its model loaded.

Example:
    >>> run = read_run("cpu_fast")  # doctest: +SKIP
    >>> run.metrics["PublicTest"]["accuracy"] > 0.6, run.class_names[:2], run.history
    (True, ('angry', 'disgust'), {})
"""

from __future__ import annotations

import csv
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_keras import __version__, _io
from fer_keras.data import loading as data
from fer_keras.evaluation.packaged import is_packaged, resolve_model
from fer_keras.evaluation.tta import check_mode
from fer_keras.models.names import FEATURE_LAYER

__all__ = ["CONFIG_FILE", "HISTORY_FILE", "METRICS_FILE", "RunRecord", "find_runs", "is_run",
           "library_versions", "make_run_dir", "read_config", "read_history", "read_metrics",
           "read_run", "write_config", "write_metrics"]

#: The resolved config and the run's metadata; ``--config RUN/config.json`` replays the run.
CONFIG_FILE = "config.json"
#: The scores the run reported when it was made (PublicTest, at its own and no TTA).
METRICS_FILE = "metrics.json"
#: One row per training epoch (Keras's ``CSVLogger``).
HISTORY_FILE = "history.csv"


@dataclass
class RunRecord:
    """What a run directory says of its run, read without loading its model.

    Attributes:
        run_dir: the run directory (for a ``.keras`` file: its folder).
        config: its ``config.json`` (``{}`` for a ``.keras`` file without one beside it).
    """

    run_dir: Path
    config: dict

    @property
    def metrics(self) -> dict:
        """The run's ``metrics.json`` (``{}`` for a run that has none, e.g. compare's heads)."""
        return read_metrics(self.run_dir)

    @property
    def history(self) -> dict[str, list[float]]:
        """The run's training history, ``{column: one value per epoch}`` (``{}`` for a run that
        did not train: a packaged model, an ensemble, a head fitted by ``compare``)."""
        return read_history(self.run_dir)

    @property
    def phase_starts(self) -> list[int]:
        """The first epoch of each training phase after the first (a transfer model's phase 2)."""
        return [phase["first_epoch"] for phase in (self.config.get("phases") or [])[1:]]

    @property
    def feature_layer(self) -> str:
        """The network layer an SVC or frozen-feature head reads."""
        return self.config.get("feature_layer", FEATURE_LAYER)

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
        return data.merge_disgust(labels) if self.merge_disgust else labels

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


def read_run(model: str | os.PathLike | None = None) -> RunRecord:
    """The record of a model a user names (:func:`~fer_keras.evaluation.packaged.resolve_model`):
    a run directory, a ``.keras`` file (with the ``config.json`` beside it, if any) or a packaged
    name; its model is not loaded.

    Raises:
        FileNotFoundError: no such model, or a folder without ``config.json``.
        ModelFileError: a damaged ``config.json`` (one line naming it).
    """
    path = resolve_model(model)
    if path.is_file():
        return RunRecord(path.parent, read_config(path.parent) if is_run(path.parent) else {})
    return RunRecord(path, read_config(path))


def read_config(run: str | os.PathLike) -> dict:
    """A run's ``config.json`` (``run``: the run directory, or the file itself).

    Raises:
        FileNotFoundError: there is none ("``run`` is not a run directory").
        ModelFileError: it is not valid JSON, or not an object (one line naming it).
    """
    path = _file(run, CONFIG_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent} is not a run directory (no {CONFIG_FILE}).")
    return _read_object(path, "a run config")


def read_metrics(run: str | os.PathLike) -> dict:
    """A run's ``metrics.json`` (``run``: the run directory, or the file); ``{}`` when it has
    none. A damaged one raises a one-line ``ModelFileError`` naming it."""
    path = _file(run, METRICS_FILE)
    return _read_object(path, "run metrics") if path.is_file() else {}


def read_history(run: str | os.PathLike) -> dict[str, list[float]]:
    """A run's ``history.csv`` (``run``: the run directory, or any ``CSVLogger`` file) as
    ``{column: values}``; ``{}`` when there is none."""
    path = _file(run, HISTORY_FILE)
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(r[key]) if r[key] not in ("", None) else float("nan") for r in rows]
            for key in (rows[0] if rows else {})}


def write_config(run_dir: str | os.PathLike, config) -> Path:
    """Write ``config`` (a dict or a ``TrainConfig`` with its metadata) as the run's
    ``config.json``, atomically; returns its path."""
    return _io.write_json(Path(run_dir) / CONFIG_FILE, dict(config))


def write_metrics(run_dir: str | os.PathLike, metrics: dict) -> Path:
    """Write ``metrics`` as the run's ``metrics.json``, atomically; returns its path."""
    return _io.write_json(Path(run_dir) / METRICS_FILE, metrics)


def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run directory (it holds a ``config.json``)."""
    return (Path(path) / CONFIG_FILE).is_file()


def find_runs(folder: str | os.PathLike, pattern: str = "*") -> list[Path]:
    """The run directories matching ``pattern`` under ``folder``, sorted by path (by time for
    the timestamped names of :func:`make_run_dir`)."""
    return sorted(path.parent for path in Path(folder).glob(f"{pattern}/{CONFIG_FILE}"))


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
    """Versions of Python, fer_keras and the libraries that change results, plus the machine
    (what every run's ``config.json`` records; Keras is loaded by then)."""
    import keras
    import matplotlib
    import sklearn
    import tensorflow

    return {"python": platform.python_version(), "fer_keras": __version__,
            "keras": keras.__version__, "keras_backend": keras.backend.backend(),
            "tensorflow": tensorflow.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "matplotlib": matplotlib.__version__,
            "platform": platform.platform(), "cpu_count": str(os.cpu_count())}


def _file(run: str | os.PathLike, name: str) -> Path:
    """``run`` itself when it names a file of ``name``'s kind, else ``run/name``."""
    path = Path(run)
    return path if path.suffix == Path(name).suffix and not path.is_dir() else path / name


def _read_object(path: Path, what: str) -> dict:
    try:
        value = _io.read_json(path)
    except ValueError as err:
        raise _io.ModelFileError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise _io.ModelFileError(f"{path}: not {what} (a JSON object)")
    return value
