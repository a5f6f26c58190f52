"""Resumable runs: what a run killed at any moment needs to continue from its last finished epoch.

At the end of every epoch :class:`EpochBackup` commits, into ``RUN_DIR/backup/``:

- ``epoch-NNNN.weights.h5``: the model's weights *and* the optimizer's variables (moments, step
  count, current learning rate), hence the learning-rate schedule too;
- a hard link to the best checkpoint as it is at that epoch (``best.keras``);
- ``state.json``, last: the phase, the next epoch, and the state of every callback that carries
  one between epochs (best value so far, early-stopping and plateau counters, time spent).

Each file is written atomically and ``state.json`` names the weights file of its own epoch, so a
kill between two writes leaves the previous epoch's backup whole. A resume restores that epoch
exactly: the history CSV is cut back to it (no duplicate rows) and ``best.keras`` is put back to
what it was (an epoch the kill discarded cannot be the best one).

Not restored: the position of the data pipeline's shuffling and augmentation streams, which
restart from the run's seed, so a resumed run sees other (equally random) batches than an
uninterrupted one would have.

Example:
    ``python -m fer_keras.train --resume models/shallow_cnn_softmax_20250101-120000``
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
from pathlib import Path
from typing import Iterator

import keras
import numpy as np

from fer_keras import _io
from fer_keras.evaluation.run_files import HISTORY_FILE

BACKUP_DIR = "backup"
STATE_FILE = "state.json"
FORMAT = "fer_keras.training.resume/1"
#: Callback attributes carried between epochs (on_train_begin resets them, so they are restored
#: after it). fer_keras's own callbacks list theirs in ``STATE``.
KERAS_STATE = {"EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
               "ReduceLROnPlateau": ("wait", "best", "cooldown_counter")}


def _plain(value):
    # numpy scalars from the logs → JSON numbers; ±inf is written as JSON's ±Infinity
    return value.item() if isinstance(value, np.generic) else value


def callback_state(callback) -> dict:
    """The attributes of ``callback`` to carry across a restart (empty if it has none)."""
    name = type(callback).__name__
    names = getattr(callback, "STATE", None) or KERAS_STATE.get(name, ())
    return {attr: _plain(getattr(callback, attr)) for attr in names}


def restore_callback(callback, state: dict) -> None:
    """Set the attributes :func:`callback_state` saved."""
    for attr, value in state.items():
        setattr(callback, attr, value)


class RunBusyError(RuntimeError):
    """The run directory is locked by a process still training it."""


class RunBackup:
    """The ``backup/`` folder of a run directory."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / BACKUP_DIR

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock so that two processes never train into the run at once.

        The operating system drops the lock when its process dies, even by ``kill -9``, so a killed
        run never leaves a stale lock. Without ``fcntl`` (Windows) nothing is locked.
        """
        try:
            import fcntl
        except ImportError:
            yield
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunBusyError(f"{self.run_dir}: another process is training this run"
                                   ) from None
            yield

    def load(self) -> dict | None:
        """The last committed state, or ``None`` if no epoch was committed."""
        path = self.dir / STATE_FILE
        if not path.is_file():
            return None
        state = _io.read_json(path)
        if state.get("format") != FORMAT:
            raise ValueError(f"{path}: not a fer_keras resume state")
        return state

    def commit(self, state: dict, model: keras.Model | None = None) -> None:
        """Atomically record ``state`` (and ``model``'s weights and optimizer, if given)."""
        self.dir.mkdir(exist_ok=True)
        state = {"format": FORMAT, **state, "weights": None}
        if model is not None:
            state["weights"] = f"epoch-{state['epoch']:04d}.weights.h5"
            with _io.atomic_path(self.dir / state["weights"]) as tmp:
                model.save_weights(tmp)
        best = self.run_dir / "best.keras"
        if best.is_file():
            _io.atomic_link(best, self.dir / "best.keras")
        _io.write_json(self.dir / STATE_FILE, state)
        for old in self.dir.glob("epoch-*.weights.h5"):
            if old.name != state["weights"]:
                old.unlink()

    def load_weights(self, model: keras.Model, state: dict) -> None:
        """Load the weights and optimizer variables ``state`` names into a compiled ``model``."""
        # The optimizer's variables only exist once it is built; unbuilt, Keras would skip them
        # with a warning and the moments and step count would silently restart from zero.
        model.optimizer.build(model.trainable_variables)
        model.load_weights(self.dir / state["weights"])

    def restore_files(self, state: dict | None) -> None:
        """Put the history CSV and ``best.keras`` back to the committed epoch."""
        next_epoch = state["epoch"] if state else 0
        _truncate_history(self.run_dir / HISTORY_FILE, next_epoch)
        best, saved = self.run_dir / "best.keras", self.dir / "best.keras"
        if saved.is_file():
            _io.atomic_link(saved, best)
        else:
            best.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _truncate_history(path: Path, next_epoch: int) -> None:
    # Rows of epochs after the last committed one belong to epochs that will run again; a row
    # cut short by the kill fails the parse and goes with them.
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        rows = [r for r in reader if _epoch(r) is not None and _epoch(r) < next_epoch
                and None not in r.values()]
    if not rows:
        path.unlink()
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    _io.write_text(path, out.getvalue())


def _epoch(row: dict) -> int | None:
    try:
        return int(row["epoch"])
    except (KeyError, TypeError, ValueError):
        return None


class EpochBackup(keras.callbacks.Callback):
    """Commit the run's state at each epoch end; put the callbacks' state back when resuming.

    Place it last in the callback list: it records what the others did during the epoch (the
    checkpoint, the history row, early stopping's decision), and restores their state after their
    own ``on_train_begin`` has reset it.

    Args:
        backup: the run's :class:`RunBackup`.
        phase: ``{"phase", "first_epoch", "last_epoch", "phases"}`` of the current phase
            (``last_epoch`` exclusive; ``phases``: records of the finished phases).
        callbacks: the callbacks whose state is saved, by class name.
        fit_seconds: returns the training time so far, including before any restart.
        restore: the committed state to restore on ``on_train_begin`` (``None``: a fresh phase).
    """

    def __init__(self, backup: RunBackup, phase: dict, callbacks, fit_seconds, restore=None):
        super().__init__()
        self.backup, self.phase, self.fit_seconds = backup, phase, fit_seconds
        self.tracked = {type(c).__name__: c for c in callbacks}
        self.restore = restore

    def on_train_begin(self, logs=None):
        for name, state in ((self.restore or {}).get("callbacks") or {}).items():
            if name in self.tracked:
                restore_callback(self.tracked[name], state)

    def on_epoch_end(self, epoch, logs=None):
        done = bool(self.model.stop_training) or epoch + 1 >= self.phase["last_epoch"]
        self.backup.commit({**self.phase, "epoch": epoch + 1, "phase_done": done,
                            "fit_seconds": round(self.fit_seconds(), 2),
                            "callbacks": {n: callback_state(c) for n, c in self.tracked.items()}},
                           self.model)

