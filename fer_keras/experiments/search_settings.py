"""The settings of an optimiser x schedule search: grid, learning rates, quick mode, configs.

Without Keras (a config is only checked, by :func:`make_settings`, when a search starts), so that
``fer-keras search --help`` states the defaults before TensorFlow loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from fer_keras.data import loading as data
from fer_keras.models.names import SCHEDULES
from fer_keras.training.config import DEFAULTS, OPTIMIZERS, resolve_config

DEFAULT_OPTIMIZERS = ("sgd", "sgd_nesterov", "adam", "adamw", "adagrad", "rmsprop")
DEFAULT_SCHEDULES = ("constant", "step", "plateau", "cosine", "onecycle")
#: Learning rate of each optimizer: the usual starting points (SGD with momentum 0.9 at 0.01, the
#: ``vgg_fer`` recipe's rate; the Adam family and RMSprop at Keras's 1e-3; Adagrad at 0.01, since
#: its effective rate only ever decays).
LEARNING_RATES = {"sgd": 0.01, "sgd_nesterov": 0.01, "adam": 1e-3, "adamw": 1e-3,
                  "adagrad": 0.01, "rmsprop": 1e-3}
DEFAULT_MODEL = "vgg_fer"
DEFAULT_EPOCHS = 20
#: ``--quick``: one epoch of a tiny model on a tenth of Training, for notebooks and tests.
QUICK_EPOCHS = 1
QUICK_SUBSET = 0.1
QUICK_MODEL_OPTIONS = {"vgg_fer": {"stackwise_num_filters": [8, 16], "fc_units": 32},
                       "shallow_cnn": {"filters": [8, 16], "dense_units": 16}}
COLUMNS = ("optimizer", "schedule", "learning_rate", "PublicTest_accuracy", "best_epoch",
           "epochs", "seconds", "status", "run_dir")


class SearchSettingsError(ValueError):
    """Settings that cannot run: an unknown name, a bad value, or another search's directory."""


def make_settings(model: str | None = None, optimizers=DEFAULT_OPTIMIZERS,
                  schedules=DEFAULT_SCHEDULES, *, epochs_per_trial: int | None = None,
                  minutes_per_trial: float | None = None, learning_rates: dict | None = None,
                  data_path=None, seed: int = 0, subset: float | None = None,
                  model_options: dict | None = None, config: dict | None = None,
                  quick: bool = False) -> dict:
    """The validated, JSON-ready settings of a search (see :func:`search` for the arguments).

    Raises:
        SearchSettingsError: an unknown optimizer, schedule, model, recipe or model option, a
            repeated name, or a learning rate that is not a positive number.
    """
    optimizers, schedules = _names(optimizers, OPTIMIZERS, "optimizer"), _names(
        schedules, SCHEDULES, "schedule")
    rates = {**LEARNING_RATES, **(learning_rates or {})}
    unknown = sorted(set(rates) - set(OPTIMIZERS))
    if unknown:
        raise SearchSettingsError(f"Unknown optimizer {unknown[0]!r} in the learning rates. "
                                  f"Accepted values: {', '.join(OPTIMIZERS)}.")
    for name, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise SearchSettingsError(f"The learning rate of {name} must be a positive number. "
                                      f"Received: {rate!r}")
    base = dict(config or {})
    model = model or base.get("model", DEFAULT_MODEL)
    options = {**(base.get("model_options") or {}),
               **(QUICK_MODEL_OPTIONS.get(model, {}) if quick else {}), **(model_options or {})}
    settings = {
        "model": model, "optimizers": optimizers, "schedules": schedules,
        "learning_rates": {name: float(rates[name]) for name in optimizers},
        "epochs_per_trial": (QUICK_EPOCHS if quick else DEFAULT_EPOCHS) if epochs_per_trial is None
        else epochs_per_trial,
        "minutes_per_trial": minutes_per_trial,
        "data": str(Path(data_path or data.default_data_path()).resolve()), "seed": seed,
        "subset": (QUICK_SUBSET if quick else 1.0) if subset is None else subset,
        "model_options": options,
        "base": base, "quick": quick}
    try:  # every trial's config must resolve before the first one trains
        for optimizer in optimizers:
            resolve_config(trial_config(settings, optimizer, schedules[0]))
    except ValueError as err:
        raise SearchSettingsError(str(err)) from None
    return json.loads(json.dumps(settings))  # as search.json holds it: lists, not tuples


def trial_config(settings: dict, optimizer: str, schedule: str, **overrides) -> dict:
    """The :func:`fer_keras.training.train.train` config of one trial of the search ``settings``."""
    base = settings.get("base") or {}
    epochs = settings["epochs_per_trial"]
    return {**base, "model": settings["model"], "data": settings["data"],
            "seed": settings["seed"], "subset": settings["subset"],
            "model_options": settings["model_options"], "epochs": epochs,
            "max_minutes": settings["minutes_per_trial"], "early_stopping_patience": epochs,
            "optimizer": optimizer, "schedule": schedule,
            # SGD trials keep the default momentum whatever the recipe says (vgg16_nin's is 0)
            "momentum": DEFAULTS["momentum"],
            "learning_rate": settings["learning_rates"][optimizer], **overrides}


def _names(names, accepted, kind) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if name not in accepted:
            raise SearchSettingsError(f"Unknown {kind} {name!r}. Accepted values: "
                                      f"{', '.join(accepted)}.")
    if not names or len(set(names)) < len(names):
        raise SearchSettingsError(f"Give each {kind} once, at least one. Received: {names}")
    return names


def default_name(settings: dict) -> str:
    """``search_<model>``, with ``_quick`` for a quick search."""
    return f"search_{settings['model']}" + ("_quick" if settings["quick"] else "")
