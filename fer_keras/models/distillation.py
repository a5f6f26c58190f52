"""Knowledge distillation: a student learns a teacher's probabilities as well as the labels.

The targets a distilled student trains on are ``(n, 1 + k)`` floats: column 0 the true class
(FER2013 label), columns 1..k the teacher's probabilities of that image. :class:`DistillationLoss`
mixes the usual cross-entropy on the label with the Kullback-Leibler divergence between the
teacher's and the student's probabilities softened at a temperature ``T`` (Hinton, Vinyals & Dean,
Distilling the Knowledge in a Neural Network, 2015); :func:`hard_label_metrics` are the usual
accuracy and top-2 accuracy, read on column 0, so a distilled run logs and selects its epochs
like any other.

Example:
    >>> model.compile("adamw", loss=DistillationLoss(temperature=4.0, weight=0.9),
    ...               metrics=hard_label_metrics())  # doctest: +SKIP
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["DistillationLoss", "distillation_targets", "hard_label_accuracy",
           "hard_label_metrics", "hard_label_top2"]

#: Probabilities are clipped to at least this before their logarithm.
EPSILON = 1e-7


def distillation_targets(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The ``(n, 1 + k)`` float32 targets of a distilled student: label, then the teacher's k."""
    labels, probabilities = np.asarray(labels), np.asarray(probabilities, np.float32)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"The teacher's probabilities must be (n, classes) for the {len(labels)} "
                         f"labels. Received shape {probabilities.shape}")
    return np.concatenate([labels.astype(np.float32)[:, None], probabilities], axis=1)


@keras.saving.register_keras_serializable(package="fer_keras")
class DistillationLoss(keras.losses.Loss):
    """``(1 - weight) * CE(label) + weight * T^2 * KL(teacher_T || student_T)``.

    ``student_T`` and ``teacher_T`` are the probabilities softened at temperature ``T``:
    ``softmax(log p / T)`` (the model outputs probabilities, whose logarithms are its logits up
    to a constant). The ``T^2`` keeps the soft term's gradients at the scale of the hard one's.

    Args:
        temperature: ``T`` (> 0); 1 matches the teacher's probabilities as they are.
        weight: the soft term's share, in [0, 1]; 0 is plain training on the labels.
        label_smoothing: of the hard term's one-hot label, as in the softmax head.
    """

    def __init__(self, temperature: float = 4.0, weight: float = 0.9,
                 label_smoothing: float = 0.0, name="distillation",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.temperature, self.weight = float(temperature), float(weight)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        hard = ops.one_hot(ops.cast(y_true[:, 0], "int32"), ops.shape(y_pred)[-1])
        loss = keras.losses.categorical_crossentropy(hard, y_pred,
                                                     label_smoothing=self.label_smoothing)
        if not self.weight:
            return loss
        t = self.temperature
        log_student = ops.log_softmax(ops.log(ops.clip(y_pred, EPSILON, 1.0)) / t, axis=-1)
        log_teacher = ops.log_softmax(ops.log(ops.clip(y_true[:, 1:], EPSILON, 1.0)) / t,
                                      axis=-1)
        kl = ops.sum(ops.exp(log_teacher) * (log_teacher - log_student), axis=-1)
        return (1.0 - self.weight) * loss + self.weight * t * t * kl

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype,
                "temperature": self.temperature, "weight": self.weight,
                "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="fer_keras")
def hard_label_accuracy(y_true, y_pred):
    """Accuracy on the label column of distillation targets."""
    return keras.metrics.sparse_categorical_accuracy(y_true[:, :1], y_pred)


@keras.saving.register_keras_serializable(package="fer_keras")
def hard_label_top2(y_true, y_pred):
    """Top-2 accuracy on the label column of distillation targets."""
    return keras.metrics.sparse_top_k_categorical_accuracy(y_true[:, :1], y_pred, k=2)


def hard_label_metrics() -> list[keras.metrics.Metric]:
    """``accuracy`` and ``top2`` of a distilled run, named as every run's (see ``head_metrics``)."""
    return [keras.metrics.MeanMetricWrapper(hard_label_accuracy, name="accuracy"),
            keras.metrics.MeanMetricWrapper(hard_label_top2, name="top2")]
