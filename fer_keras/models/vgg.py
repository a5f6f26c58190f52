"""``vgg16_transfer``: an ImageNet VGG16 conv base with a new head, trained frozen then fine-tuned.

The transfer recipe of the Keras guide: phase 1 trains the new head on a frozen base (called with
``training=False``); phase 2 makes the top conv block (``block5``) trainable with
:func:`unfreeze_top_block`, recompiles at a low learning rate and continues training.

Reference:
    F. Chollet, "Transfer learning & fine-tuning", keras.io/guides/transfer_learning;
    K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
    ICLR 2015.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
from keras import layers

from fer_keras import _io
from fer_keras.heads import FEATURE_LAYER, classifier_head
from fer_keras.models.registry import register_model

#: Name of the VGG16 base inside a ``vgg16_transfer`` model.
BASE_NAME = "vgg16"
#: The block :func:`unfreeze_top_block` makes trainable in phase 2.
TOP_BLOCK = "block5"
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
            f"`python -m fer_keras.train --model vgg16_transfer --weights /path/to/"
            f"{IMAGENET_WEIGHTS_FILE}`, or copy it to {cache / IMAGENET_WEIGHTS_FILE} so "
            "weights='imagenet' finds it offline; or train from scratch with weights=None "
            "(`--weights none`)."
        ) from err


def vgg16_base(weights="imagenet", input_shape=(96, 96, 3)) -> keras.Model:
    """The VGG16 conv base (``include_top=False``); ``weights``: ``"imagenet"``, ``None`` or a path.

    A path may be the ImageNet ``.h5`` file or a ``.weights.h5`` file written by
    :func:`save_base_weights`.
    """
    if weights == "imagenet":
        weights = _imagenet_weights_path()
    elif weights is not None and not Path(weights).is_file():
        raise ValueError("`weights` must be 'imagenet', None or the path of an existing weights "
                         f"file. Received: weights={weights!r}")
    return keras.applications.VGG16(include_top=False, weights=weights, input_shape=input_shape,
                                    name=BASE_NAME)


def unfreeze_top_block(model: keras.Model, block: str = TOP_BLOCK) -> keras.Model:
    """Phase 2: make exactly ``block`` of the VGG16 base trainable (the head stays trainable).

    Recompile the model afterwards: trainability is read when the train function is built.
    """
    base = model.get_layer(BASE_NAME)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.startswith(f"{block}_")
    return model


def save_base_weights(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save the VGG16 base of ``model`` to ``path`` (``*.weights.h5``), for ``weights=path``."""
    path = Path(path)
    with _io.atomic_path(path) as tmp:
        model.get_layer(BASE_NAME).save_weights(tmp)
    return path


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
    if image_size < 32:
        raise ValueError(f"VGG16 needs images of at least 32x32. Received: image_size={image_size}")
    channels = input_shape[-1]
    if channels not in (1, 3):
        raise ValueError(f"Expected 1 or 3 input channels. Received: input_shape={input_shape}")

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Resizing(image_size, image_size, name="resize")(inputs)
    if channels == 1:
        x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = VGG16Preprocess(name="vgg16_preprocess")(x)
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
