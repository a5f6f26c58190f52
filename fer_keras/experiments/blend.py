"""Combine the class probabilities of several models: plain average and log-loss-fitted weights.

The weights are fitted on out-of-fold predictions (every Training row predicted by a model that
never saw it, see :mod:`fer_keras.ensemble`), so they can be compared with the plain average on
data neither of them chose anything on.

Example:
    >>> import numpy as np
    >>> sure = np.eye(7)[[0, 1, 2]]                       # a member always right
    >>> unsure = np.full((3, 7), 1 / 7)                   # a member that knows nothing
    >>> fit_weights([sure, unsure], np.array([0, 1, 2])).round(3).tolist()
    [1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

__all__ = ["EPSILON", "fit_weights", "log_loss", "weighted_average"]

#: Probabilities are clipped to at least this before taking a logarithm.
EPSILON = 1e-7


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean negative log-probability of the true class (natural log)."""
    labels = np.asarray(labels)
    p = np.asarray(probabilities, np.float64)[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(p, EPSILON, 1.0))))


def weighted_average(probabilities: Sequence[np.ndarray], weights=None) -> np.ndarray:
    """``sum_m weights[m] * probabilities[m]``; equal weights (the plain average) by default."""
    stacked = np.stack([np.asarray(p, np.float64) for p in probabilities])
    weights = (np.full(len(stacked), 1 / len(stacked)) if weights is None
               else np.asarray(weights, np.float64))
    return np.tensordot(weights, stacked, axes=1)


def fit_weights(probabilities: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the log-loss of the weighted average.

    The weighted average of probability vectors is one, and its log-loss is convex in the weights,
    so SLSQP (scipy) on the simplex finds the minimum; only each member's probability of the true
    class enters it. If the optimiser ends worse than equal weights (it should not), equal weights
    are returned, so the fitted average never has a higher log-loss on ``labels`` than the plain
    one.

    Args:
        probabilities: one ``(n, k)`` array per member, rows summing to 1.
        labels: true labels ``(n,)`` of the rows.

    Returns:
        weights ``(m,)``, one per member.
    """
    labels = np.asarray(labels)
    true = np.stack([np.asarray(p, np.float64)[np.arange(len(labels)), labels]
                     for p in probabilities], axis=1)
    true = np.clip(true, EPSILON, 1.0)
    m = true.shape[1]
    equal = np.full(m, 1 / m)
    if m == 1:
        return equal

    def loss_and_gradient(w):
        mixed = true @ w
        return -np.mean(np.log(mixed)), -(true / mixed[:, None]).mean(axis=0)

    result = minimize(loss_and_gradient, equal, jac=True, method="SLSQP", bounds=[(0, 1)] * m,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1,
                                    "jac": lambda w: np.ones_like(w)}])
    weights = np.where(result.x > 1e-9, result.x, 0.0)  # SLSQP leaves ~1e-17 for zero
    weights = weights / weights.sum() if weights.sum() > 0 else equal
    return weights if loss_and_gradient(weights)[0] <= loss_and_gradient(equal)[0] else equal
