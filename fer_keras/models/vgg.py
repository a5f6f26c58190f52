"""ImageNet VGG16 transfer models: ``vgg16_transfer`` and ``vgg16_nin``.

The transfer recipe of the Keras guide: phase 1 trains the new layers on a frozen base (called with
``training=False``); phase 2 makes part of the base trainable (``block5`` for ``vgg16_transfer``
with :func:`unfreeze_top_block`, the whole truncated base for ``vgg16_nin`` with
:func:`unfreeze_base`), recompiles at a low learning rate and continues training.

Reference:
    F. Chollet, "Transfer learning & fine-tuning", keras.io/guides/transfer_learning;
    K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
    ICLR 2015.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
from keras import layers

from fer_keras import _io
from fer_keras.models.heads import classifier_head
from fer_keras.models.names import FEATURE_LAYER
from fer_keras.models.registry import register_model

#: Name of the VGG16 base inside a ``vgg16_transfer`` model.
BASE_NAME = "vgg16"
#: The block :func:`unfreeze_top_block` makes trainable in phase 2.
TOP_BLOCK = "block5"
#: The last VGG16 layer ``vgg16_nin`` keeps (blocks 1-3).
NIN_BASE_TOP = "block3_pool"
#: The file ``weights="imagenet"`` downloads, and where from.
IMAGENET_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                        + IMAGENET_WEIGHTS_FILE)
_IMAGENET_WEIGHTS_MD5 = "6d6bbae143d832006294945121d1f1fc"


@keras.saving.register_keras_serializable(package="fer_keras")
class VGG16Preprocess(layers.Layer):
    """``keras.applications.vgg16.preprocess_input`` as a layer (RGB→BGR, minus the ImageNet mean).

    A layer rather than a ``Lambda`` so saved models load anywhere without ``safe_mode=False``.
    """

    def call(self, inputs):
        return keras.applications.vgg16.preprocess_input(inputs)


def _imagenet_weights_path() -> str:
    try:
        return keras.utils.get_file(IMAGENET_WEIGHTS_FILE, IMAGENET_WEIGHTS_URL,
                                    cache_subdir="models", file_hash=_IMAGENET_WEIGHTS_MD5)
    except Exception as err:  # get_file raises a bare Exception on network errors
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        raise RuntimeError(
            f"Could not download the ImageNet VGG16 weights ({err}). Either download "
            f"{IMAGENET_WEIGHTS_URL} on a machine with internet access and pass its path, e.g. "
            f"build_model('vgg16_transfer', weights='/path/to/{IMAGENET_WEIGHTS_FILE}') or "
            f"`fer-keras train --arch vgg16_transfer --weights /path/to/"
            f"{IMAGENET_WEIGHTS_FILE}`, or copy it to {cache / IMAGENET_WEIGHTS_FILE} so "
            "weights='imagenet' finds it offline; or train from scratch with weights=None "
            "(`--weights none`)."
        ) from err


def vgg16_base(weights="imagenet", input_shape=(96, 96, 3), *,
               last_layer: str | None = None) -> keras.Model:
    """The VGG16 conv base (``include_top=False``); ``weights``: ``"imagenet"``, ``None`` or a path.

    A path may be the ImageNet ``.h5`` file or a ``.weights.h5`` file written by
    :func:`save_base_weights`. With ``last_layer`` (e.g. ``"block3_pool"``) the base ends at that
    layer; it then loads the matching layers of a full file by name, or a file saved from an
    equally truncated base.
    """
    if weights == "imagenet":
        weights = _imagenet_weights_path()
    elif weights is not None and not Path(weights).is_file():
        raise ValueError("`weights` must be 'imagenet', None or the path of an existing weights "
                         f"file. Received: weights={weights!r}")
    if last_layer is None:
        return keras.applications.VGG16(include_top=False, weights=weights,
                                        input_shape=input_shape, name=BASE_NAME)
    full = keras.applications.VGG16(include_top=False, weights=None, input_shape=input_shape)
    base = keras.Model(full.input, full.get_layer(last_layer).output, name=BASE_NAME)
    if weights is not None:
        # Legacy .h5 files (the ImageNet one) load topologically unless told to match names;
        # .weights.h5 files always match by layer name.
        legacy = not str(weights).endswith(".weights.h5")
        base.load_weights(weights, **({"by_name": True} if legacy else {}))
    return base


def unfreeze_top_block(model: keras.Model, block: str = TOP_BLOCK) -> keras.Model:
    """Phase 2: make exactly ``block`` of the VGG16 base trainable (the head stays trainable).

    Recompile the model afterwards: trainability is read when the train function is built.
    """
    base = model.get_layer(BASE_NAME)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.startswith(f"{block}_")
    return model


def unfreeze_base(model: keras.Model) -> keras.Model:
    """Phase 2 of ``vgg16_nin``: make the whole VGG16 base (blocks 1-3) trainable.

    Recompile the model afterwards: trainability is read when the train function is built.
    """
    base = model.get_layer(BASE_NAME)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = True
    return model


def save_base_weights(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save the VGG16 base of ``model`` to ``path`` (``*.weights.h5``), for ``weights=path``."""
    path = Path(path)
    with _io.atomic_path(path) as tmp:
        model.get_layer(BASE_NAME).save_weights(tmp)
    return path


def _vgg16_input(input_shape, image_size: int):
    """``(inputs, x)``: raw 0–255 faces resized to ``image_size``, grey → RGB, preprocessed."""
    if image_size < 32:
        raise ValueError(f"VGG16 needs images of at least 32x32. Received: image_size={image_size}")
    channels = input_shape[-1]
    if channels not in (1, 3):
        raise ValueError(f"Expected 1 or 3 input channels. Received: input_shape={input_shape}")
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Resizing(image_size, image_size, name="resize")(inputs)
    if channels == 1:
        x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    return inputs, VGG16Preprocess(name="vgg16_preprocess")(x)


@register_model("vgg16_transfer", fine_tune=unfreeze_top_block)
def vgg16_transfer(input_shape=(48, 48, 1), num_classes: int = 7, *, weights="imagenet",
                   image_size: int = 96, dense_units: int = 256, dropout: float = 0.5,
                   head: str = "softmax", l2: float = 1e-4,
                   name: str = "vgg16_transfer") -> keras.Model:
    """VGG16 conv base (frozen) → flatten → dense ``"features"`` → dropout → ``head``.

    Input adaptation is part of the model, so it takes raw 0–255 grey faces: resize to
    ``image_size`` (VGG16's five poolings leave 3x3 cells at 96 px, a single cell at 48 px), grey →
    3 identical channels, then ``vgg16.preprocess_input``. The base is frozen and called with
    ``training=False``; call :func:`unfreeze_top_block` for phase 2.

    Args:
        input_shape: raw image shape, channels last, 1 or 3 channels.
        num_classes: number of classes.
        weights: ``"imagenet"`` (downloaded once to ``~/.keras/models``), ``None`` (random init) or
            the path of a weights file.
        image_size: side the faces are resized to before the base (at least 32).
        dense_units: width of the ``"features"`` layer.
        dropout: dropout rate before the head.
        head: ``"softmax"`` or ``"l2svm"``.
        l2: L2 penalty on the L2-SVM score layer.
        name: model name.

    Example:
        >>> model = vgg16_transfer(weights=None, image_size=48)
        >>> [lyr.name for lyr in model.layers if lyr.trainable_weights]
        ['features', 'predictions']
    """
    inputs, x = _vgg16_input(input_shape, image_size)
    base = vgg16_base(weights, (image_size, image_size, 3))
    base.trainable = False
    # training=False keeps the base in inference mode even once block5 is unfrozen (the Keras
    # recipe).
    x = base(x, training=False)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(dropout, name="features_dropout")(x)
    outputs = classifier_head(x, num_classes, head, l2=l2)
    return keras.Model(inputs, outputs, name=name)


@register_model("vgg16_nin", fine_tune=unfreeze_base)
def vgg16_nin(input_shape=(48, 48, 1), num_classes: int = 7, *, weights="imagenet",
              image_size: int = 96, nin_filters: Sequence[int] = (512, 256, 128),
              dropout: float = 0.5, freeze_base: bool | None = None, head: str = "softmax",
              l2: float = 1e-4, name: str = "vgg16_nin") -> keras.Model:
    """VGG16 blocks 1-3 (frozen) → a Network-in-Network block → global average pooling → ``head``.

    The input adaptation is that of :func:`vgg16_transfer` (resize to ``image_size``, grey → RGB,
    ``vgg16.preprocess_input``), so the model takes raw 0–255 grey faces. Only blocks 1-3 of VGG16
    are kept (up to ``block3_pool``, 12x12x256 at 96 px): later blocks are the most specific to
    ImageNet (Yosinski et al. 2014) and hold most of the parameters. The NiN block is a 3x3 conv
    (``nin_filters[0]``) → batch norm → ReLU, then two 1x1 ReLU convs (``nin_filters[1]``,
    ``nin_filters[2]``) each followed by dropout; global average pooling of the last map is
    ``"features"``. Phase 1 trains the NiN block and head on the frozen base (called with
    ``training=False``); phase 2 (:func:`unfreeze_base`, the registered ``fine_tune``) trains
    everything.

    Args:
        input_shape: raw image shape, channels last, 1 or 3 channels.
        num_classes: number of classes.
        weights: ``"imagenet"`` (downloaded once to ``~/.keras/models``), ``None`` (random init) or
            the path of a weights file (see :func:`vgg16_base`).
        image_size: side the faces are resized to before the base (at least 32).
        nin_filters: widths of the NiN block's 3x3 conv and its two 1x1 convs.
        dropout: dropout rate after each 1x1 conv.
        freeze_base: freeze the base in phase 1; ``None``: only when it has pre-trained weights
            (a random base is trained from the start, as the report's "from scratch" runs).
        head: ``"softmax"`` or ``"l2svm"``.
        l2: L2 penalty on the L2-SVM score layer.
        name: model name.

    Example:
        >>> model = vgg16_nin(weights=None)
        >>> model.get_layer("features").output.shape
        (None, 128)

    Reference:
        M. Lin, Q. Chen, S. Yan, "Network In Network", ICLR 2014; K. Simonyan, A. Zisserman,
        "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015.
    """
    nin_filters = list(nin_filters)
    if len(nin_filters) != 3:
        raise ValueError("`nin_filters` must hold three widths (3x3 conv, 1x1 conv, 1x1 conv). "
                         f"Received: nin_filters={nin_filters}")

    inputs, x = _vgg16_input(input_shape, image_size)
    base = vgg16_base(weights, (image_size, image_size, 3), last_layer=NIN_BASE_TOP)
    base.trainable = not (weights is not None if freeze_base is None else freeze_base)
    x = base(x, training=False)
    x = layers.Conv2D(nin_filters[0], 3, padding="same", use_bias=False, name="nin_conv1")(x)
    x = layers.BatchNormalization(name="nin_bn1")(x)
    x = layers.ReLU(name="nin_relu1")(x)
    for i, width in enumerate(nin_filters[1:], start=2):
        x = layers.Conv2D(width, 1, activation="relu", name=f"nin_conv{i}")(x)
        x = layers.Dropout(dropout, name=f"nin_dropout{i}")(x)
    x = layers.GlobalAveragePooling2D(name=FEATURE_LAYER)(x)
    outputs = classifier_head(x, num_classes, head, l2=l2)
    return keras.Model(inputs, outputs, name=name)
