"""The `train` command's flags, and how the flags a user gave override a config."""

from __future__ import annotations

import argparse
import json

from fer_keras import _io
from fer_keras.evaluation import tta
from fer_keras.models import heads, list_models
from fer_keras.models.schedules import SCHEDULES
from fer_keras.training import distribute, recipes
from fer_keras.training.config import DEFAULTS
from fer_keras.training.loop import OPTIMIZERS


def build_parser() -> argparse.ArgumentParser:
    # Defaults stay out of the namespace (SUPPRESS) so that only flags actually given override a
    # --config file; the help texts state the defaults instead.
    p = argparse.ArgumentParser(prog="python -m fer_keras.train",
                                description=__doc__.split("\n")[0],
                                argument_default=argparse.SUPPRESS)
    d = DEFAULTS
    p.add_argument("--config", help="a run's config.json to replay (flags given here override it)")
    p.add_argument("--recipe", choices=recipes.list_recipes(), help="start from a named recipe's "
                   "settings (see fer_keras.training.recipes); --config and flags override it")
    p.add_argument("--cpu", action="store_true", help="with --recipe: its shorter CPU schedule")
    p.add_argument("--model", choices=list_models(), help=f"model (default {d['model']})")
    p.add_argument("--head", choices=heads.HEADS, help=f"classifier head (default {d['head']})")
    p.add_argument("--data", help="FER2013 CSV (.csv/.csv.gz) or PNG tree (default "
                                  "dataset/fer2013.csv, else the embedded sample)")
    p.add_argument("--out", help=f"parent folder of the run directory (default {d['out']})")
    p.add_argument("--seed", type=int, help=f"seeds Python, NumPy, TF and the SVC ({d['seed']})")
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
    p.add_argument("--tta", choices=tta.TTA_MODES, help="test-time augmentation of the reported "
                   "PublicTest scores (default none)")
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
    p.add_argument("--model-options", type=json.loads, help="builder options as JSON, e.g. "
                   "'{\"filters\": [32, 64, 128]}'")
    p.add_argument("--feature-layer", help=f"layer the SVC reads (default {d['feature_layer']})")
    p.add_argument("--svc-kind", choices=heads.SVC_KINDS, help=f"default {d['svc_kind']}")
    p.add_argument("--svc-kernel", choices=["rbf", "linear", "poly", "sigmoid"],
                   help=f"default {d['svc_kernel']}")
    p.add_argument("--svc-c", type=float, help=f"SVC C (default {d['svc_c']})")
    p.add_argument("--max-minutes", type=float, help="stop training before this budget runs out")
    p.add_argument("--verbose", type=int, choices=[0, 1, 2], help="Keras fit verbosity (2)")
    p.add_argument("--strategy", choices=distribute.STRATEGIES, help="auto: every local GPU if "
                   "there are several, else one device; mirrored: every local GPU (or logical "
                   "CPU); multiworker: the machines in TF_CONFIG (default auto)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last "
                   "finished epoch, with its own config (takes no other flag)")
    return p


def config_from_args(args: argparse.Namespace) -> dict:
    """The config a parsed command line asks for (a ``--config`` file, then the flags given)."""
    given = vars(args)
    cpu = given.pop("cpu", False)
    if cpu and "recipe" not in given:
        raise ValueError("--cpu selects a recipe's CPU schedule; give --recipe NAME too.")
    config = recipes.recipe_config(given.pop("recipe"), cpu=cpu) if "recipe" in given else {}
    if "config" in given:
        config = {**config, **_io.read_json(given.pop("config"))}
    if "equalize" in given:
        given["equalize"] = None if given["equalize"] == "none" else given["equalize"]
    options = {**config.get("model_options", {}), **given.pop("model_options", {})}
    if "weights" in given:
        weights = given.pop("weights")
        options["weights"] = None if weights.lower() == "none" else weights
    return {**config, **given, "model_options": options}
