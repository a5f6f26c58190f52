"""Learning-rate schedules of ``fer_keras.train``, on the step count or on a time budget.

Its own small module (Keras only) because a saved ``.keras`` file that was compiled with a
:class:`BudgetedSchedule` needs the class registered to load: :mod:`fer_keras.models.saving`
imports it.
"""

from __future__ import annotations

import keras

from fer_keras.models.names import SCHEDULES

__all__ = ["BudgetedSchedule", "make_schedule"]


def make_schedule(name: str, learning_rate: float, total_steps: int):
    """The learning rate of schedule ``name`` (one of :data:`SCHEDULES`) over ``total_steps``.

    ``constant`` and ``plateau`` return the number (``plateau`` is driven by ReduceLROnPlateau on
    PublicTest accuracy); ``step`` divides by 10 at 50% and 75% of the steps; ``cosine`` decays to
    zero; ``onecycle`` warms up linearly from ``learning_rate / 25`` for the first 25% of the steps
    and then decays to zero along a cosine (Smith & Topin 2017, as fastai's ``fit_one_cycle``).
    """
    total_steps = max(int(total_steps), 1)
    if name in ("constant", "plateau"):
        return learning_rate
    if name == "step":
        # PiecewiseConstantDecay switches after a boundary: step b + 1 is the first at the new rate
        bounds = sorted({max(0, total_steps // 2 - 1), max(1, 3 * total_steps // 4 - 1)})
        values = [learning_rate * 0.1 ** i for i in range(len(bounds) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    if name == "onecycle":
        # A run of a single step (a tiny data set, one epoch) has no room for a warm-up.
        warmup = max(1, total_steps // 4) if total_steps > 1 else 0
        return keras.optimizers.schedules.CosineDecay(
            learning_rate / 25 if warmup else learning_rate, total_steps - warmup,
            warmup_target=learning_rate if warmup else None, warmup_steps=warmup)
    raise ValueError(f"Unknown schedule {name!r}. Accepted values: {SCHEDULES}.")


@keras.saving.register_keras_serializable(package="fer_keras")
class BudgetedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A step-based schedule that also runs on the clock: it is at step ``max(step, f * total)``
    for the fraction ``f`` of the time budget spent (set by :class:`BudgetClock`).

    So a schedule that decays to zero over ``total_steps`` also reaches its end when a
    ``--max-minutes`` budget runs out first (a slow or busy machine), instead of being cut off at
    a high learning rate. When the epochs run out first, it is exactly the step-based schedule.
    """

    def __init__(self, schedule, total_steps: int):
        self.schedule = schedule
        self.total_steps = int(total_steps)
        self.time_fraction = keras.Variable(0.0, trainable=False, name="time_fraction")

    def __call__(self, step):
        clock_step = keras.ops.cast(self.time_fraction * self.total_steps, "int64")
        return self.schedule(keras.ops.maximum(keras.ops.cast(step, "int64"), clock_step))

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "total_steps": self.total_steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]),
                   config["total_steps"])
