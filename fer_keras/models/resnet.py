"""``resnet18``: ResNet-18 from scratch, its stem adapted to 48x48 grey faces."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from fer_keras.models.heads import classifier_head
from fer_keras.models.names import FEATURE_LAYER
from fer_keras.models.registry import register_model


def basic_block(x, filters: int, stride: int, name: str):
    """Two 3x3 conv → batch norm layers plus a shortcut, then ReLU (He et al. 2016, fig. 2).

    The shortcut is the identity, or a strided 1x1 conv → batch norm where the block changes
    the resolution or the width.
    """
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                 name=f"{name}_shortcut_conv")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_shortcut_bn")(shortcut)
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv1")(x)
    x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = layers.BatchNormalization(name=f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.ReLU(name=f"{name}_out")(x)


@register_model("resnet18")
def resnet18(input_shape=(48, 48, 1), num_classes: int = 7, *,
             stackwise_num_filters: Sequence[int] = (64, 128, 256, 512),
             stackwise_num_blocks: Sequence[int] = (2, 2, 2, 2), dropout: float = 0.0,
             head: str = "softmax", l2: float = 1e-4, name: str = "resnet18") -> keras.Model:
    """ResNet-18 for 48x48: 3x3 stride-1 stem, four stages of basic blocks, global average pooling.

    ImageNet's 7x7 stride-2 stem and max pooling would shrink a 48x48 face to 12x12 before the
    first block; here the stem is a 3x3 stride-1 conv (the CIFAR variant), so stage 1 sees 48x48
    and stages 2–4 halve it with a stride-2 first block (48 → 24 → 12 → 6). The global average
    pooled vector is ``"features"``, followed by dropout and the ``head``. With the defaults the 17
    convs (stem + 2 per block, 1x1 shortcut projections aside) and the score layer are the 18
    weight layers of the name; 11.2 M parameters.

    Args:
        input_shape: raw 0–255 image shape, channels last; rescaled to [0, 1] inside the model.
        num_classes: number of classes.
        stackwise_num_filters: channels per stage; the stem has ``stackwise_num_filters[0]``.
        stackwise_num_blocks: basic blocks per stage, as many entries as
            ``stackwise_num_filters``.
        dropout: dropout rate between ``"features"`` and the head.
        head: ``"softmax"`` or ``"l2svm"`` (see :mod:`fer_keras.models.heads`; ``"svc"`` trains a
            softmax).
        l2: L2 penalty on the L2-SVM score layer.
        name: model name.

    Example:
        >>> model = resnet18(stackwise_num_filters=(8, 16), stackwise_num_blocks=(1, 1))
        >>> model.get_layer("features").output.shape
        (None, 16)

    Reference:
        K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
        CVPR 2016.
    """
    filters, blocks = list(stackwise_num_filters), list(stackwise_num_blocks)
    if not filters or len(filters) != len(blocks) or min(blocks) < 1:
        raise ValueError("`stackwise_num_filters` and `stackwise_num_blocks` need one entry per "
                         "stage, at least one stage and one block per stage. Received: "
                         f"stackwise_num_filters={filters}, stackwise_num_blocks={blocks}")

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = layers.Conv2D(filters[0], 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, (width, n_blocks) in enumerate(zip(filters, blocks), start=1):
        for block in range(1, n_blocks + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = basic_block(x, width, stride, name=f"stage{stage}_block{block}")
    x = layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(x)
    x = layers.Dropout(dropout, name="features_dropout")(x)
    outputs = classifier_head(x, num_classes, head, l2=l2)
    return keras.Model(inputs, outputs, name=name)
