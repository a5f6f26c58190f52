"""``susa_cnn``: nine convs with shrinking kernels (5x5 → 1x1), then tanh dense layers."""

from __future__ import annotations

import keras
from keras import layers

from fer_keras.models.heads import classifier_head
from fer_keras.models.names import FEATURE_LAYER
from fer_keras.models.registry import register_model

#: ``(filters, kernel_size)`` of each conv, per block; blocks 1 and 2 end in 2x2 max pooling.
SUSA_BLOCKS = (
    ((32, 5), (64, 3), (64, 3), (128, 3)),
    ((128, 3), (64, 2), (64, 2)),
    ((64, 1), (64, 1)),
)


@register_model("susa_cnn")
def susa_cnn(input_shape=(48, 48, 1), num_classes: int = 7, *, width: float = 1.0,
             batch_norm: bool = False, dropout: float = 0.3, dense_units=(128, 32),
             head: str = "softmax", l2: float = 1e-4, name: str = "susa_cnn") -> keras.Model:
    """Conv 32 5x5, 64 3x3, 64 3x3, 128 3x3 → pool → 128 3x3, 64 2x2, 64 2x2 → pool → two 64 1x1
    → flatten → dense 128 tanh → dense 32 tanh (``"features"``) → ``head``.

    Every conv is same-padded with ReLU (48 → 24 → 12 spatially); the 1x1 convs mix channels
    without looking further, so the flattened 12x12x64 map keeps where each feature sits. With
    ``batch_norm=True`` each conv becomes conv (no bias) → batch norm → ReLU; the original has
    none. Dropout follows each pooling and the first dense layer.

    Args:
        input_shape: raw 0–255 image shape, channels last; rescaled to [0, 1] inside the model.
        num_classes: number of classes.
        width: multiplier on every conv's filters (``0.125`` for quick tests); 1 is the original.
        batch_norm: batch norm after every conv.
        dropout: dropout rate after each pooling and after the first dense layer.
        dense_units: widths of the two tanh dense layers; the second is ``"features"``.
        head: ``"softmax"`` or ``"l2svm"`` (see :mod:`fer_keras.models.heads`; ``"svc"`` trains a
            softmax).
        l2: L2 penalty on the L2-SVM score layer.
        name: model name.

    Example:
        >>> model = susa_cnn(batch_norm=True)
        >>> model.get_layer("features").output.shape
        (None, 32)

    Reference:
        The "Susa" FER2013 network cited by fer_keras issue 4 (architecture as listed there).
    """
    if width <= 0:
        raise ValueError(f"`width` must be positive. Received: width={width}")
    dense_units = list(dense_units)
    if len(dense_units) != 2:
        raise ValueError(f"`dense_units` must hold two widths. Received: dense_units={dense_units}")

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for block, convs in enumerate(SUSA_BLOCKS, start=1):
        for i, (filters, kernel) in enumerate(convs, start=1):
            prefix = f"block{block}_conv{i}"
            filters = max(1, round(filters * width))
            if batch_norm:
                x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=prefix)(x)
                x = layers.BatchNormalization(name=f"block{block}_bn{i}")(x)
                x = layers.ReLU(name=f"block{block}_relu{i}")(x)
            else:
                x = layers.Conv2D(filters, kernel, padding="same", activation="relu",
                                  name=prefix)(x)
        if block < len(SUSA_BLOCKS):
            x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
            x = layers.Dropout(dropout, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units[0], activation="tanh", name="dense")(x)
    x = layers.Dropout(dropout, name="dense_dropout")(x)
    x = layers.Dense(dense_units[1], activation="tanh", name=FEATURE_LAYER)(x)
    outputs = classifier_head(x, num_classes, head, l2=l2)
    return keras.Model(inputs, outputs, name=name)
