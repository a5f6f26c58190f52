"""The training config: one typed, validated object, and the one place every choice is checked.

:class:`TrainConfig` holds every setting of a ``fer_keras.train`` run with its default. It is
built from a partial dict (a recipe, a run's ``config.json``, ``--set`` overrides) by
:func:`resolve_config`, which checks every key, type and choice and names the accepted values in
its error. It reads like the dict it replaces (``cfg["epochs"]``, ``{**cfg}``), so a run's
``config.json`` is ``cfg.to_dict()`` plus run metadata, and replays through ``--config``.

It loads no Keras until a config is checked (the registry holds the architectures), so the
defaults and the names below come cheap: ``fer-keras train --help`` states them.

Example:
    >>> cfg = resolve_config({"epochs": 5}, schedule="onecycle")
    >>> cfg.epochs, cfg["schedule"]
    (5, 'onecycle')
    >>> cfg.replace(epochs=6).epochs
    6
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from fer_keras import IMAGE_SIZE
from fer_keras.data.ferplus import LABEL_SETS
from fer_keras.data.settings import DEFAULT_AUGMENT, EQUALIZE_METHODS
from fer_keras.evaluation.tta import TTA_MODES
from fer_keras.models import names

__all__ = ["CHOICES", "DEFAULTS", "META_KEYS", "OPTIMIZERS", "STRATEGIES", "TrainConfig",
           "resolve_config"]

#: Optimizers (:func:`fer_keras.training.loop.make_optimizer`).
OPTIMIZERS = ("adam", "adamw", "sgd", "sgd_nesterov", "adagrad", "rmsprop")
#: ``--strategy`` values (:func:`fer_keras.training.distribute.make_strategy`).
STRATEGIES = ("auto", "mirrored", "multiworker")

#: Keys ``config.json`` adds on top of the config; ignored when it is replayed.
META_KEYS = ("versions", "run_dir", "data_sizes", "phases", "status", "fit_seconds", "replicas",
             "global_batch_size", "resumes", "packaged_from", "teacher_info", "ferplus_excluded")

#: Every key whose value is a name, with the names it accepts.
CHOICES = {
    "head": names.HEADS, "optimizer": OPTIMIZERS, "svc_kind": names.SVC_KINDS,
    "svc_kernel": names.SVC_KERNELS, "equalize": EQUALIZE_METHODS, "schedule": names.SCHEDULES,
    "strategy": STRATEGIES, "tta": TTA_MODES, "labels": LABEL_SETS,
}


@dataclass(frozen=True, eq=True)
class TrainConfig(Mapping):
    """Every setting of one training run (see the train command's ``--help`` for each).

    Frozen: derive a changed config with :meth:`replace`. Validated on creation.
    """

    model: str = "shallow_cnn"
    head: str = "softmax"
    data: str | None = None
    out: str = "models"
    seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    subset: float = 1.0
    augment: bool | dict = True
    equalize: str | None = None
    class_weight: bool = False
    mixed_precision: bool = False
    schedule: str = "plateau"
    early_stopping_patience: int = 8
    reduce_lr_patience: int = 3
    reduce_lr_factor: float = 0.5
    min_learning_rate: float = 1e-6
    fine_tune_epochs: int = 10
    fine_tune_learning_rate: float = 1e-5
    model_options: dict = field(default_factory=dict)
    feature_layer: str = names.FEATURE_LAYER
    svc_kind: str = "svc"
    svc_kernel: str = "rbf"
    svc_c: float = 1.0
    max_minutes: float | None = None
    verbose: int = 2
    strategy: str = "auto"
    label_smoothing: float = 0.0
    weight_decay: float | None = None
    jit_compile: bool = False
    recipe: str | None = None
    crop: int | None = None
    tta: str = "none"
    merge_disgust: bool = False
    teacher: str | None = None
    teacher_temperature: float = 4.0
    teacher_weight: float = 0.9
    labels: str = "fer2013"
    contempt: bool = False
    ferplus: str | None = None

    def __post_init__(self):
        # The architectures are the registry's, users' included: Keras loads with it.
        from fer_keras.models.registry import get_spec, list_models

        for f in fields(self):
            object.__setattr__(self, f.name, _checked(f.name, f.type, getattr(self, f.name)))
        for key, choices in CHOICES.items():
            if self[key] not in choices:
                raise ValueError(f"Unknown {key} {self[key]!r}. Accepted values: "
                                 f"{', '.join(map(str, choices))}.")
        if self.model not in list_models():
            raise ValueError(f"Unknown model {self.model!r}. Accepted values: "
                             f"{', '.join(list_models())}.")
        for key, low, high in (("epochs", 1, None), ("batch_size", 1, None),
                               ("learning_rate", 0, None), ("momentum", 0, "1)"),
                               ("subset", 0, 1), ("label_smoothing", 0, "1)"),
                               ("reduce_lr_factor", 0, 1),
                               ("fine_tune_epochs", 0, None), ("max_minutes", 0, None),
                               ("crop", 8, IMAGE_SIZE), ("svc_c", 0, None),
                               ("teacher_temperature", 0.05, None), ("teacher_weight", 0, 1)):
            _in_range(key, self[key], low, high)
        if self.teacher is not None and self.head != "softmax":
            raise ValueError(f"A teacher distils into a softmax network (its probabilities are "
                             f"the targets). Received: head={self.head!r}, teacher="
                             f"{self.teacher!r}")
        if self.contempt and self.labels == "fer2013":
            raise ValueError("contempt is a FER+ class: FER2013's labels have none. Received: "
                             "contempt=True, labels='fer2013'; choose labels='ferplus_votes' "
                             "or 'ferplus_majority'.")
        if self.labels == "ferplus_votes" and self.teacher is not None:
            raise ValueError("A distilled run learns the teacher's probabilities beside one label "
                             "per face; with FER+ distil on labels='ferplus_majority'. Received: "
                             f"labels='ferplus_votes', teacher={self.teacher!r}")
        if self.labels == "ferplus_votes" and self.class_weight and self.head != "l2svm":
            raise ValueError("class_weight weighs integer labels; labels='ferplus_votes' trains "
                             "on vote distributions. Drop one of class_weight, ferplus_votes.")
        if self.teacher is not None and self.class_weight:
            raise ValueError("class_weight weighs integer labels; a distilled run's targets are "
                             "the teacher's probabilities. Drop one of teacher, class_weight.")
        accepted = set(inspect.signature(get_spec(self.model).builder).parameters) - {
            "input_shape", "num_classes", "head"}
        unknown = sorted(set(self.model_options) - accepted)
        if unknown:
            raise ValueError(f"Unknown model_options {unknown} for model {self.model!r}. "
                             f"Accepted options: {', '.join(sorted(accepted))}.")
        unknown = sorted(set(self.augment if isinstance(self.augment, dict) else ())
                         - set(DEFAULT_AUGMENT))
        if unknown:
            raise ValueError(f"Unknown augment keys {unknown}. Accepted keys: "
                             f"{', '.join(DEFAULT_AUGMENT)}.")

    # Mapping: the config reads like the dict it replaces, and ``{**cfg}`` is its JSON form.
    def __getitem__(self, key: str) -> Any:
        if key not in _NAMES:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)

    def __hash__(self):
        return hash(tuple(repr(self[k]) for k in _NAMES))

    def replace(self, **changes) -> TrainConfig:
        """A validated copy with ``changes``."""
        return resolve_config(self, **changes)

    def to_dict(self) -> dict:
        """A plain, JSON-ready dict (what ``config.json`` holds, less the run metadata)."""
        return {k: _plain(self[k]) for k in _NAMES}




def resolve_config(config: Mapping | None = None, **overrides) -> TrainConfig:
    """Defaults ← ``config`` ← ``overrides``, validated; a saved config's metadata keys dropped.

    Raises:
        ValueError: an unknown key, a value of the wrong type, a name not among the accepted
            ones (the message lists them) or a value out of range.
    """
    merged = {k: v for k, v in {**(config or {}), **overrides}.items() if k not in META_KEYS}
    unknown = sorted(set(merged) - set(_NAMES))
    if unknown:
        raise ValueError(f"Unknown config keys {unknown}. Accepted keys: {', '.join(_NAMES)}.")
    return TrainConfig(**merged)


def _checked(name: str, kind: str, value):
    """``value`` as the field's type (ints accepted for floats, paths as strings), else an error."""
    kinds = [k.strip() for k in str(kind).split("|")]
    if value is None and "None" in kinds:
        return None
    if name in ("data", "out", "teacher", "ferplus") and value is not None:
        return str(value)
    for k in kinds:
        if k == "bool" and isinstance(value, bool):
            return value
        if k == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if k == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if k == "str" and isinstance(value, str):
            return value
        if k == "dict" and isinstance(value, Mapping):
            return _plain(value)
    raise ValueError(f"config key {name} takes {' or '.join(kinds)}. Received: {name}={value!r}")


def _in_range(key, value, low, high):
    """``high`` is inclusive, or exclusive when written ``"1)"``."""
    if value is None:
        return
    open_high = isinstance(high, str)
    top = float(high.rstrip(")")) if open_high else high
    if value < low or (top is not None and (value >= top if open_high else value > top)):
        bounds = (f"at least {low}" if top is None else
                  f"in [{low}, {high}" if open_high else f"in [{low}, {top}]")
        raise ValueError(f"{key} must be {bounds}. Received: {key}={value!r}")


def _plain(value):
    """A JSON-ready copy: dicts and lists copied (a frozen config never shares them), tuples as
    lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_NAMES = tuple(f.name for f in fields(TrainConfig))
#: Every config key with its default (``TrainConfig().to_dict()``, read without building one).
DEFAULTS = {f.name: _plain(f.default_factory() if f.default is MISSING else f.default)
            for f in fields(TrainConfig)}
