"""The epoch loop of a training run: phases, callbacks, ``tf.distribute`` and resumption.

:func:`fit_phases` is what ``fer_keras.train`` runs between writing ``config.json`` and scoring the
best checkpoint. Transfer models (those registered with ``fine_tune``) train in two phases: phase 1
with the base frozen, phase 2 from the best phase-1 weights after ``fine_tune`` unfreezes the top
block, recompiled at ``fine_tune_learning_rate``; built with nothing frozen, they train in one.
Every epoch is committed to ``RUN_DIR/backup`` (:mod:`fer_keras.training.resume`), so a killed run
continues where it was, phase included.
"""

from __future__ import annotations

import time

import keras

from fer_keras import IMAGE_SIZE, _io
from fer_keras.data import loading as data
from fer_keras.data import pipeline
from fer_keras.evaluation.run_files import HISTORY_FILE
from fer_keras.models import build_model, get_spec, heads
from fer_keras.models.distillation import DistillationLoss, hard_label_metrics
from fer_keras.models.schedules import BudgetedSchedule, make_schedule
from fer_keras.training import distribute
from fer_keras.training.callbacks import (
    BestCheckpoint,
    TimeBudget,
    has_frozen_layers,
    trainable_layer_names,
)
from fer_keras.training.config import OPTIMIZERS
from fer_keras.training.resume import EpochBackup, RunBackup, callback_state, restore_callback


def make_optimizer(name: str, learning_rate, weight_decay: float | None = None,
                   momentum: float = 0.9) -> keras.optimizers.Optimizer:
    """A fresh optimizer (phase 2 needs its own: a new learning rate and new slot variables).

    ``name`` is one of :data:`OPTIMIZERS`: ``sgd`` (``momentum``, 0.9 by default),
    ``sgd_nesterov`` (Nesterov momentum ``momentum``), ``adam``, ``adamw``, ``adagrad``,
    ``rmsprop``. ``weight_decay`` is Keras's decoupled weight decay (``None``: the optimizer's
    default, which is 0.004 for AdamW and none for the others). ``momentum`` is SGD's only (Keras
    2's ``SGD(lr=...)`` had none: 0 reproduces a recipe written for it).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}. Accepted values: {OPTIMIZERS}.")
    kwargs = {} if weight_decay is None else {"weight_decay": weight_decay}
    if name in ("sgd", "sgd_nesterov"):
        return keras.optimizers.SGD(learning_rate, momentum=momentum,
                                    nesterov=name == "sgd_nesterov", **kwargs)
    return {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
            "adagrad": keras.optimizers.Adagrad,
            "rmsprop": keras.optimizers.RMSprop}[name](learning_rate, **kwargs)


def network_head(head: str) -> str:
    """The head the network is trained with: the SVC is fitted afterwards on a softmax network."""
    return "l2svm" if head == "l2svm" else "softmax"


class BudgetClock(keras.callbacks.Callback):
    """Tells a :class:`BudgetedSchedule` which fraction of the :class:`TimeBudget` is spent."""

    def __init__(self, schedule: BudgetedSchedule, budget: TimeBudget):
        super().__init__()
        self.schedule, self.budget = schedule, budget

    def on_train_batch_begin(self, batch, logs=None):
        # Training stops at the end of the last epoch that fits (see TimeBudget): aim the end of
        # the schedule at the start of the epoch that would not fit.
        horizon = self.budget.max_seconds - self.budget.longest_epoch
        horizon = horizon if horizon > 0 else self.budget.max_seconds
        self.schedule.time_fraction.assign(min(1.0, self.budget.spent / horizon))


class FitClock(keras.callbacks.Callback):
    """Adds ``fit_minutes`` (training time so far, resumed processes included) to the epoch logs,
    so ``history.csv`` gives accuracy against training time."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["fit_minutes"] = round(self.clock() / 60, 3)


def _compile(model, cfg, learning_rate, decay_steps, budget=None):
    """Compile for one phase; returns the extra callbacks the schedule needs."""
    schedule = make_schedule(cfg["schedule"], learning_rate, decay_steps)
    clocks = []
    if budget is not None and budget.max_seconds and not isinstance(schedule, float):
        schedule = BudgetedSchedule(schedule, decay_steps)
        clocks.append(BudgetClock(schedule, budget))
    optimizer = make_optimizer(cfg["optimizer"], schedule, cfg["weight_decay"],
                               cfg["momentum"])
    if cfg["teacher"]:
        loss = DistillationLoss(cfg["teacher_temperature"], cfg["teacher_weight"],
                                cfg["label_smoothing"])
        metrics = hard_label_metrics()
    elif cfg["labels"] == "ferplus_votes" and network_head(cfg["head"]) == "softmax":
        # The vote distribution as the target: KL(votes || model) at T = 1 is the cross-entropy
        # on soft labels less a constant (Barsoum et al. 2016's cross-entropy scheme); the
        # hard-label term, and with it label_smoothing, has no share.
        loss = DistillationLoss(temperature=1.0, weight=1.0)
        metrics = hard_label_metrics()
    else:
        loss = heads.head_loss(network_head(cfg["head"]), cfg["label_smoothing"])
        metrics = heads.head_metrics()
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                  jit_compile=cfg["jit_compile"])
    return clocks


def _phase_callbacks(cfg):
    # Recreated every phase: their counters belong to one phase (the checkpoint and the time
    # budget span the run).
    stopping = [keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                              patience=cfg["early_stopping_patience"])]
    if cfg["schedule"] == "plateau":
        stopping.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_accuracy", mode="max", factor=cfg["reduce_lr_factor"],
            patience=cfg["reduce_lr_patience"], min_lr=cfg["min_learning_rate"]))
    return stopping


def fit_phases(cfg, run_dir, strategy, train_data, val_data, backup: RunBackup,
               state: dict | None = None):
    """Train ``cfg["model"]`` phase by phase; returns ``(phase records, fit seconds)``.

    Args:
        cfg: resolved config.
        run_dir: the run directory (``best.keras``, ``history.csv``, ``summary.txt``).
        strategy: the ``tf.distribute`` strategy; the model is built and compiled in its scope.
        train_data, val_data: ``(images, labels)`` of Training (already subset) and PublicTest.
        backup: the run's backup, committed at every epoch end and phase boundary.
        state: the last committed state when resuming, else ``None``.
    """
    state = state or {}
    if state.get("fit_done"):
        return state["phases"], state["fit_seconds"]
    spec = get_spec(cfg["model"])
    global_batch = cfg["batch_size"] * strategy.num_replicas_in_sync
    with strategy.scope():
        side = cfg["crop"] or IMAGE_SIZE
        model = build_model(cfg["model"], input_shape=(side, side, 1),
                            num_classes=len(data.config_class_names(cfg)),
                            **cfg["model_options"], head=network_head(cfg["head"]))
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    _io.write_text(run_dir / "summary.txt", "\n".join(lines) + "\n")

    (x_train, y_train), (x_val, y_val) = train_data, val_data
    train_ds = distribute.shard(pipeline.make_dataset(
        x_train, y_train, batch_size=global_batch, training=True, seed=cfg["seed"],
        augment=cfg["augment"], equalize=cfg["equalize"], crop=cfg["crop"]))
    val_ds = distribute.shard(pipeline.make_dataset(x_val, y_val, batch_size=256,
                                                    equalize=cfg["equalize"], crop=cfg["crop"]))
    distribute.fix_multiworker_fit(model, strategy, train_ds)
    # shuffle=False: the pipeline already reshuffles every epoch with the run's seed.
    fit_kwargs = {"validation_data": val_ds, "verbose": cfg["verbose"], "shuffle": False,
                  "class_weight": data.class_weights(y_train) if cfg["class_weight"] else None}
    checkpoint = BestCheckpoint(run_dir / "best.keras")
    budget = TimeBudget(cfg["max_minutes"])
    for callback in (checkpoint, budget):
        restore_callback(callback, state.get("callbacks", {}).get(type(callback).__name__, {}))
    spent, start = state.get("fit_seconds", 0.0), time.perf_counter()

    def clock():
        return spent + time.perf_counter() - start

    replica_sync = [distribute.SyncReplicaStats(strategy)] if (
        strategy.num_replicas_in_sync > 1) else []
    plan = [(cfg["learning_rate"], cfg["epochs"])]
    # Phase 2 unfreezes what phase 1 kept frozen: a model built with nothing frozen (vgg16_nin
    # without pre-trained weights, trained from scratch) has one phase.
    if spec.fine_tune is not None and cfg["fine_tune_epochs"] > 0 and has_frozen_layers(model):
        plan.append((cfg["fine_tune_learning_rate"], cfg["fine_tune_epochs"]))

    phases, next_epoch = list(state.get("phases", [])), state.get("epoch", 0)
    for number, (learning_rate, epochs) in enumerate(plan, start=1):
        if number < state.get("phase", 1):
            continue
        resuming = state.get("phase") == number
        mid_phase = resuming and state.get("weights") is not None
        first = state["first_epoch"] if resuming else next_epoch
        with strategy.scope():
            if number > 1:
                if not mid_phase:
                    if budget.exhausted:
                        break
                    # Continue from the best phase-1 weights, not from where early stopping left.
                    model.load_weights(run_dir / "best.keras")
                spec.fine_tune(model)
            # The schedule runs on the clock only in one-phase runs: a budget shared by two
            # phases gives neither phase a known end.
            clocks = _compile(model, cfg, learning_rate,
                              epochs * pipeline.steps(len(y_train), global_batch),
                              budget if len(plan) == 1 else None)
            if mid_phase:
                backup.load_weights(model, state)
        if not (mid_phase and state["phase_done"]):
            stateful = [checkpoint, budget, *_phase_callbacks(cfg)]
            # Order matters: replicas agree before anything is saved; ReduceLROnPlateau adds
            # "learning_rate" to the logs before the CSV logger writes them; the backup is last.
            callbacks = [*replica_sync, *clocks, *stateful, FitClock(clock),
                         keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=True),
                         EpochBackup(backup, {"phase": number, "first_epoch": first,
                                              "last_epoch": first + epochs, "phases": phases},
                                     stateful, clock, restore=state if mid_phase else None)]
            history = model.fit(train_ds, initial_epoch=next_epoch, epochs=first + epochs,
                                callbacks=callbacks, **fit_kwargs)
            next_epoch = history.epoch[-1] + 1 if history.epoch else next_epoch
        phases.append({"phase": number, "first_epoch": first, "epochs_run": next_epoch - first,
                       "learning_rate": learning_rate,
                       "trainable_layers": trainable_layer_names(model),
                       "best_epoch": checkpoint.best_epoch,
                       "best_val_accuracy": checkpoint.best})
        state = {}
        backup.commit(_boundary(number + 1, next_epoch, phases, clock(), checkpoint, budget))
    backup.commit({**_boundary(len(plan) + 1, next_epoch, phases, clock(), checkpoint, budget),
                   "fit_done": True})
    return phases, clock()


def _boundary(phase, epoch, phases, seconds, *run_callbacks) -> dict:
    # Between phases only the run-wide callbacks carry state; the next phase starts from
    # best.keras, so there are no weights to save.
    return {"phase": phase, "first_epoch": epoch, "epoch": epoch, "phases": phases,
            "phase_done": False, "fit_seconds": round(seconds, 2),
            "callbacks": {type(c).__name__: callback_state(c) for c in run_callbacks}}
