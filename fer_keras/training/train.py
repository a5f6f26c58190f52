"""Train a registered model with a softmax, L2-SVM or SVC head; every run writes its own directory.

``fer-keras train --arch shallow_cnn --head l2svm --epochs 30`` writes
``models/<model>_<head>_<timestamp>/``: ``config.json`` (resolved config and library versions; pass
it to ``--config`` to replay the run), ``summary.txt``, ``history.csv``, ``best.keras`` (the epoch
with the best PublicTest accuracy), ``svc_head.json``/``.npz`` for the SVC head, ``metrics.json``
and PublicTest ``confusion_matrix.png`` and ``training_curves.png``; its config and metrics are
written, and read back, through :mod:`fer_keras.evaluation.run_files`.

Model selection (checkpoint, early stopping, learning-rate schedule, the SVC's data) uses Training
and PublicTest only; PrivateTest is reported by ``fer-keras evaluate`` and never used
here.

Transfer models (those registered with ``fine_tune``, e.g. ``vgg16_transfer``) train in two phases:
phase 1 with the base frozen, phase 2 after ``fine_tune`` unfreezes the top block, recompiled at
``fine_tune_learning_rate`` and continued from the last epoch of phase 1.

A run killed at any moment continues from its last finished epoch with
``fer-keras train --resume RUN_DIR`` (:mod:`fer_keras.training.resume`); ``--strategy``
trains on several GPUs or machines (:mod:`fer_keras.training.distribute`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import keras
import numpy as np

from fer_keras import TRAIN_SPLIT, VAL_SPLIT
from fer_keras.data import loading as data
from fer_keras.data import pipeline
from fer_keras.data.ferplus import default_ferplus_path, ferplus_labels
from fer_keras.evaluation.metrics import (
    classification_metrics,
    label_set_metrics,
    own_label_set,
    plot_history,
    save_confusion_figure,
    save_figure,
)
from fer_keras.evaluation.packaged import resolve_model
from fer_keras.evaluation.run_dir import Run
from fer_keras.evaluation.run_files import (
    library_versions,
    make_run_dir,
    read_config,
    read_history,
    write_config,
    write_metrics,
)
from fer_keras.models import heads
from fer_keras.models.distillation import distillation_targets
from fer_keras.models.saving import load_model_file
from fer_keras.training import distribute
from fer_keras.training.config import DEFAULTS, META_KEYS, resolve_config  # noqa: F401
from fer_keras.training.loop import fit_phases, make_optimizer, network_head
from fer_keras.training.resume import RunBackup
from fer_keras.training.teacher import teacher_probabilities

__all__ = ["DEFAULTS", "fit_svc", "make_optimizer", "resolve_config", "resume", "train"]


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
    cfg, dataset, ferplus = _dataset(cfg, dataset)
    if cfg["teacher"]:
        resolve_model(cfg["teacher"])  # a teacher that is not there fails before the run exists
    worker = distribute.worker_index() if cfg["strategy"] == "multiworker" else 0
    # Every worker writes a whole run; the non-chief ones are marked so they never collide.
    run_dir = make_run_dir(cfg["out"], cfg["model"], cfg["head"],
                           f"_worker{worker}" if worker else "")
    return _run(cfg, {"run_dir": str(run_dir), "versions": library_versions()}, run_dir,
                (dataset, ferplus), strategy)


def resume(run_dir: str | os.PathLike, *, dataset: dict | None = None) -> Path:
    """Continue a killed or failed run from its last finished epoch; returns the run directory.

    The run's own ``config.json`` is used, and weights, optimizer state, learning-rate schedule,
    phase and callback state come from ``RUN_DIR/backup`` (see :mod:`fer_keras.training.resume`). A
    run
    killed before its first epoch ended starts again from epoch 0; a finished run is left as it is.

    Raises:
        FileNotFoundError: ``run_dir`` has no ``config.json``.
        ModelFileError: its ``config.json`` is not valid JSON, or a model file is damaged.
        RunBusyError: another process is training the run.
    """
    run_dir = Path(run_dir)
    saved = read_config(run_dir)
    if saved.get("status") == "finished":
        return run_dir
    cfg = resolve_config(saved)
    strategy = distribute.make_strategy(cfg["strategy"])
    meta = {k: saved[k] for k in ("run_dir", "versions", "resumes") if k in saved}
    meta["resumes"] = meta.get("resumes", 0) + 1
    cfg, dataset, ferplus = _dataset(cfg, dataset)
    return _run(cfg, meta, run_dir, (dataset, ferplus), strategy, resuming=True)


def _dataset(cfg, dataset):
    """(config with its data and FER+ paths filled in, the data, the FER+ labels of its splits
    when a FER+ file is given or lies beside the data, else ``None``)."""
    keras.utils.set_random_seed(cfg["seed"])
    if dataset is None:
        cfg = cfg.replace(data=str(cfg["data"] or data.default_data_path()))
        dataset = data.load_dataset(cfg["data"])
        # The FER+ file beside the data is found for data read here, never for data given (a
        # k-fold split of Training, say, whose rows are not the file's).
        if cfg["ferplus"] is None and default_ferplus_path(cfg["data"]) is not None:
            cfg = cfg.replace(ferplus=str(default_ferplus_path(cfg["data"])))
    if VAL_SPLIT not in dataset:
        raise ValueError(f"Model selection needs {VAL_SPLIT} rows; the data has only "
                         f"{', '.join(dataset)}.")
    # Before the run directory exists: a missing or mismatched FER+ file leaves nothing behind.
    ferplus = ferplus_labels(dataset, None, cfg["ferplus"],
                             required=cfg["labels"] != "fer2013",
                             merge_disgust=cfg["merge_disgust"], contempt=cfg["contempt"])
    return cfg, dataset, ferplus


def _run(cfg, meta, run_dir, data_and_ferplus, strategy, resuming=False) -> Path:
    split = _label_split(cfg, *data_and_ferplus)
    x_train, y_train = split["x_train"], split["y_train"]
    x_val, y_val = split["x_val"], split["y_val"]
    meta.update(status="running", replicas=strategy.num_replicas_in_sync,
                global_batch_size=cfg["batch_size"] * strategy.num_replicas_in_sync,
                data_sizes={"Training": int(len(y_train)), VAL_SPLIT: int(len(y_val))})
    if "excluded" in split:
        meta["ferplus_excluded"] = split["excluded"]
    backup = RunBackup(run_dir)
    with backup.lock():
        state = backup.load() if resuming else None
        if resuming:
            backup.restore_files(state)
        write_config(run_dir, {**cfg, **meta})
        previous_policy = keras.config.dtype_policy()
        try:
            targets = split["targets"]
            if cfg["teacher"]:
                targets, meta["teacher_info"] = _distillation_targets(cfg, run_dir, x_train,
                                                                      y_train, y_val)
                write_config(run_dir, {**cfg, **meta})
            if cfg["mixed_precision"]:
                keras.config.set_dtype_policy("mixed_bfloat16")
            phases, fit_seconds = fit_phases(cfg, run_dir, strategy, (x_train, targets[0]),
                                             (x_val, targets[1]), backup, state)
        except BaseException:
            write_config(run_dir, {**cfg, **meta, "status": "failed"})
            raise
        finally:
            keras.config.set_dtype_policy(previous_policy)
        _score(cfg, run_dir, phases, fit_seconds, (x_train, y_train), split)
        meta.update(status="finished", phases=phases, fit_seconds=round(fit_seconds, 1))
        write_config(run_dir, {**cfg, **meta})
        # After "finished" is on disk: a kill in between leaves a finished run and a stale backup.
        backup.clear()
    return run_dir


def _label_split(cfg, dataset, fp) -> dict:
    """Training and PublicTest images with the labels of the run's label set (``cfg["labels"]``).

    ``y_train``/``y_val`` are int labels (the SVC head's, the metrics'); ``targets`` what the
    network fits (``ferplus_votes`` on a softmax network: label and vote distribution, see
    ``fer_keras.models.distillation``); ``ferplus`` the FER+ labels of every split, when found.
    """
    merged, label_set = cfg["merge_disgust"], cfg["labels"]
    x_all, y_all = data.train_split(dataset)
    keep = data.subset(np.arange(len(y_all)), y_all, cfg["subset"], cfg["seed"])[0]
    x_val_all, y_val_all = dataset[VAL_SPLIT]
    if merged:
        y_all, y_val_all = data.merge_disgust(y_all), data.merge_disgust(y_val_all)
    out = {"x_val_all": x_val_all, "y_val_all": y_val_all, "ferplus": fp}
    if label_set == "fer2013":
        out.update(x_train=x_all[keep], y_train=y_all[keep], x_val=x_val_all, y_val=y_val_all)
        out["targets"] = (out["y_train"], y_val_all)
        return out
    fp_train, fp_val = fp[TRAIN_SPLIT], fp[VAL_SPLIT]
    rows = fp_train.rows(label_set)
    chosen = np.isin(rows, keep)
    soft = network_head(cfg["head"]) == "softmax"
    train_targets = fp_train.targets(label_set, y_all, soft=soft)[chosen]
    val_rows = fp_val.rows("ferplus_majority")
    y_val = fp_val.majority[val_rows]
    val_targets = (distillation_targets(y_val, fp_val.votes[val_rows]) if train_targets.ndim == 2
                   else y_val)
    out.update(x_train=x_all[rows[chosen]], x_val=x_val_all[val_rows], y_val=y_val,
               y_train=fp_train.targets(label_set, y_all, soft=False)[chosen],
               targets=(train_targets, val_targets), val_rows=val_rows,
               excluded={TRAIN_SPLIT: int(len(keep) - chosen.sum()),
                         VAL_SPLIT: int(len(y_val_all) - len(val_rows))})
    print(f"{label_set}: {out['excluded'][TRAIN_SPLIT]} Training and "
          f"{out['excluded'][VAL_SPLIT]} {VAL_SPLIT} faces have no FER+ label among the "
          f"{len(data.config_class_names(cfg))} classes and are left out", flush=True)
    return out


def _distillation_targets(cfg, run_dir, x_train, y_train, y_val):
    """((Training targets, PublicTest targets), teacher info) of a distilled run.

    PublicTest's soft part is its one-hot label: selection and the validation loss never see the
    teacher's view of the reported split.
    """
    probabilities, info = teacher_probabilities(cfg["teacher"], x_train,
                                                merge_disgust=cfg["merge_disgust"],
                                                contempt=cfg["contempt"],
                                                run_dir=run_dir)
    classes = probabilities.shape[1]
    print(f"{run_dir.name}: teacher {cfg['teacher']} ({info['tta']}) "
          + (f"scored Training in {info['seconds']} s" if info["source"] == "computed"
             else f"read from {info['source']}"), flush=True)
    return (distillation_targets(y_train, probabilities),
            distillation_targets(y_val, np.eye(classes, dtype=np.float32)[y_val])), info


def _score(cfg, run_dir, phases, fit_seconds, train_data, split):
    x_train, y_train = train_data
    names = data.config_class_names(cfg)
    model = load_model_file(run_dir / "best.keras", num_classes=len(names))

    def dataset(images):  # evaluation view: equalised like training, center-cropped if cropped
        return pipeline.make_dataset(images, batch_size=256, equalize=cfg["equalize"],
                                     crop=cfg["crop"])

    results = {"selection_split": VAL_SPLIT, "best_epoch": phases[-1]["best_epoch"],
               "fit_seconds": round(fit_seconds, 1), "tta": cfg["tta"], "labels": cfg["labels"]}
    svc = None
    if cfg["head"] == "svc":
        svc, results["svc_fit_seconds"] = fit_svc(model, dataset(x_train), y_train, cfg)
        heads.save_svc(svc, run_dir / "svc_head.json")
        results["network_" + VAL_SPLIT] = classification_metrics(
            split["y_val"], Run(run_dir, {**cfg}, model).scores(split["x_val"], tta="none"),
            names)

    run = Run(run_dir, {**cfg}, model, svc)  # scored as evaluate and predict score it
    ferplus = split["ferplus"][VAL_SPLIT] if split["ferplus"] else None
    own = own_label_set(cfg["labels"])
    for mode in dict.fromkeys((cfg["tta"], "none")):
        sets = label_set_metrics(run.scores(split["x_val_all"], tta=mode), split["y_val_all"],
                                 ferplus, names)
        key = VAL_SPLIT if mode == cfg["tta"] else f"{VAL_SPLIT}_tta-none"
        results[key] = sets[own]
        results[key + "_label_sets"] = sets
    write_metrics(run_dir, results)
    title = (f"{run_dir.name}: {VAL_SPLIT} accuracy {results[VAL_SPLIT]['accuracy']:.3f}"
             + ("" if own == "fer2013" else " (FER+ majority)"))
    save_confusion_figure(results[VAL_SPLIT]["confusion_matrix"], run_dir / "confusion_matrix.png",
                          names, title=title)
    save_figure(plot_history(read_history(run_dir),
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
