"""The explanation methods behind :mod:`fer_keras.explain`: gradient maps, filters, mistakes.

Gradients are taken of the class score before any softmax (see
:func:`fer_keras.explain.graph.score_model`). Maps are scaled to [0, 1] per image, so they compare
regions within an image, not magnitudes across images.

Maps are always of the whole images given. A network that takes smaller views of them (trained
on 40-px crops of the 48x48 faces) is explained through its test-time views (``tta``, one of
:data:`fer_keras.evaluation.tta.TTA_MODES`): the gradient of the class score averaged over the
views, taken inside one graph of the whole faces for saliency and SmoothGrad; each view's
Grad-CAM put back at its place in the face (unmirrored) and summed. With ``tta="none"`` only the
center view is seen, and the border around it has no evidence (0).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from fer_keras import IMAGE_SIZE
from fer_keras.evaluation.tta import (
    check_mode,
    distinct_mode,
    model_input_size,
    view_model,
    windows,
)
from fer_keras.explain.graph import as_input, score_model


def _like(maps: np.ndarray, images) -> np.ndarray:
    """(n, h, w) maps shaped like grey ``images``: a trailing 1 when they had one."""
    shape = np.shape(images)
    return maps[..., None] if len(shape) == 4 and shape[-1] == 1 else maps


def _unit(maps: np.ndarray) -> np.ndarray:
    peak = maps.reshape(len(maps), -1).max(axis=1)
    return (maps / np.where(peak > 0, peak, 1.0)[:, None, None]).astype("float32")


def _classes(scorer: keras.Model, x: tf.Tensor, classes, batch_size: int) -> np.ndarray:
    if classes is None:
        # Called directly, not with predict(): predict traces a new function for every new model.
        classes = np.zeros(x.shape[0], dtype="int64")
        for i in range(0, len(classes), batch_size):
            classes[i:i + batch_size] = np.argmax(scorer(x[i:i + batch_size], training=False),
                                                  axis=-1)
        return classes
    return np.broadcast_to(np.asarray(classes, dtype="int64"), (x.shape[0],))


def _view_size(model: keras.Model, images, tta: str | None) -> tuple[str, int | None]:
    """``(mode, view side)``: ``None`` as the side when ``model`` takes ``images`` whole."""
    mode = check_mode(tta or "none")
    side, shape = model.inputs[0].shape[1], np.shape(images)
    if mode == "none" and (side is None or side == shape[1]):
        return mode, None
    if shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"Maps over test-time views (tta={mode!r}, a {side}-px network) need "
                         f"{IMAGE_SIZE}x{IMAGE_SIZE} faces. Received shape {shape}")
    return mode, model_input_size(model)


def _face_scorer(model: keras.Model, images, tta: str | None) -> keras.Model:
    """The class scores of whole ``images``: averaged over the views when ``model`` takes views."""
    mode, size = _view_size(model, images, tta)
    scorer = score_model(model)
    return scorer if size is None else view_model(scorer, mode)


def _input_gradients(scorer: keras.Model, x: tf.Tensor, classes: np.ndarray) -> np.ndarray:
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = scorer(x, training=False)
        # Images are independent in inference mode, so the sum's gradient is each image's own.
        total = tf.reduce_sum(tf.gather(scores, classes, axis=1, batch_dims=1))
    return tape.gradient(total, x).numpy()


def saliency(model: keras.Model, images, classes=None, *, tta: str | None = None,
             batch_size: int = 32) -> np.ndarray:
    """Vanilla-gradient saliency: ``|d score_c / d pixel|`` (max over colour channels).

    Args:
        model: a trained model taking raw 0–255 pixels.
        images: ``(n, h, w)`` or ``(n, h, w, c)``, uint8 or float; 48x48 faces for a network
            that takes smaller views of them.
        classes: class to explain, one per image or one for all; ``None`` for the predicted class.
        tta: the test-time views whose mean score is explained (see the module's docstring);
            ``None``: ``"none"``.
        batch_size: images per gradient computation.

    Returns:
        float32 maps in [0, 1] per image, shaped like ``images`` (without a colour axis > 1).

    Example:
        >>> maps = saliency(crop_network, faces, tta="tencrop")  # (n, 48, 48) for 40-px views
    """
    scorer = _face_scorer(model, images, tta)
    x = as_input(images, scorer)
    classes = _classes(scorer, x, classes, batch_size)
    grads = np.zeros(x.shape, dtype="float32")
    for i in range(0, len(classes), batch_size):
        grads[i:i + batch_size] = _input_gradients(scorer, x[i:i + batch_size],
                                                   classes[i:i + batch_size])
    return _like(_unit(np.abs(grads).max(axis=-1)), images)


def smoothgrad(model: keras.Model, images, classes=None, *, samples: int = 25,
               noise: float = 0.15, seed: int = 0, tta: str | None = None,
               batch_size: int = 32) -> np.ndarray:
    """SmoothGrad: the saliency map averaged over ``samples`` noisy copies of each image.

    Args:
        model, images, classes, tta, batch_size: as for :func:`saliency`; the class of each
            image is chosen on the clean image, so the noise cannot change which class is
            explained.
        samples: noisy copies per image.
        noise: standard deviation of the Gaussian noise as a fraction of the 0–255 range (the paper
            finds 10–20% works best).
        seed: seeds the noise.

    Returns:
        float32 maps in [0, 1] per image, shaped like ``images``.
    """
    scorer = _face_scorer(model, images, tta)
    x = as_input(images, scorer)
    classes = _classes(scorer, x, classes, batch_size)
    rng = np.random.default_rng(seed)
    total = np.zeros(x.shape, dtype="float32")
    for i in range(0, len(classes), batch_size):
        chunk, chunk_classes = x[i:i + batch_size], classes[i:i + batch_size]
        for _ in range(samples):
            noisy = chunk + rng.normal(0, noise * 255, chunk.shape).astype("float32")
            total[i:i + batch_size] += np.abs(_input_gradients(scorer, noisy, chunk_classes))
    return _like(_unit(total.max(axis=-1) / samples), images)


def grad_cam(model: keras.Model, images, classes=None, *, layer: str | None = None,
             tta: str | None = None, batch_size: int = 32) -> np.ndarray:
    """Grad-CAM: the ``layer`` activations weighted by their mean class-score gradient, ReLU'd.

    Args:
        model, images, classes, tta, batch_size: as for :func:`saliency`; with views, each
            view's map is resized to the view, unmirrored and added at its place in the face.
        layer: a layer with a 4-D output, by path (``"vgg16/block5_conv3"``) or unique name;
            ``None`` for the last conv layer (see :func:`conv_layers`).

    Returns:
        float32 maps in [0, 1] per image, resized (bilinear) to the images' size and shaped like
        ``images``; an image whose map is all zero had no positive evidence at that layer.
    """
    tapped = score_model(model, layer, tap=True)
    mode, size = _view_size(model, images, tta)
    scorer = _face_scorer(model, images, tta)
    faces = as_input(images, scorer).numpy()
    classes = _classes(scorer, tf.constant(faces), classes, batch_size)
    height, width = faces.shape[1:3]
    # whole-face views of tencrop are the face and its mirror five times each: once is enough
    places = (windows(distinct_mode(mode, size, height, width), size, height, width) if size
              else [(0, 0, False)])
    rows, cols = (size, size) if size else (height, width)
    cams = np.zeros(faces.shape[:3], dtype="float32")
    for top, left, mirrored in places:
        view = faces[:, top:top + rows, left:left + cols]
        view = as_input(np.ascontiguousarray(view[:, :, ::-1] if mirrored else view), model)
        for i in range(0, len(classes), batch_size):
            cam = _cam(tapped, view[i:i + batch_size], classes[i:i + batch_size])
            cams[i:i + batch_size, top:top + rows, left:left + cols] += (
                cam[:, :, ::-1] if mirrored else cam)
    return _like(_unit(cams), images)


def _cam(tapped: keras.Model, x: tf.Tensor, classes: np.ndarray) -> np.ndarray:
    """Grad-CAM maps ``(n, h, w)`` of one batch at the batch's own side."""
    with tf.GradientTape() as tape:
        activations, scores = tapped(x, training=False)
        total = tf.reduce_sum(tf.gather(scores, classes, axis=1, batch_dims=1))
    weights = tf.reduce_mean(tape.gradient(total, activations), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1, keepdims=True))
    return tf.image.resize(tf.cast(cam, "float32"), x.shape[1:3]).numpy()[..., 0]


def _filter_indices(tapped: keras.Model, filters) -> np.ndarray:
    channels = tapped.outputs[0].shape[-1]
    indices = np.arange(min(filters, channels)) if np.isscalar(filters) else np.asarray(filters)
    if indices.size == 0 or indices.min() < 0 or indices.max() >= channels:
        raise ValueError(f"filters must be a count or indices in [0, {channels}). "
                         f"Received: filters={filters}")
    return indices


def _ascend(model, start: np.ndarray, layer, filters, steps: int, step_size: float):
    """Gradient ascent on the input of the mean activation of one filter per image."""
    tapped = score_model(model, layer, tap=True)
    activation = keras.Model(tapped.inputs, tapped.outputs[0])
    indices = _filter_indices(tapped, filters)
    x = tf.Variable(np.broadcast_to(start, (len(indices), *start.shape[1:])).astype("float32"))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            out = activation(x, training=False)
            total = tf.reduce_sum(tf.reduce_mean(tf.gather(out, indices, axis=3, batch_dims=1),
                                                 axis=(1, 2)))
        grads = tape.gradient(total, x)
        # Normalising each image's gradient makes step_size a pixel distance, whatever the layer.
        rms = tf.sqrt(tf.reduce_mean(tf.square(grads), axis=(1, 2, 3), keepdims=True)) + 1e-8
        x.assign(tf.clip_by_value(x + step_size * grads / rms, 0.0, 255.0))
    images = x.numpy()
    return images[..., 0] if images.shape[-1] == 1 else images


def filter_patterns(model: keras.Model, layer: str | None = None, filters=16, *, steps: int = 40,
                    step_size: float = 4.0, seed: int = 0) -> np.ndarray:
    """What each filter responds to: input images maximising its mean activation, from noise.

    Args:
        model: a trained model taking raw 0–255 pixels.
        layer: as for :func:`grad_cam` (default: the last conv layer).
        filters: the first ``filters`` channels (an int), or channel indices.
        steps: gradient-ascent steps.
        step_size: RMS pixel change per step (on the 0–255 scale).
        seed: seeds the starting noise (grey 128 ± 16).

    Returns:
        float32 images in [0, 255], ``(n_filters, h, w)`` for a grey model.

    Example:
        >>> patterns = filter_patterns(model, "block2_conv2", filters=8)
    """
    rng = np.random.default_rng(seed)
    start = 128 + 16 * rng.standard_normal((1, *model.inputs[0].shape[1:]))
    return _ascend(model, start, layer, filters, steps, step_size)


def filter_on_face(model: keras.Model, face, layer: str | None = None, filters=16, *,
                   steps: int = 10, step_size: float = 4.0) -> np.ndarray:
    """A real face with each filter's gradient added onto it: what the filter would amplify there.

    Args:
        model, layer, filters, step_size: as for :func:`filter_patterns`.
        face: one image ``(h, w)`` or ``(h, w, c)``, uint8 or float.
        steps: gradient-ascent steps starting from the face (few, so the face stays visible).

    Returns:
        float32 images in [0, 255], one per filter, shaped like the face (without a colour axis
        of 1). A network that takes smaller views of the face (trained on crops) works on its
        center view, put back into the face.
    """
    whole = as_input(np.asarray(face)[None], model).numpy()
    size = model.inputs[0].shape[1]
    if size is None or size >= whole.shape[1]:
        return _ascend(model, whole, layer, filters, steps, step_size)
    top, left, _ = windows("none", size, *whole.shape[1:3])[0]
    patterns = _ascend(model, whole[:, top:top + size, left:left + size], layer, filters, steps,
                       step_size)
    out = np.repeat(whole, len(patterns), axis=0)
    out[:, top:top + size, left:left + size] = patterns.reshape(len(patterns), size, size, -1)
    return out[..., 0] if out.shape[-1] == 1 else out


def confident_mistakes(scores, labels, per_pair: int = 1) -> dict[str, np.ndarray]:
    """The most confident mistakes for each (true, predicted) pair of classes.

    Confidence is the margin ``score[predicted] - score[true]``: for probabilities the gap in
    probability, for L2-SVM or SVC scores the gap in score; it works for any head.

    Args:
        scores: class scores ``(n, k)``.
        labels: true labels ``(n,)``.
        per_pair: mistakes kept per pair.

    Returns:
        ``{"index", "true", "predicted", "margin"}`` arrays, ordered by (true, predicted) and then
        by decreasing margin.
    """
    scores, labels = np.asarray(scores, dtype="float64"), np.asarray(labels)
    predicted = scores.argmax(axis=1)
    rows = np.arange(len(labels))
    margin = scores[rows, predicted] - scores[rows, labels]
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.lexsort((-margin[wrong], predicted[wrong], labels[wrong]))]
    seen: dict[tuple[int, int], int] = {}
    keep = []
    for i in order:
        pair = (labels[i], predicted[i])
        seen[pair] = seen.get(pair, 0) + 1
        if seen[pair] <= per_pair:
            keep.append(i)
    keep = np.asarray(keep, dtype="int64")
    return {"index": keep, "true": labels[keep].astype("int64"),
            "predicted": predicted[keep].astype("int64"), "margin": margin[keep]}
