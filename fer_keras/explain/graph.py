"""Rewiring a trained model for :mod:`fer_keras.explain`: class scores before softmax, inner layers.

Explanations need two things a saved model does not output: the class score before the softmax,
and the activations of an inner layer, possibly inside a nested model (the VGG16 base of
``vgg16_transfer``). :func:`score_model` builds a model sharing the original's weights that outputs
both. Layers are named by their path, e.g. ``"vgg16/block5_conv3"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from fer_keras.evaluation.run_dir import outputs_softmax

_CONV_TYPES = (layers.Conv2D, layers.SeparableConv2D, layers.DepthwiseConv2D)


def _walk(model: keras.Model, prefix: str = ""):
    """(path, layer) for every layer, nested models included, in graph order."""
    for layer in model.layers:
        yield prefix + layer.name, layer
        if isinstance(layer, keras.Model):
            yield from _walk(layer, f"{prefix}{layer.name}/")


def _is_4d(layer) -> bool:
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):  # a layer never called, or called more than once
        return False


def conv_layers(model: keras.Model) -> list[str]:
    """Paths of the conv layers of ``model`` in graph order (e.g. ``"vgg16/block5_conv3"``)."""
    return [path for path, layer in _walk(model) if isinstance(layer, _CONV_TYPES)]


def resolve_layer(model: keras.Model, layer: str | None = None) -> str:
    """The path of ``layer`` (a path, or a name unique in the model); ``None``: the last conv layer.

    Any layer with a 4-D output (conv, activation, pooling) is accepted; the error lists the conv
    layers.
    """
    convs = conv_layers(model)
    if layer is None:
        if not convs:
            raise ValueError(f"Model {model.name!r} has no conv layer; pass a layer name.")
        return convs[-1]
    matches = [path for path, lyr in _walk(model)
               if (path == layer or path.split("/")[-1] == layer) and _is_4d(lyr)]
    if len(matches) != 1:
        reason = "no layer with a 4-D output named" if not matches else "several layers named"
        raise ValueError(f"Model {model.name!r} has {reason} {layer!r}. "
                         f"Conv layers: {', '.join(convs) or 'none'}.")
    return matches[0]


def _rewire(model: keras.Model, path: Sequence[str], logits: bool) -> keras.Model:
    """``model`` sharing its weights, outputting ``[layer at path, scores]`` (or ``scores``).

    The graph is replayed with ``clone_model(call_function=...)``: a layer inside a nested model is
    not reachable from the outer model's inputs, so the nested model is rewired the same way to
    return that layer's output too.
    """
    taps = []
    last = model.layers[-1]
    swap = logits and isinstance(last, layers.Dense) and outputs_softmax(model)

    def call(layer, *args, **kwargs):
        if path and layer.name == path[0] and len(path) > 1:
            tap, out = _rewire(layer, path[1:], logits=False)(*args, **kwargs)
            taps.append(tap)
            return out
        if swap and layer is last:
            linear = layers.Dense.from_config({**layer.get_config(), "activation": "linear",
                                               "name": f"{layer.name}_logits"})
            out = linear(*args, **kwargs)
            linear.set_weights(layer.get_weights())
        else:
            out = layer(*args, **kwargs)
        if path and layer.name == path[0]:
            taps.append(out)
        return out

    clone = keras.models.clone_model(model, clone_function=lambda layer: layer,
                                     call_function=call)
    scores = clone.outputs[0]
    return keras.Model(clone.input, [taps[0], scores] if path else scores,
                       name=f"{model.name}_explain")


def score_model(model: keras.Model, layer: str | None = None, *, tap: bool = False) -> keras.Model:
    """A model sharing ``model``'s weights whose output is the class scores before any softmax.

    A softmax ``Dense`` output layer is replayed as a linear copy of itself (its logits); any other
    output (L2-SVM scores) is kept as it is.

    Args:
        model: a functional model.
        layer: with ``tap=True``, the layer to output too (see :func:`resolve_layer`).
        tap: output ``[activations of layer, scores]`` instead of ``scores``.

    Example:
        >>> grad_model = score_model(vgg_model, "vgg16/block5_conv3", tap=True)
        >>> activations, scores = grad_model(images)
    """
    path = resolve_layer(model, layer).split("/") if tap else []
    return _rewire(model, path, logits=True)


def as_input(images, model: keras.Model) -> tf.Tensor:
    """``images`` (n, h, w) or (n, h, w, c), uint8 or float, as the model's float32 input batch."""
    x = np.asarray(images, dtype="float32")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must be (n, h, w) or (n, h, w, c). Received shape {x.shape}")
    if model.inputs[0].shape[-1] == 3 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return tf.constant(x)
