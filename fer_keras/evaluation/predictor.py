"""One run's scorer: raw faces in, class scores out, with the run's head and TTA views.

Every consumer scores a run through :class:`Predictor` (``Run.predictor`` / ``Run.scores``):
``evaluate``, ``compare``, train's final scores, the recognizer (photos, video, the webcam,
``serve``), ensembles, a teacher and ``explain``'s mistakes. The network and its test-time views
are one Keras graph (:func:`fer_keras.evaluation.tta.view_model`); a frozen-feature Keras head is
joined onto the network's features; an SVC head (scikit-learn, outside any graph) scores every
view's features and its decision values are averaged, as the other heads' scores are.

Example:
    >>> predictor = load_run("cpu_fast").predictor()       # the run's own TTA  # doctest: +SKIP
    >>> predictor.mode, predictor.scores(faces).shape                            # doctest: +SKIP
    ('tencrop', (12, 7))
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from fer_keras import IMAGE_SIZE
from fer_keras.data import pipeline
from fer_keras.evaluation.tta import view_model
from fer_keras.models import heads

__all__ = ["Predictor"]


class Predictor:
    """The scores of one run (a ``fer_keras.evaluation.run_dir.Run``) at one TTA mode.

    Args:
        run: the run; its config gives the equalisation, its ``tta_mode`` the default views.
        tta: one of :data:`~fer_keras.evaluation.tta.TTA_MODES`; ``None``: the run's own.
        batch_size: faces per forward pass (each brings its views).

    Attributes:
        mode: the TTA mode scored.
        model: the Keras graph of whole 48x48 faces: averaged scores, or for an SVC head each
            view's features ``(n, views, d)``.
    """

    def __init__(self, run, tta: str | None = None, batch_size: int = 256):
        self.mode, self.batch_size = run.tta_mode(tta), batch_size
        self.svc, self.num_classes = run.svc, len(run.class_names)
        self.equalize = run.config.get("equalize")
        network = run.joined_model()
        if self.svc is not None:
            features = network.get_layer(run.feature_layer).output
            network = keras.Model(network.inputs,
                                   keras.layers.Flatten(name="fer_keras_svc_features")(features))
        self.model = view_model(network, self.mode, average=self.svc is None)
        # One traced graph for every number of faces (a new batch size would retrace predict).
        model = self.model
        spec = tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.float32)
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def scores(self, faces) -> np.ndarray:
        """Float32 scores ``(n, k)`` of raw uint8 faces ``(n, 48, 48)`` (or ``(n, 48, 48, 1)``):
        probabilities for a softmax run, margins or decision values for the SVM heads."""
        faces = np.asarray(faces)
        if faces.ndim == 4 and faces.shape[-1] == 1:
            faces = faces[..., 0]
        if faces.ndim != 3 or faces.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"faces must be (n, {IMAGE_SIZE}, {IMAGE_SIZE}). Received shape "
                             f"{faces.shape}")
        if not len(faces):
            return np.zeros((0, self.num_classes), np.float32)
        x = pipeline.equalize_images(faces, self.equalize).astype(np.float32)[..., None]
        out = np.concatenate([np.asarray(self._forward(x[i:i + self.batch_size]), np.float32)
                              for i in range(0, len(x), self.batch_size)])
        if self.svc is not None:  # decision values of each view, averaged as other scores are
            views = [heads.svc_scores(self.svc, out[:, v], self.num_classes)
                     for v in range(out.shape[1])]
            out = np.mean(views, axis=0)
        return out.astype(np.float32)
