"""``bst261_cnn``: the plain VGG-style CNN of a BST261 course project on FER2013."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from fer_keras.models.heads import classifier_head
from fer_keras.models.names import FEATURE_LAYER
from fer_keras.models.registry import register_model


@register_model("bst261_cnn")
def bst261_cnn(input_shape=(48, 48, 1), num_classes: int = 7, *,
               filters: Sequence[int] = (32, 64, 128), convs_per_block: int = 3,
               dense_units: Sequence[int] = (256, 128), dropout: float = 0.5,
               head: str = "softmax", l2: float = 1e-4, name: str = "bst261_cnn") -> keras.Model:
    """Three blocks of 3x3 ReLU convs with max pooling, then two dense layers and the ``head``.

    Each block ``i`` is ``convs_per_block`` x (3x3 same-padded conv with ReLU) at ``filters[i]``
    channels, then 2x2 max pooling (48 → 24 → 12 → 6). The last map is flattened into
    ``dense_units[0]`` ReLU units, dropout, and ``dense_units[1]`` ReLU units: that second dense
    layer is ``"features"``. No batch norm, as in the original.

    The project merged *disgust* (1.5% of FER2013) into *angry* and trained on six classes; build
    with ``num_classes=6`` and merge the labels with :func:`fer_keras.data.loading.merge_disgust`.

    Args:
        input_shape: raw 0–255 image shape, channels last; rescaled to [0, 1] inside the model.
        num_classes: number of classes (6 for the project's merged labels, 7 for FER2013's).
        filters: channels per block (``stackwise_num_filters``); one block per entry.
        convs_per_block: 3x3 convs in every block.
        dense_units: widths of the two dense layers; the second is ``"features"``.
        dropout: dropout rate between the two dense layers.
        head: ``"softmax"`` or ``"l2svm"`` (see :mod:`fer_keras.models.heads`; ``"svc"`` trains a
            softmax).
        l2: L2 penalty on the L2-SVM score layer.
        name: model name.

    Example:
        >>> model = bst261_cnn(num_classes=6)
        >>> model.output_shape
        (None, 6)

    Reference:
        The BST261 (Data Science II) course project on FER2013 that fer_keras issue 4 cites:
        this architecture, six classes with disgust merged into angry.
    """
    filters = list(filters)
    dense_units = list(dense_units)
    if not filters:
        raise ValueError("`filters` needs at least one block. Received: filters=[]")
    if convs_per_block < 1:
        raise ValueError(f"`convs_per_block` must be positive. Received: {convs_per_block}")
    if len(dense_units) != 2:
        raise ValueError(f"`dense_units` must hold two widths. Received: dense_units={dense_units}")

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for block, width in enumerate(filters, start=1):
        for i in range(1, convs_per_block + 1):
            x = layers.Conv2D(width, 3, padding="same", activation="relu",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units[0], activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dense_dropout")(x)
    x = layers.Dense(dense_units[1], activation="relu", name=FEATURE_LAYER)(x)
    outputs = classifier_head(x, num_classes, head, l2=l2)
    return keras.Model(inputs, outputs, name=name)
