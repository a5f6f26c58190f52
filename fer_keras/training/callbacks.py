"""Training callbacks (the best checkpoint, the time budget) and which layers of a model train."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import keras

from fer_keras import _io


def has_frozen_layers(model: keras.Model) -> bool:
    """Whether some layer with weights (nested models included) is frozen (``trainable=False``)."""
    return any((layer.weights and not layer.trainable) or
               (isinstance(layer, keras.Model) and has_frozen_layers(layer))
               for layer in model.layers)


def trainable_layer_names(model: keras.Model) -> list[str]:
    """Names of layers with trainable weights, nested models flattened (``vgg16/block5_conv1``)."""
    names = []
    for layer in model.layers:
        if not layer.trainable_weights:
            continue
        if isinstance(layer, keras.Model):
            names += [f"{layer.name}/{name}" for name in trainable_layer_names(layer)]
        else:
            names.append(layer.name)
    return names


class BestCheckpoint(keras.callbacks.Callback):
    """Save the model whenever ``monitor`` improves, atomically (unlike ``ModelCheckpoint``).

    One instance spans both phases of transfer training, so phase 2 only overwrites the checkpoint
    when it beats the best phase-1 epoch.

    Attributes:
        best: best value seen; ``best_epoch``: its (0-based) epoch.
    """

    #: What a resumed run restores (see :mod:`fer_keras.training.resume`).
    STATE = ("best", "best_epoch")

    def __init__(self, path: str | os.PathLike, monitor: str = "val_accuracy"):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        self.best, self.best_epoch = -math.inf, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(f"BestCheckpoint monitors {self.monitor!r}, absent from the logs "
                           f"{sorted(logs or {})}; is validation data passed to fit()?")
        if value > self.best:
            self.best, self.best_epoch = float(value), int(epoch)
            with _io.atomic_path(self.path) as tmp:
                self.model.save(tmp)


class TimeBudget(keras.callbacks.Callback):
    """Stop training when the next epoch would end after ``max_minutes`` (``None``: no limit).

    The clock starts when the callback is created and spans every ``fit`` it is passed to; a
    resumed run sets ``spent`` to the time its earlier processes trained.
    """

    #: What a resumed run restores (see :mod:`fer_keras.training.resume`).
    STATE = ("spent", "longest_epoch", "exhausted")

    def __init__(self, max_minutes: float | None):
        super().__init__()
        self.max_seconds = None if max_minutes is None else 60 * max_minutes
        self._start = time.monotonic()
        self.longest_epoch = 0.0
        self.exhausted = False

    @property
    def spent(self) -> float:
        """Seconds since the budget started."""
        return time.monotonic() - self._start

    @spent.setter
    def spent(self, seconds: float):
        self._start = time.monotonic() - seconds

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self.longest_epoch = max(self.longest_epoch, time.monotonic() - self._epoch_start)
        if self.max_seconds is not None and self.spent + self.longest_epoch > self.max_seconds:
            self.exhausted = True
            self.model.stop_training = True
