"""Classifier heads: softmax, the L2-SVM of Tang (2013), and an sklearn SVC on learned features.

Three ways to turn a network's learned representation into one of the seven emotions:

- ``"softmax"``: a dense layer with softmax, trained with cross-entropy.
- ``"l2svm"``: a *linear* dense layer whose outputs are class scores, an L2 penalty on its kernel,
  trained with the squared hinge loss on one-vs-rest targets in {-1, +1}; prediction is the argmax
  of the scores. Trained end to end this is Tang's "deep learning using linear SVMs"; trained on
  frozen features (:func:`l2svm_on_features`) it is the objective of
  ``LinearSVC(loss="squared_hinge")``.
- ``"svc"``: features read from a named layer (:func:`extract_features`) fed to
  ``Pipeline(StandardScaler(), SVC(...))`` (or ``LinearSVC`` as the fast option), saved without
  pickle (:func:`save_svc` / :func:`load_svc`).

Reference:
    Y. Tang, "Deep Learning using Linear Support Vector Machines", ICML 2013 Challenges in
    Representation Learning workshop, arXiv:1306.0239.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import layers, ops
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from fer_keras.models.names import FEATURE_LAYER, HEADS, OUTPUT_LAYER, SVC_KINDS
from fer_keras.models.svc_io import load_svc, save_svc

__all__ = ["L2SVMLoss", "classifier_head", "extract_features", "head_loss", "head_metrics",
           "l2svm_on_features", "load_svc", "make_svc", "predict_scores", "save_svc"]


@keras.saving.register_keras_serializable(package="fer_keras")
class L2SVMLoss(keras.losses.Loss):
    """Squared hinge loss on one-vs-rest {-1, +1} targets from integer labels (Tang 2013, eq. 5).

    For scores ``s`` and targets ``t_k = +1`` for the true class and ``-1`` otherwise, the loss of
    one sample is ``sum_k max(0, 1 - t_k s_k) ** 2``; summed over classes (not averaged, unlike
    ``keras.losses.SquaredHinge``) so the loss scale does not shrink with the number of classes.

    Example:
        >>> model.compile(optimizer="adam", loss=L2SVMLoss())
    """

    def __init__(self, name="l2svm_squared_hinge", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        targets = 2.0 * ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype) - 1.0
        return ops.sum(ops.square(ops.relu(1.0 - targets * y_pred)), axis=-1)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="fer_keras")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels smoothed towards uniform (Szegedy et al. 2016).

    Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; this one one-hots the
    labels and calls ``categorical_crossentropy`` with it, so labels stay integers everywhere.
    """

    def __init__(self, label_smoothing: float = 0.1, name="smoothed_sparse_crossentropy",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), ops.shape(y_pred)[-1],
                             dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(y_true, y_pred,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def classifier_head(x, num_classes: int, head: str = "softmax", *, l2: float = 1e-4,
                    name: str = OUTPUT_LAYER):
    """Apply the score layer of ``head`` to the tensor ``x``.

    Args:
        x: a symbolic feature tensor.
        num_classes: number of scores.
        head: ``"softmax"`` (probabilities) or ``"l2svm"`` (linear scores with an L2 kernel
            penalty). ``"svc"`` networks are trained with a softmax layer, so it maps to
            ``"softmax"`` here.
        l2: L2 penalty on the L2-SVM kernel (Tang's ``1/2 ||w||^2`` term, scaled per sample).
        name: layer name.

    Returns:
        The score tensor, float32 even under a mixed-precision policy (losses need the precision).
    """
    if head not in HEADS:
        raise ValueError(f"Unknown head {head!r}. Accepted values: {', '.join(HEADS)}.")
    if head == "l2svm":
        return layers.Dense(num_classes, kernel_regularizer=keras.regularizers.L2(l2),
                            dtype="float32", name=name)(x)
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name=name)(x)


def head_loss(head: str, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """Training loss for a network head (``"svc"`` networks are trained with the softmax loss).

    ``label_smoothing`` (softmax only) mixes the one-hot target with the uniform distribution.
    """
    if head == "l2svm":
        if label_smoothing:
            raise ValueError("label_smoothing applies to the softmax head only. Received: "
                             f"head='l2svm', label_smoothing={label_smoothing}")
        return L2SVMLoss()
    if label_smoothing:
        return SmoothedSparseCrossentropy(label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def head_metrics() -> list[keras.metrics.Metric]:
    """Accuracy and top-2 accuracy; both use the argmax/top-k of scores, so they fit every head."""
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")]


def l2svm_on_features(train_features: np.ndarray, num_classes: int = 7, *, l2: float = 1e-4,
                      name: str = "l2svm_head") -> keras.Model:
    """A standalone L2-SVM (standardise → linear scores) for frozen features; compile it and fit it.

    The ``Normalization`` layer is adapted on ``train_features`` so the optimisation sees the same
    standardised inputs as the ``StandardScaler`` of the SVC head.

    Example:
        >>> head = l2svm_on_features(train_feats)
        >>> head.compile("adam", loss=L2SVMLoss(), metrics=head_metrics())
        >>> head.fit(train_feats, train_labels, epochs=30)
    """
    inputs = keras.Input(shape=train_features.shape[1:], name="features")
    norm = layers.Normalization(name="standardize")
    norm.adapt(train_features)
    outputs = classifier_head(norm(inputs), num_classes, "l2svm", l2=l2)
    return keras.Model(inputs, outputs, name=name)


def extract_features(model: keras.Model, data, layer: str = FEATURE_LAYER,
                     batch_size: int = 256) -> np.ndarray:
    """Outputs of ``layer`` of ``model`` for ``data``, as a float32 ``(n, d)`` array.

    Args:
        model: a model whose layer ``layer`` is reachable with ``model.get_layer`` (top-level
            layers, e.g. ``"features"`` or ``"flatten"``).
        data: raw images ``(n, 48, 48)`` or ``(n, 48, 48, 1)``, or a ``tf.data.Dataset`` of images
            or ``(images, labels)`` batches.
        layer: layer name.
        batch_size: batch size for arrays.
    """
    extractor = _extractor(model, layer)
    if isinstance(data, np.ndarray):
        features = extractor.predict(_as_batch(data, model), batch_size=batch_size, verbose=0)
    else:
        features = extractor.predict(data, verbose=0)
    return np.asarray(features, dtype="float32").reshape(len(features), -1)


# One extractor per (model, layer): a new one per call would retrace its predict function.
_EXTRACTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _extractor(model: keras.Model, layer: str) -> keras.Model:
    cached = _EXTRACTORS.setdefault(model, {})
    if layer not in cached:
        try:
            output = model.get_layer(layer).output
        except ValueError:
            names = ", ".join(lyr.name for lyr in model.layers)
            raise ValueError(f"Model {model.name!r} has no layer {layer!r}. Layers: {names}."
                             ) from None
        cached[layer] = keras.Model(model.inputs, output, name=f"{model.name}_{layer}_extractor")
    return cached[layer]


def predict_scores(model: keras.Model, data, *, svc: Pipeline | None = None,
                   feature_head: keras.Model | None = None, feature_layer: str = FEATURE_LAYER,
                   batch_size: int = 256) -> np.ndarray:
    """Class scores ``(n, k)`` of a network, or of a head fitted on its ``feature_layer``.

    Args:
        model: the network.
        data: as for :func:`extract_features`.
        svc: a fitted :func:`make_svc` pipeline: scores are its ``decision_function``.
        feature_head: a Keras head on features (e.g. :func:`l2svm_on_features`).
        feature_layer: the layer ``svc`` / ``feature_head`` read.
    """
    if svc is None and feature_head is None:
        if isinstance(data, np.ndarray):
            return model.predict(_as_batch(data, model), batch_size=batch_size, verbose=0)
        return model.predict(data, verbose=0)
    features = extract_features(model, data, feature_layer, batch_size)
    if svc is not None:
        return svc_scores(svc, features, model.output_shape[-1])
    return feature_head.predict(features, batch_size=batch_size, verbose=0)


def svc_scores(svc: Pipeline, features: np.ndarray, num_classes: int) -> np.ndarray:
    """Decision values ``(n, num_classes)`` of a fitted SVC head; -inf for classes it never saw."""
    # Columns follow svc.classes_, which misses any class absent from the SVC's training data.
    values = svc.decision_function(features)
    if values.ndim == 1:
        values = np.stack([-values, values], axis=1)
    scores = np.full((len(features), num_classes), -np.inf)
    scores[:, svc.classes_] = values
    return scores


def _as_batch(images: np.ndarray, model: keras.Model) -> np.ndarray:
    images = images.astype("float32")
    return images[..., None] if images.ndim == len(model.inputs[0].shape) - 1 else images


def make_svc(kind: str = "svc", *, kernel: str = "rbf", C: float = 1.0, gamma="scale",
             random_state: int | None = 0, max_iter: int = 5000) -> Pipeline:
    """``Pipeline(StandardScaler(), SVC(...))``, or with ``LinearSVC`` when ``kind="linear_svc"``.

    Args:
        kind: ``"svc"`` (libsvm, any ``kernel``) or ``"linear_svc"`` (liblinear, squared hinge: the
            objective of the L2-SVM head, and much faster on the full training set).
        kernel, C, gamma: as in ``sklearn.svm.SVC`` (``kernel`` and ``gamma`` unused by
            ``linear_svc``).
        random_state: seeds the solver.
        max_iter: liblinear iteration cap (``linear_svc`` only).
    """
    if kind == "svc":
        clf = SVC(kernel=kernel, C=C, gamma=gamma, random_state=random_state)
    elif kind == "linear_svc":
        clf = LinearSVC(loss="squared_hinge", C=C, random_state=random_state, max_iter=max_iter)
    else:
        raise ValueError(f"Unknown SVC kind {kind!r}. Accepted values: {', '.join(SVC_KINDS)}.")
    return Pipeline([("scaler", StandardScaler()), ("svc", clf)])
