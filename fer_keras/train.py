"""Train a registered model with a softmax, L2-SVM or SVC head; every run writes its own directory.

``python -m fer_keras.train --model shallow_cnn --head l2svm --epochs 30`` writes
``models/<model>_<head>_<timestamp>/``: ``config.json`` (resolved config and library versions; pass
it to ``--config`` to replay the run), ``summary.txt``, ``history.csv``, ``best.keras`` (the epoch
with the best PublicTest accuracy), ``svc_head.json``/``.npz`` for the SVC head, ``metrics.json``
and PublicTest ``confusion_matrix.png`` and ``training_curves.png``.

Model selection (checkpoint, early stopping, learning-rate schedule, the SVC's data) uses Training
and PublicTest only; PrivateTest is reported by ``python -m fer_keras.evaluate`` and never used
here.

Transfer models (those registered with ``fine_tune``, e.g. ``vgg16_transfer``) train in two phases:
phase 1 with the base frozen, phase 2 after ``fine_tune`` unfreezes the top block, recompiled at
``fine_tune_learning_rate`` and continued from the last epoch of phase 1.

A run killed at any moment continues from its last finished epoch with
``python -m fer_keras.train --resume RUN_DIR`` (:mod:`fer_keras.resume`); ``--strategy`` trains on
several GPUs or machines (:mod:`fer_keras.distribute`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from pathlib import Path

import keras

from fer_keras import VAL_SPLIT, _io, data, distribute, heads, pipeline, recipes, tta
from fer_keras.fitting import OPTIMIZERS, fit_phases, make_optimizer
from fer_keras.metrics import (
    classification_metrics,
    plot_confusion_matrix,
    plot_history,
    read_history,
    save_figure,
)
from fer_keras.models import get_spec, list_models
from fer_keras.resume import RunBackup, RunBusyError
from fer_keras.runs import library_versions, make_run_dir
from fer_keras.saving import ModelFileError, load_model_file
from fer_keras.schedules import SCHEDULES

__all__ = ["DEFAULTS", "build_parser", "config_from_args", "fit_svc", "main", "make_optimizer",
           "resolve_config", "resume", "train"]

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


def train(config: dict | None = None, *, dataset: dict | None = None, **overrides) -> Path:
    """Train as ``config`` says (see :data:`DEFAULTS`) and return the run directory.

    Args:
        config: config dict, e.g. a run's ``config.json`` to replay it.
        dataset: already loaded ``load_dataset`` output (skips reading ``config["data"]``).
        **overrides: config keys overriding ``config``.

    Example:
        >>> run_dir = train(model="shallow_cnn", head="svc", epochs=5, subset=0.1)
    """
    cfg = resolve_config(config, **overrides)
    # First: MultiWorkerMirroredStrategy must configure TensorFlow before anything else uses it.
    strategy = distribute.make_strategy(cfg["strategy"])
    dataset = _dataset(cfg, dataset)
    worker = distribute.worker_index() if cfg["strategy"] == "multiworker" else 0
    # Every worker writes a whole run; the non-chief ones are marked so they never collide.
    run_dir = make_run_dir(cfg["out"], cfg["model"], cfg["head"],
                           f"_worker{worker}" if worker else "")
    return _run(cfg, {"run_dir": str(run_dir), "versions": library_versions()}, run_dir, dataset,
                strategy)


def resume(run_dir: str | os.PathLike, *, dataset: dict | None = None) -> Path:
    """Continue a killed or failed run from its last finished epoch; returns the run directory.

    The run's own ``config.json`` is used, and weights, optimizer state, learning-rate schedule,
    phase and callback state come from ``RUN_DIR/backup`` (see :mod:`fer_keras.resume`). A run
    killed before its first epoch ended starts again from epoch 0; a finished run is left as it is.

    Raises:
        FileNotFoundError: ``run_dir`` has no ``config.json``.
        ModelFileError: its ``config.json`` is not valid JSON, or a model file is damaged.
        RunBusyError: another process is training the run.
    """
    run_dir = Path(run_dir)
    saved = _saved_config(run_dir)
    if saved.get("status") == "finished":
        return run_dir
    cfg = resolve_config(saved)
    strategy = distribute.make_strategy(cfg["strategy"])
    meta = {k: saved[k] for k in ("run_dir", "versions", "resumes") if k in saved}
    meta["resumes"] = meta.get("resumes", 0) + 1
    return _run(cfg, meta, run_dir, _dataset(cfg, dataset), strategy, resuming=True)


def _dataset(cfg, dataset):
    keras.utils.set_random_seed(cfg["seed"])
    if dataset is None:
        cfg["data"] = str(cfg["data"] or data.default_data_path())
        dataset = data.load_dataset(cfg["data"])
    if VAL_SPLIT not in dataset:
        raise ValueError(f"Model selection needs {VAL_SPLIT} rows; the data has only "
                         f"{', '.join(dataset)}.")
    return dataset


def _run(cfg, meta, run_dir, dataset, strategy, resuming=False) -> Path:
    x_train, y_train = data.subset(*data.train_split(dataset), cfg["subset"], cfg["seed"])
    x_val, y_val = dataset[VAL_SPLIT]
    if cfg["merge_disgust"]:
        y_train, y_val = data.merge_disgust(y_train), data.merge_disgust(y_val)
    meta.update(status="running", replicas=strategy.num_replicas_in_sync,
                global_batch_size=cfg["batch_size"] * strategy.num_replicas_in_sync,
                data_sizes={"Training": int(len(y_train)), VAL_SPLIT: int(len(y_val))})
    backup = RunBackup(run_dir)
    with backup.lock():
        state = backup.load() if resuming else None
        if resuming:
            backup.restore_files(state)
        _io.write_json(run_dir / "config.json", {**cfg, **meta})
        previous_policy = keras.config.dtype_policy()
        if cfg["mixed_precision"]:
            keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            phases, fit_seconds = fit_phases(cfg, run_dir, strategy, (x_train, y_train),
                                             (x_val, y_val), backup, state)
        except BaseException:
            _io.write_json(run_dir / "config.json", {**cfg, **meta, "status": "failed"})
            raise
        finally:
            keras.config.set_dtype_policy(previous_policy)
        _score(cfg, run_dir, phases, fit_seconds, (x_train, y_train), (x_val, y_val))
        meta.update(status="finished", phases=phases, fit_seconds=round(fit_seconds, 1))
        _io.write_json(run_dir / "config.json", {**cfg, **meta})
        # After "finished" is on disk: a kill in between leaves a finished run and a stale backup.
        backup.clear()
    return run_dir


def _score(cfg, run_dir, phases, fit_seconds, train_data, val_data):
    (x_train, y_train), (x_val, y_val) = train_data, val_data
    names = data.class_names(cfg["merge_disgust"])
    model = load_model_file(run_dir / "best.keras", num_classes=len(names))

    def dataset(images):  # evaluation view: equalised like training, center-cropped if cropped
        return pipeline.make_dataset(images, batch_size=256, equalize=cfg["equalize"],
                                     crop=cfg["crop"])

    results = {"selection_split": VAL_SPLIT, "best_epoch": phases[-1]["best_epoch"],
               "fit_seconds": round(fit_seconds, 1), "tta": cfg["tta"]}
    svc = None
    if cfg["head"] == "svc":
        svc, results["svc_fit_seconds"] = fit_svc(model, dataset(x_train), y_train, cfg)
        heads.save_svc(svc, run_dir / "svc_head.json")
        results["network_" + VAL_SPLIT] = classification_metrics(
            y_val, model.predict(dataset(x_val), verbose=0), names)

    def score(views):  # TTA views are already cropped to the model's input
        return heads.predict_scores(model, pipeline.make_dataset(views, batch_size=256), svc=svc,
                                    feature_layer=cfg["feature_layer"])

    equalized = pipeline.equalize_images(x_val, cfg["equalize"])
    size = tta.model_input_size(model)
    results[VAL_SPLIT] = classification_metrics(y_val, tta.tta_scores(score, equalized, cfg["tta"],
                                                                      size), names)
    if cfg["tta"] != "none":
        results[f"{VAL_SPLIT}_tta-none"] = classification_metrics(
            y_val, tta.tta_scores(score, equalized, "none", size), names)
    _io.write_json(run_dir / "metrics.json", results)
    title = f"{run_dir.name}: {VAL_SPLIT} accuracy {results[VAL_SPLIT]['accuracy']:.3f}"
    save_figure(plot_confusion_matrix(results[VAL_SPLIT]["confusion_matrix"], names, title=title),
                run_dir / "confusion_matrix.png")
    save_figure(plot_history(read_history(run_dir / "history.csv"),
                             phase_starts=[p["first_epoch"] for p in phases[1:]],
                             title=run_dir.name), run_dir / "training_curves.png")


def fit_svc(model, train_data, labels, cfg: dict):
    """Fit the configured SVC on ``model``'s ``feature_layer``; returns (pipeline, seconds)."""
    features = heads.extract_features(model, train_data, cfg["feature_layer"])
    svc = heads.make_svc(cfg["svc_kind"], kernel=cfg["svc_kernel"], C=cfg["svc_c"],
                         random_state=cfg["seed"])
    start = time.perf_counter()
    svc.fit(features, labels)
    return svc, round(time.perf_counter() - start, 2)


def notebook_run(out, data_path, *, quick: bool, seed: int = 0, quick_epochs: int = 2) -> Path:
    """A shallow-CNN softmax run for the notebooks to show: tiny and fresh in quick mode, else the
    newest finished one under ``out``, else a new one (30 epochs, at most 20 minutes)."""
    if quick:
        return train(model="shallow_cnn", data=str(data_path), out=str(out), epochs=quick_epochs,
                     seed=seed, model_options={"filters": [16, 32, 64], "dense_units": 64},
                     verbose=0)
    runs = sorted(Path(out).glob("shallow_cnn_softmax_*/best.keras"))
    if runs:
        return runs[-1].parent
    return train(model="shallow_cnn", data=str(data_path), out=str(out), epochs=30, seed=seed,
                 max_minutes=20, verbose=0)


def build_parser() -> argparse.ArgumentParser:
    # Defaults stay out of the namespace (SUPPRESS) so that only flags actually given override a
    # --config file; the help texts state the defaults instead.
    p = argparse.ArgumentParser(prog="python -m fer_keras.train",
                                description=__doc__.split("\n")[0],
                                argument_default=argparse.SUPPRESS)
    d = DEFAULTS
    p.add_argument("--config", help="a run's config.json to replay (flags given here override it)")
    p.add_argument("--recipe", choices=recipes.list_recipes(), help="start from a named recipe's "
                   "settings (see fer_keras.recipes); --config and flags override it")
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if "resume" not in args:
        try:
            config = config_from_args(args)
        except ValueError as err:
            parser.error(str(err))
        return _report(train(config))
    run_dir, others = Path(args.resume), sorted(set(vars(args)) - {"resume"})
    if others:
        parser.error(f"--resume continues the run with its own config.json; drop --"
                     f"{', --'.join(o.replace('_', '-') for o in others)}")
    try:
        status = _saved_config(run_dir).get("status")
        if status == "finished":
            print(f"{run_dir}: already finished; nothing to resume")
            return _report(run_dir)
        return _report(resume(run_dir))
    except (FileNotFoundError, ModelFileError, RunBusyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _saved_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json).")
    try:
        return _io.read_json(path)
    except ValueError as err:
        raise ModelFileError(f"{path}: not valid JSON ({err})") from None


def _report(run_dir: Path) -> int:
    metrics = _io.read_json(run_dir / "metrics.json")
    print(f"{run_dir}: {VAL_SPLIT} accuracy {metrics[VAL_SPLIT]['accuracy']:.4f} "
          f"(best epoch {metrics['best_epoch'] + 1})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
