"""Test-time augmentation: score several views of each face and average the scores.

A network trained on random ``size``-px crops of the 48x48 faces (``make_dataset(crop=size)``) is
evaluated on crops of the same side: the center crop (``"none"``), the center crop and its mirror
(``"flip"``), or the four corner crops, the center crop and their five mirrors (``"tencrop"``, as
``torchvision.transforms.TenCrop``). A network that takes the whole face (``size == 48``) gets the
face itself, and its mirror with ``"flip"``; ten-crop views are then all the same face, so
``"tencrop"`` equals ``"flip"`` there.

Example:
    >>> size = model_input_size(model)  # doctest: +SKIP
    >>> scores = tta_scores(lambda v: model.predict(v[..., None], verbose=0), images, "tencrop",
    ...                     size)  # doctest: +SKIP

Reference:
    Y. Khaireddin and Z. Chen, "Facial Emotion Recognition: State of the Art Performance on
    FER2013", arXiv:2105.03588, 2021 (ten 40-px crops of 48-px faces, averaged at test time).
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from fer_keras import IMAGE_SIZE

#: ``mode`` values of :func:`views` and :func:`tta_scores`, and of ``fer_keras.evaluate --tta``.
TTA_MODES = ("none", "flip", "tencrop")


def views(images: np.ndarray, mode: str = "none", size: int = IMAGE_SIZE) -> list[np.ndarray]:
    """The test-time views of ``images``, each an array ``(n, size, size)`` of the input's dtype.

    Args:
        images: uint8 ``(n, h, w)`` (or ``(n, h, w, 1)``) faces, normally 48x48.
        mode: one of :data:`TTA_MODES`: ``"none"`` gives ``[center crop]`` (the images themselves
            when ``size`` is their side); ``"flip"`` adds its horizontal mirror; ``"tencrop"`` gives
            the top-left, top-right, bottom-left, bottom-right and center crops, then their mirrors.
        size: side of the square views, at most the image side. A network whose input is larger
            than the faces resizes inside itself, so it takes views at the face side (see
            :func:`model_input_size`).

    The center crop starts at ``(side - size) // 2``, like the evaluation crop of
    ``fer_keras.data.pipeline.make_dataset(crop=size)``.
    """
    if mode not in TTA_MODES:
        raise ValueError(f"Unknown TTA mode. Expected one of {TTA_MODES}. Received: tta={mode!r}")
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must be (n, h, w). Received shape {images.shape}")
    h, w = images.shape[1:]
    if not 1 <= size <= min(h, w):
        raise ValueError(f"size must be between 1 and the image side {min(h, w)}. "
                         f"Received: size={size}")
    top, left = (h - size) // 2, (w - size) // 2
    center = images[:, top:top + size, left:left + size]
    if mode == "none":
        return [center]
    if mode == "flip":
        return [center, center[:, :, ::-1]]
    crops = [images[:, :size, :size], images[:, :size, w - size:],
             images[:, h - size:, :size], images[:, h - size:, w - size:], center]
    return crops + [crop[:, :, ::-1] for crop in crops]


def tta_scores(score_fn: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
               mode: str = "none", size: int = IMAGE_SIZE) -> np.ndarray:
    """The mean of ``score_fn(view)`` over the :func:`views` of ``images``.

    ``score_fn`` maps ``(n, size, size)`` images to ``(n, k)`` scores. For a softmax network the
    mean is of probabilities; for the L2-SVM and SVC heads it is of the raw class scores (margins
    or decision values), so the argmax is the class with the largest mean margin. A class an SVC
    never saw keeps its score of ``-inf``.

    Views are copied and scored one at a time; the mean is taken in float64 and returned in the
    dtype of the scores, so ``"none"`` returns ``score_fn``'s scores unchanged.
    """
    scores = np.stack([np.asarray(score_fn(np.ascontiguousarray(view)))
                       for view in views(images, mode, size)])
    return scores.mean(axis=0, dtype=np.float64).astype(scores.dtype)


def model_input_size(model: keras.Model) -> int:
    """Side of the views ``model`` takes: its input side, at most 48.

    A network whose input is larger than the faces (e.g. 96) resizes inside itself, so it is fed
    whole 48-px faces; a network without a fixed input side gets 48 too.
    """
    side = model.inputs[0].shape[1]
    return IMAGE_SIZE if side is None else min(int(side), IMAGE_SIZE)


def view_model(network: keras.Model, mode: str = "none") -> keras.Model:
    """A model of whole 48x48 faces that returns ``network``'s scores averaged over the views.

    The graph form of :func:`tta_scores`: input float32 ``(n, 48, 48, 1)`` raw faces, the views of
    :func:`views` at ``network``'s input side (:func:`model_input_size`) are cut and mirrored inside
    the graph, scored in one batch of ``n x views`` and averaged. This is what the recognizer,
    ``fer_keras.predict`` and the exported graphs run, so a network trained on 40-px crops takes
    whole faces everywhere. Returns ``network`` itself when it takes whole faces and ``mode`` is
    ``"none"``.

    Example:
        >>> faces_model = view_model(crop_network, "tencrop")  # doctest: +SKIP
        >>> faces_model.input_shape
        (None, 48, 48, 1)
    """
    if mode not in TTA_MODES:
        raise ValueError(f"Unknown TTA mode. Expected one of {TTA_MODES}. Received: tta={mode!r}")
    size = model_input_size(network)
    if mode == "none" and size == IMAGE_SIZE:
        return network
    ops = keras.ops
    faces = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    far, mid = IMAGE_SIZE - size, (IMAGE_SIZE - size) // 2
    # The windows of views(), in its order: corners and center for tencrop, then the mirrors.
    corners = [(0, 0), (0, far), (far, 0), (far, far)] if mode == "tencrop" else []
    crops = [faces[:, top:top + size, left:left + size, :] for top, left in corners + [(mid, mid)]]
    if mode != "none":
        crops += [ops.flip(crop, axis=2) for crop in crops]
    scores = network(ops.concatenate(crops, axis=0))
    mean = ops.mean(ops.reshape(scores, (len(crops), -1, scores.shape[-1])), axis=0)
    return keras.Model(faces, mean, name=f"{network.name}_tta_{mode}")
