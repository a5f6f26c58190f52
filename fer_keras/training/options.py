"""The training flags: the base config every training command takes the same way, and train's own.

Every command that trains (train, compare, ensemble, search) starts from one base config given the
same way — :func:`add_config_options`: ``--recipe NAME`` (with ``--cpu`` for its CPU schedule),
``--config FILE`` (e.g. a run's ``config.json``) and ``--set KEY=VALUE`` (repeatable; VALUE is
JSON when it parses, else a string; ``model_options.KEY`` and ``augment.KEY`` set one entry) —
read back by :func:`base_config`. Later sources override earlier ones in that order.

Example:
    $ fer-keras compare --recipe cpu_fast --set max_minutes=30 --set model_options.dropout=0.3
"""

from __future__ import annotations

import argparse
import json

from fer_keras import _io, cli
from fer_keras.data.ferplus import LABEL_SETS
from fer_keras.evaluation import tta
from fer_keras.models import heads, list_models
from fer_keras.models.schedules import SCHEDULES
from fer_keras.training import distribute, recipes
from fer_keras.training.config import DEFAULTS
from fer_keras.training.loop import OPTIMIZERS

#: Sub-dict keys ``--set`` may reach into with a dot.
NESTED = ("model_options", "augment")


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


def base_config(args: argparse.Namespace) -> dict:
    """The partial config of ``--recipe``/``--cpu``, ``--config`` and ``--set`` (consumed)."""
    given = vars(args)
    cpu = given.pop("cpu", False)
    if cpu and "recipe" not in given:
        raise ValueError("--cpu selects a recipe's CPU schedule; give --recipe NAME too.")
    config = recipes.recipe_config(given.pop("recipe"), cpu=cpu) if "recipe" in given else {}
    if "config" in given:
        config = merge(config, _io.read_json(given.pop("config")))
    for item in given.pop("set_items", []):
        config = merge(config, parse_set(item))
    return config


def merge(config: dict, changes: dict) -> dict:
    """``config`` updated by ``changes``, the :data:`NESTED` sub-dicts merged key by key."""
    merged = {**config, **changes}
    for key in NESTED:
        old, new = config.get(key), changes.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            merged[key] = {**old, **new}
    return merged


def build_parser() -> argparse.ArgumentParser:
    # Defaults stay out of the namespace (SUPPRESS) so that only flags actually given override a
    # --config file; the help texts state the defaults instead.
    p = cli.parser("train", "Train a registered model; every run writes its own directory.",
                   argument_default=argparse.SUPPRESS)
    d = DEFAULTS
    add_config_options(p)
    p.add_argument("--model", choices=list_models(), help=f"model (default {d['model']})")
    p.add_argument("--head", choices=heads.HEADS, help=f"classifier head (default {d['head']})")
    cli.add_data(p)
    cli.add_out(p, "the run directory", argparse.SUPPRESS, shown_default=d["out"])
    cli.add_seed(p, default=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, help=f"(phase-1) epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"default {d['batch_size']}")
    p.add_argument("--learning-rate", type=float, help=f"default {d['learning_rate']}")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d['optimizer']}")
    p.add_argument("--momentum", type=float, help=f"SGD's momentum (default {d['momentum']}; 0 "
                   "for Keras 2's plain SGD)")
    p.add_argument("--subset", type=float, help="stratified fraction of Training to use (1.0)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction,
                   help="flip/shift/rotate/zoom Training images (default on)")
    p.add_argument("--equalize", choices=["none", "hist", "clahe"], help="default none")
    p.add_argument("--class-weight", action=argparse.BooleanOptionalAction,
                   help="weight classes by inverse frequency (default off)")
    p.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                   help="mixed_bfloat16 (faster on CPUs with AVX512-BF16; default off)")
    p.add_argument("--schedule", choices=SCHEDULES, help="learning rate: halve on PublicTest "
                   "plateaus, constant, /10 at 50%% and 75%%, cosine decay to zero, or one-cycle "
                   "(warm-up then cosine) over the epochs (default plateau)")
    p.add_argument("--label-smoothing", type=float, help="softmax head (default 0)")
    p.add_argument("--weight-decay", type=float, help="decoupled weight decay (default: the "
                   "optimizer's own)")
    p.add_argument("--crop", type=int, help="train on random crops of this side, evaluate on "
                   "the center crop (default: whole 48x48 faces)")
    cli.add_tta(p, tta.TTA_MODES, "the reported PublicTest scores")
    p.add_argument("--merge-disgust", action=argparse.BooleanOptionalAction,
                   help="six classes: disgust counted as angry (default off)")
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                   help="compile train steps with XLA (default off)")
    p.add_argument("--early-stopping-patience", type=int, help="default "
                   f"{d['early_stopping_patience']}")
    p.add_argument("--reduce-lr-patience", type=int, help=f"default {d['reduce_lr_patience']}")
    p.add_argument("--fine-tune-epochs", type=int, help="phase-2 epochs for transfer models "
                   f"(default {d['fine_tune_epochs']})")
    p.add_argument("--fine-tune-learning-rate", type=float, help="phase-2 learning rate (default "
                   f"{d['fine_tune_learning_rate']})")
    p.add_argument("--weights", help="transfer models: imagenet, none or a weights file")
    p.add_argument("--model-options", type=json_object, help="builder options as a JSON "
                   "object, e.g. '{\"filters\": [32, 64, 128]}'")
    p.add_argument("--feature-layer", help=f"layer the SVC reads (default {d['feature_layer']})")
    p.add_argument("--svc-kind", choices=heads.SVC_KINDS, help=f"default {d['svc_kind']}")
    p.add_argument("--svc-kernel", choices=["rbf", "linear", "poly", "sigmoid"],
                   help=f"default {d['svc_kernel']}")
    p.add_argument("--svc-c", type=float, help=f"SVC C (default {d['svc_c']})")
    p.add_argument("--labels", choices=LABEL_SETS, help="what the network learns: FER2013's "
                   "labels, the FER+ majority, or the FER+ vote distribution (default "
                   f"{d['labels']})")
    p.add_argument("--ferplus", metavar="FILE", help="FER+ labels (fer2013new.csv; default: "
                   "beside the CSV); a run is also scored on their majority when found")
    p.add_argument("--teacher", metavar="MODEL", help="distil: also learn this softmax model's "
                   "probabilities of each Training face (a run directory, a .keras file, a "
                   "packaged name or an ensemble folder; see fer_keras.training.teacher)")
    p.add_argument("--teacher-temperature", type=float, help="softening of both sides' "
                   f"probabilities (default {d['teacher_temperature']})")
    p.add_argument("--teacher-weight", type=float, help="the teacher term's share of the loss, "
                   f"the label's being the rest (default {d['teacher_weight']})")
    cli.add_max_minutes(p)
    cli.add_verbose(p, default=argparse.SUPPRESS)
    p.add_argument("--strategy", choices=distribute.STRATEGIES, help="auto: every local GPU if "
                   "there are several, else one device; mirrored: every local GPU (or logical "
                   "CPU); multiworker: the machines in TF_CONFIG (default auto)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last "
                   "finished epoch, with its own config (takes no other flag)")
    return p


def json_object(text: str) -> dict:
    """An argparse type: a JSON object (``'{"filters": [8, 16]}'``), else one clear error."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{...}}. Received: {text!r}")
    return value


def config_from_args(args: argparse.Namespace) -> dict:
    """The config a parsed command line asks for (the base config, then the flags given)."""
    config = base_config(args)
    given = vars(args)
    if "equalize" in given:
        given["equalize"] = None if given["equalize"] == "none" else given["equalize"]
    options = {**config.get("model_options", {}), **given.pop("model_options", {})}
    if "weights" in given:
        weights = given.pop("weights")
        options["weights"] = None if weights.lower() == "none" else weights
    return {**config, **given, "model_options": options}
