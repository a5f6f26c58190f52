"""The flags every training command takes the same way (train, compare, ensemble, search).

:func:`add_config_options` adds ``--recipe NAME`` (with ``--cpu`` for its CPU schedule),
``--config FILE`` (e.g. a run's ``config.json``) and ``--set KEY=VALUE`` (repeatable); their
defaults stay out of the namespace, so :func:`base_config` reads back only what was given and
combines it with :func:`fer_keras.training.options.base_config`. :func:`add_arch` is the
architecture flag, ``--arch``, which ``--model`` (now always a trained model) used to be.

Example:
    $ fer-keras compare --recipe cpu_fast --set max_minutes=30 --set model_options.dropout=0.3
"""

from __future__ import annotations

import argparse
import json

from fer_keras.commands import _common as common
from fer_keras.models.names import ARCHITECTURES
from fer_keras.training import options, recipes

#: The note an old ``--model ARCH`` prints (``--arch`` names an architecture now).
ARCH_NOTE = "--model names a trained model now; use --arch for an architecture"


def add_config_options(p: argparse.ArgumentParser) -> None:
    """``--recipe``, ``--cpu``, ``--config``, ``--set``: the base config of a training command."""
    p.add_argument("--recipe", choices=recipes.list_recipes(), default=argparse.SUPPRESS,
                   help="start from a named recipe's settings (see fer_keras.training.recipes)")
    p.add_argument("--cpu", action="store_true", default=argparse.SUPPRESS,
                   help="with --recipe: its shorter CPU schedule")
    p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="a config JSON, e.g. a run's config.json to replay (overrides --recipe)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="set_items",
                   default=argparse.SUPPRESS, help="one config key, e.g. --set epochs=5 --set "
                   "model_options.dropout=0.3 (JSON values; overrides --config; repeatable)")


def base_config(args: argparse.Namespace) -> dict:
    """The partial config of ``--recipe``/``--cpu``, ``--config`` and ``--set`` (consumed)."""
    given = vars(args)
    return options.base_config(given.pop("recipe", None), cpu=given.pop("cpu", False),
                               config=given.pop("config", None),
                               changes=given.pop("set_items", []))


def add_arch(p: argparse.ArgumentParser, help: str, **kwargs) -> None:
    """``--arch NAME``: a built-in architecture; the old ``--model NAME`` still works, with
    :data:`ARCH_NOTE` on stderr."""
    p.add_argument("--arch", choices=ARCHITECTURES, help=help, **kwargs)
    common.add_renamed(p, "--model", "--arch", ARCH_NOTE, choices=ARCHITECTURES, **kwargs)


def json_object(text: str) -> dict:
    """An argparse type: a JSON object (``'{"filters": [8, 16]}'``), else one clear error."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{...}}. Received: {text!r}")
    return value
