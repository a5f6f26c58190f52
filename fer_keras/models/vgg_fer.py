"""``vgg_fer``: the VGG variant of Khaireddin & Chen (2021), 73.28% on the FER2013 private test."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from fer_keras.models.heads import classifier_head
from fer_keras.models.names import FEATURE_LAYER
from fer_keras.models.registry import register_model


@register_model("vgg_fer")
def vgg_fer(input_shape=(40, 40, 1), num_classes: int = 7, *,
            stackwise_num_filters: Sequence[int] = (64, 128, 256, 512), fc_units: int = 4096,
            dropout: float = 0.2, head: str = "softmax", l2: float = 1e-4,
            name: str = "vgg_fer") -> keras.Model:
    """Four stages of 2 x (3x3 conv → batch norm → ReLU) + max pooling, two FC layers, the ``head``.

    The paper trains on random 40x40 crops of the 48x48 faces (and averages ten crops at test
    time), hence the default ``input_shape``; the four poolings leave 2x2x512 at 40 px, 3x3x512
    at 48 px, and the model builds at either. The map is flattened into two ``fc_units``-wide
    ReLU layers, each followed by dropout; the second is ``"features"``. Convs have no bias (the
    batch norm after them has one). At 40 px: 29.9 M parameters, 25.2 M of them in the FC layers.

    Args:
        input_shape: raw 0–255 image shape, channels last; rescaled to [0, 1] inside the model.
        num_classes: number of classes.
        stackwise_num_filters: channels per stage; one stage per entry.
        fc_units: width of both FC layers (the second is ``"features"``).
        dropout: dropout rate after each FC layer.
        head: ``"softmax"`` or ``"l2svm"`` (see :mod:`fer_keras.models.heads`; ``"svc"`` trains a
            softmax).
        l2: L2 penalty on the L2-SVM score layer.
        name: model name.

    Example:
        >>> model = vgg_fer()
        >>> model.input_shape, model.output_shape
        ((None, 40, 40, 1), (None, 7))

    Reference:
        Y. Khaireddin, Z. Chen, "Facial Emotion Recognition: State of the Art Performance on
        FER2013", arXiv:2105.03588, 2021.
    """
    filters = list(stackwise_num_filters)
    if not filters:
        raise ValueError("`stackwise_num_filters` needs at least one stage. "
                         "Received: stackwise_num_filters=[]")

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for stage, width in enumerate(filters, start=1):
        for i in (1, 2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False,
                              name=f"block{stage}_conv{i}")(x)
            x = layers.BatchNormalization(name=f"block{stage}_bn{i}")(x)
            x = layers.ReLU(name=f"block{stage}_relu{i}")(x)
        x = layers.MaxPooling2D(name=f"block{stage}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="fc1_dropout")(x)
    x = layers.Dense(fc_units, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(dropout, name="features_dropout")(x)
    outputs = classifier_head(x, num_classes, head, l2=l2)
    return keras.Model(inputs, outputs, name=name)
