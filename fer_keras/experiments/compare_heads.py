"""The heads ``compare`` fits on a frozen network: the features they learn from, and the fits.

:func:`view_outputs` gives the network's softmax and its ``features`` in one forward pass per
view. Each fitted head is written as a run directory and scored by that run's own scorer
(``Run.scores``), so compare's figures are those ``fer-keras evaluate`` and ``predict`` give.
"""

from __future__ import annotations

import time
import warnings
import weakref

import keras
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fer_keras.data import pipeline
from fer_keras.evaluation import tta
from fer_keras.models import heads
from fer_keras.models.names import FEATURE_LAYER


def view_outputs(network: keras.Model, images: np.ndarray, mode: str, *, equalize=None,
                 layer: str = FEATURE_LAYER, batch_size: int = 256) -> list[tuple]:
    """``[(probabilities, features), ...]``, one pair per test-time view of ``images``.

    Args:
        network: a softmax network with a ``layer`` (e.g. ``"features"``).
        images: raw uint8 faces ``(n, 48, 48)``.
        mode: one of :data:`~fer_keras.evaluation.tta.TTA_MODES`.
        equalize: the network's equalisation (applied to the whole faces first, as in training).
    """
    both = _two_outputs(network, layer)
    faces = pipeline.equalize_images(np.asarray(images), equalize)
    outputs = []
    for view in tta.views(faces, mode, tta.model_input_size(network)):
        probs, features = both.predict(pipeline.make_dataset(np.ascontiguousarray(view),
                                                             batch_size=batch_size), verbose=0)
        outputs.append((np.asarray(probs, "float32"),
                        np.asarray(features, "float32").reshape(len(view), -1)))
    return outputs


# One two-output model per (network, layer): a new one per call would retrace its predict function.
_BOTH: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _two_outputs(network: keras.Model, layer: str) -> keras.Model:
    cached = _BOTH.setdefault(network, {})
    if layer not in cached:
        cached[layer] = keras.Model(network.inputs,
                                    [network.output, network.get_layer(layer).output])
    return cached[layer]


def fit_l2svm(train_data, val_data, num_classes: int, *, l2: float, epochs: int, seed: int):
    """Tang's L2-SVM on frozen features, its epoch chosen on ``val_data``; (head, seconds)."""
    keras.utils.set_random_seed(seed)
    head = heads.l2svm_on_features(train_data[0], num_classes, l2=l2)
    head.compile(optimizer="adam", loss=heads.L2SVMLoss(), metrics=heads.head_metrics())
    start = time.perf_counter()
    head.fit(*train_data, validation_data=val_data, epochs=epochs, batch_size=128, verbose=0,
             callbacks=[keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                      patience=15, restore_best_weights=True)])
    return head, time.perf_counter() - start


def fit_svm(kind: str, features: np.ndarray, labels: np.ndarray, *, C: float, seed: int):
    """``StandardScaler`` + SVC (``kind="svc"``, RBF) or LinearSVC; (pipeline, seconds)."""
    svm = heads.make_svc(kind, C=C, random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm.fit(features, labels)
    seconds = time.perf_counter() - start
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        print(f"note: {kind} stopped at its iteration cap before converging", flush=True)
    return svm, seconds
