"""The training config: every key's default, the run metadata keys, and how a config is resolved."""

from __future__ import annotations

import inspect

from fer_keras.data import pipeline
from fer_keras.evaluation import tta
from fer_keras.models import get_spec, heads
from fer_keras.models.schedules import SCHEDULES
from fer_keras.training import distribute
from fer_keras.training.loop import OPTIMIZERS

#: Every config key with its default; ``--config`` files and ``train(config)`` may set any of them.
DEFAULTS = {
    "model": "shallow_cnn", "head": "softmax", "data": None, "out": "models", "seed": 0,
    "epochs": 30, "batch_size": 64, "learning_rate": 1e-3, "optimizer": "adam", "momentum": 0.9,
    "subset": 1.0, "augment": True, "equalize": None, "class_weight": False,
    "mixed_precision": False, "schedule": "plateau",
    "early_stopping_patience": 8, "reduce_lr_patience": 3, "reduce_lr_factor": 0.5,
    "min_learning_rate": 1e-6, "fine_tune_epochs": 10, "fine_tune_learning_rate": 1e-5,
    "model_options": {}, "feature_layer": heads.FEATURE_LAYER, "svc_kind": "svc",
    "svc_kernel": "rbf", "svc_c": 1.0, "max_minutes": None, "verbose": 2, "strategy": "auto",
    "label_smoothing": 0.0, "weight_decay": None, "jit_compile": False, "recipe": None,
    "crop": None, "tta": "none", "merge_disgust": False,
}
#: Keys ``config.json`` adds on top of the config; ignored when it is replayed.
META_KEYS = ("versions", "run_dir", "data_sizes", "phases", "status", "fit_seconds", "replicas",
             "global_batch_size", "resumes")


def resolve_config(config: dict | None = None, **overrides) -> dict:
    """Defaults ← ``config`` ← ``overrides``, validated; a saved config's metadata keys dropped."""
    merged = {k: v for k, v in {**(config or {}), **overrides}.items() if k not in META_KEYS}
    unknown = sorted(set(merged) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown config keys {unknown}. Accepted keys: {', '.join(DEFAULTS)}.")
    cfg = {**DEFAULTS, **merged, "model_options": dict(merged.get("model_options") or {})}
    cfg.update({k: str(cfg[k]) for k in ("data", "out") if cfg[k] is not None})  # paths → JSON
    accepted = set(inspect.signature(get_spec(cfg["model"]).builder).parameters) - {
        "input_shape", "num_classes", "head"}
    unknown = sorted(set(cfg["model_options"]) - accepted)
    if unknown:
        raise ValueError(f"Unknown options {unknown} for model {cfg['model']!r}. Accepted "
                         f"options: {', '.join(sorted(accepted))}.")
    for key, choices in (("head", heads.HEADS), ("optimizer", OPTIMIZERS),
                         ("svc_kind", heads.SVC_KINDS), ("equalize", pipeline.EQUALIZE_METHODS),
                         ("schedule", SCHEDULES), ("strategy", distribute.STRATEGIES),
                         ("tta", tta.TTA_MODES)):
        if cfg[key] not in choices:
            raise ValueError(f"Unknown {key} {cfg[key]!r}. Accepted values: {choices}.")
    if cfg["epochs"] < 1:
        raise ValueError(f"epochs must be at least 1. Received: epochs={cfg['epochs']}")
    if not 0 <= cfg["momentum"] < 1:
        raise ValueError(f"momentum must be in [0, 1). Received: momentum={cfg['momentum']}")
    return cfg
