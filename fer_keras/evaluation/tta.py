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

from typing import TYPE_CHECKING, Callable

import numpy as np

from fer_keras import IMAGE_SIZE

if TYPE_CHECKING:  # Keras loads in view_model, so the modes come without TensorFlow
    import keras

#: ``mode`` values of :func:`views` and :func:`tta_scores`, and of ``fer_keras.evaluate --tta``.
TTA_MODES = ("none", "flip", "tencrop")


def check_mode(mode: str) -> str:
    """``mode`` itself when it is one of :data:`TTA_MODES`; else the one ``ValueError`` that
    lists them (every TTA check goes through here).

    Example:
        >>> check_mode("tencrop")
        'tencrop'
    """
    if mode not in TTA_MODES:
        raise ValueError(f"Unknown TTA mode. Expected one of {TTA_MODES}. Received: tta={mode!r}")
    return mode


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
    check_mode(mode)
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must be (n, h, w). Received shape {images.shape}")
    out = []
    for top, left, mirrored in windows(mode, size, *images.shape[1:]):
        crop = images[:, top:top + size, left:left + size]
        out.append(crop[:, :, ::-1] if mirrored else crop)
    return out


def windows(mode: str, size: int, height: int = IMAGE_SIZE,
            width: int | None = None) -> list[tuple[int, int, bool]]:
    """``(top, left, mirrored)`` of each view of :func:`views`, in its order: where each view
    lies in the face, so a map computed on a view can be put back onto the face.

    Example:
        >>> windows("flip", 40)
        [(4, 4, False), (4, 4, True)]
    """
    check_mode(mode)
    width = height if width is None else width
    if not 1 <= size <= min(height, width):
        raise ValueError(f"size must be between 1 and the image side {min(height, width)}. "
                         f"Received: size={size}")
    down, right = height - size, width - size
    places = [(down // 2, right // 2)]
    if mode == "tencrop":
        places = [(0, 0), (0, right), (down, 0), (down, right)] + places
    mirrors = [True] if mode != "none" else []
    return [(top, left, mirrored) for mirrored in [False, *mirrors] for top, left in places]


def tta_scores(score_fn: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
               mode: str = "none", size: int = IMAGE_SIZE) -> np.ndarray:
    """The mean of ``score_fn(view)`` over the :func:`views` of ``images``.

    ``score_fn`` maps ``(n, size, size)`` images to ``(n, k)`` scores. For a softmax network the
    mean is of probabilities; for the L2-SVM and SVC heads it is of the raw class scores (margins
    or decision values), so the argmax is the class with the largest mean margin. A class an SVC
    never saw keeps its score of ``-inf``.

    Views are copied and scored one at a time; the mean is taken in float64 and returned in the
    dtype of the scores, so ``"none"`` returns ``score_fn``'s scores unchanged. Views the size of
    the faces are scored once each (:func:`distinct_mode`).
    """
    images = np.asarray(images)
    mode = distinct_mode(mode, size, *images.shape[1:3])
    scores = np.stack([np.asarray(score_fn(np.ascontiguousarray(view)))
                       for view in views(images, mode, size)])
    return scores.mean(axis=0, dtype=np.float64).astype(scores.dtype)


def distinct_mode(mode: str, size: int, height: int = IMAGE_SIZE,
                  width: int | None = None) -> str:
    """The mode whose views have the same mean as ``mode``'s, each view scored once: ``"flip"``
    for ``"tencrop"`` views that are the whole face (five copies of it, five of its mirror).

    Example:
        >>> distinct_mode("tencrop", 48), distinct_mode("tencrop", 40)
        ('flip', 'tencrop')
    """
    whole = size == height == (height if width is None else width)
    return "flip" if check_mode(mode) == "tencrop" and whole else mode


def model_input_size(model: keras.Model) -> int:
    """Side of the views ``model`` takes: its input side, at most the face side (``IMAGE_SIZE``).

    A network whose input is larger than the faces (e.g. 96) resizes inside itself, so it is fed
    whole 48-px faces; a network without a fixed input side gets whole faces too.
    """
    side = model.inputs[0].shape[1]
    return IMAGE_SIZE if side is None else min(int(side), IMAGE_SIZE)


def view_model(network: keras.Model, mode: str = "none", *, average: bool = True) -> keras.Model:
    """A model of whole 48x48 faces that returns ``network``'s scores averaged over the views.

    The graph form of :func:`tta_scores`: input float32 ``(n, 48, 48, 1)`` raw faces, the views of
    :func:`views` at ``network``'s input side (:func:`model_input_size`) are cut and mirrored inside
    the graph, scored in one batch of ``n x views`` and averaged. This is what the recognizer,
    ``fer_keras.predict`` and the exported graphs run, so a network trained on 40-px crops takes
    whole faces everywhere. Returns ``network`` itself when it takes whole faces and ``mode`` is
    ``"none"``. ``average=False`` returns each view's outputs, ``(n, views, ...)``: what a head
    outside the graph (an SVC on the features) scores view by view before averaging.

    Example:
        >>> faces_model = view_model(crop_network, "tencrop")  # doctest: +SKIP
        >>> faces_model.input_shape
        (None, 48, 48, 1)
    """
    import keras

    check_mode(mode)
    size = model_input_size(network)
    if mode == "none" and size == IMAGE_SIZE and average:
        return network
    ops = keras.ops
    faces = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    crops = []
    for top, left, mirrored in windows(distinct_mode(mode, size), size):
        crop = faces[:, top:top + size, left:left + size, :]
        crops.append(ops.flip(crop, axis=2) if mirrored else crop)
    scores = network(ops.concatenate(crops, axis=0))
    per_view = ops.reshape(scores, (len(crops), -1, *scores.shape[1:]))
    if not average:
        order = (1, 0, *range(2, len(per_view.shape)))
        return keras.Model(faces, ops.transpose(per_view, order),
                           name=f"{network.name}_views_{mode}")
    return keras.Model(faces, ops.mean(per_view, axis=0), name=f"{network.name}_tta_{mode}")
