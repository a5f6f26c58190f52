"""The base config every training command starts from: a recipe, a config file, KEY=VALUE changes.

Every command that trains (train, compare, ensemble, search) takes its base config the same way:
``--recipe NAME`` (with ``--cpu`` for its CPU schedule), ``--config FILE`` (e.g. a run's
``config.json``) and ``--set KEY=VALUE`` (repeatable; VALUE is JSON when it parses, else a
string; ``model_options.KEY`` and ``augment.KEY`` set one entry), combined here by
:func:`base_config`. Later sources override earlier ones in that order.

Example:
    >>> base_config("cpu_fast", changes=["max_minutes=30", "model_options.dropout=0.3"])
    ...                                                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from fer_keras import _io
from fer_keras.training import recipes

__all__ = ["NESTED", "base_config", "merge", "parse_set"]

#: Sub-dict keys ``--set`` may reach into with a dot.
NESTED = ("model_options", "augment")


def parse_set(item: str) -> dict:
    """``"KEY=VALUE"`` → ``{KEY: VALUE}`` (``{"model_options": {K: V}}`` for a dotted key)."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set takes KEY=VALUE. Received: {item!r}")
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    outer, dot, inner = key.partition(".")
    if dot and outer not in NESTED:
        raise ValueError(f"--set {key}: only {', '.join(NESTED)} take a dotted KEY.")
    return {outer: {inner: value}} if dot else {key: value}


def base_config(recipe: str | None = None, *, cpu: bool = False,
                config: str | os.PathLike | None = None, changes: Iterable[str] = ()) -> dict:
    """The partial config of a recipe (its CPU schedule with ``cpu``), then a config JSON file,
    then ``KEY=VALUE`` changes (:func:`parse_set`), each overriding the ones before."""
    if cpu and recipe is None:
        raise ValueError("--cpu selects a recipe's CPU schedule; give --recipe NAME too.")
    result = recipes.recipe_config(recipe, cpu=cpu) if recipe is not None else {}
    if config is not None:
        result = merge(result, _io.read_json(config))
    for item in changes:
        result = merge(result, parse_set(item))
    return result


def merge(config: dict, changes: dict) -> dict:
    """``config`` updated by ``changes``, the :data:`NESTED` sub-dicts merged key by key."""
    merged = {**config, **changes}
    for key in NESTED:
        old, new = config.get(key), changes.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            merged[key] = {**old, **new}
    return merged
