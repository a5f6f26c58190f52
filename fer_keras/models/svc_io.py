"""The SVC head on disk without pickle: a JSON file of classes and parameters, and an ``.npz``.

Loading a file can therefore not run code; :func:`load_svc` also accepts nothing but the pipeline
:func:`fer_keras.models.heads.make_svc` builds, so a tampered or foreign file is refused with one
line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import sklearn
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from fer_keras import _io

__all__ = ["load_svc", "save_svc"]

# Pickle-free persistence: an estimator is its class (from this allow-list), its constructor params
# and its fitted attributes, all of which are numbers, strings, tuples or arrays for these three
# classes. A saved head is exactly the pipeline make_svc builds: a scaler, then one SVM.
_ESTIMATORS = {cls.__name__: cls for cls in (StandardScaler, SVC, LinearSVC)}
_PIPELINE = (("scaler", ("StandardScaler",)), ("svc", ("SVC", "LinearSVC")))
_FORMAT = "fer_keras.svc/1"


def _encode(value, key: str, arrays: dict):
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"Cannot store object array {key!r} without pickle.")
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        return {"__dict__": {k: _encode(v, f"{key}.{k}", arrays) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Cannot store {key!r} of type {type(value).__name__} without pickle.")


def _decode(value, arrays):
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__tuple__" in value:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
    return value


def save_svc(pipeline: Pipeline, path: str | os.PathLike) -> Path:
    """Save a fitted :func:`make_svc` pipeline as ``path`` (JSON) plus the same name in ``.npz``.

    No pickle is involved, so loading a file cannot run code. Returns the JSON path.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    steps = []
    for step_name, est in pipeline.steps:
        cls = type(est).__name__
        if cls not in _ESTIMATORS:
            raise TypeError(f"save_svc supports {', '.join(_ESTIMATORS)}; got {cls}.")
        state = {k: _encode(v, f"{step_name}.{k}", arrays) for k, v in vars(est).items()}
        steps.append({"name": step_name, "class": cls, "state": state})
    meta = {"format": _FORMAT, "sklearn_version": sklearn.__version__, "steps": steps}
    with _io.atomic_path(path.with_suffix(".npz")) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    _io.write_text(path, json.dumps(meta, indent=1) + "\n")
    return path


def load_svc(path: str | os.PathLike) -> Pipeline:
    """Load a pipeline written by :func:`save_svc`, refusing anything else.

    Only ``StandardScaler`` followed by ``SVC`` or ``LinearSVC`` is accepted, attributes may not
    shadow a method or property, arrays are read with ``allow_pickle=False`` and the SVM's arrays
    must be consistent with each other (libsvm indexes them unchecked).

    Raises:
        ModelFileError: a missing, malformed, tampered or foreign file, in one line naming it.
    """
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError("not an SVC head saved by fer_keras.models.heads.save_svc")
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return Pipeline([_load_step(step, expected, arrays)
                         for step, expected in _zip_steps(meta.get("steps"))])
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        # json, np.load (pickled or truncated npz), a missing array key or a bad shape all end here
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _io.ModelFileError(f"{path}: cannot load the SVC head ({reason})") from None


def _zip_steps(steps):
    if not isinstance(steps, list) or len(steps) != len(_PIPELINE):
        raise ValueError("expected the steps " + " → ".join(n for n, _ in _PIPELINE))
    return zip(steps, _PIPELINE)


def _load_step(step: dict, expected, arrays) -> tuple[str, object]:
    name, classes = expected
    if step.get("name") != name or step.get("class") not in classes:
        raise ValueError(f"step {step.get('name')!r} of type {step.get('class')!r} refused; "
                         f"accepted: {name!r} of type {' or '.join(classes)}")
    cls = _ESTIMATORS[step["class"]]
    state = step.get("state")
    if not isinstance(state, dict):
        raise ValueError(f"step {name!r} has no state")
    for key in state:
        if not key.isidentifier() or key.startswith("__") or hasattr(cls, key):
            raise ValueError(f"attribute {key!r} refused for {cls.__name__}")
    est = cls()
    est.__dict__.update({k: _decode(v, arrays) for k, v in state.items()})
    if isinstance(est, SVC):
        _check_libsvm_arrays(est)
    return name, est


def _check_libsvm_arrays(svc: SVC) -> None:
    n_classes = len(svc.classes_)
    n_sv = np.sum(svc._n_support)
    shapes = {"support_vectors_": (n_sv, svc.shape_fit_[1]), "support_": (n_sv,),
              "_dual_coef_": (n_classes - 1, n_sv),
              "_intercept_": (n_classes * (n_classes - 1) // 2,), "_n_support": (n_classes,)}
    for attr, shape in shapes.items():
        value = getattr(svc, attr)
        if not isinstance(value, np.ndarray) or value.shape != tuple(int(s) for s in shape):
            raise ValueError(f"SVC array {attr} has shape {getattr(value, 'shape', None)}, "
                             f"expected {shape}")
    if svc.kernel not in ("linear", "poly", "rbf", "sigmoid"):
        raise ValueError(f"SVC kernel {svc.kernel!r} refused")
