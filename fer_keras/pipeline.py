"""tf.data pipelines over FER2013 arrays: shuffling, augmentation, equalisation, resizing.

Images stay uint8 48x48 in memory; augmentation, float conversion, resizing and grey→RGB happen per
batch on the fly, so a 96x96x3 view of the whole set is never held in memory. Values stay raw 0-255:
models rescale inside themselves, so a saved model takes raw pixels.

Example:
    >>> ds = make_dataset(x, y, batch_size=64, training=True, augment=True)  # doctest: +SKIP
"""

from __future__ import annotations

import math

import cv2
import keras
import numpy as np
import tensorflow as tf

#: Default augmentation: what the FER2013 literature uses, at strengths that keep a face a face.
DEFAULT_AUGMENT = {"flip": True, "shift": 0.1, "rotation": 10.0, "zoom": 0.1, "shear": 0.0}
EQUALIZE_METHODS = (None, "hist", "clahe")


def equalize_images(images: np.ndarray, method: str | None = "hist", *, clip_limit: float = 2.0,
             tile: int = 8) -> np.ndarray:
    """Histogram-equalise uint8 `(n, h, w)` images with OpenCV (`equalizeHist` or CLAHE).

    Deterministic per image, so it is applied once to the arrays, the same way for every split (and
    by `fer_keras.predict` from the run's config).
    """
    if method not in EQUALIZE_METHODS:
        raise ValueError(f"Unknown equalize method. Expected one of {EQUALIZE_METHODS}. "
                         f"Received: equalize={method!r}")
    if method is None:
        return images
    images = np.ascontiguousarray(images, np.uint8)
    if method == "hist":
        return np.stack([cv2.equalizeHist(im) for im in images]) if len(images) else images
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tile, tile))
    return np.stack([clahe.apply(im) for im in images]) if len(images) else images


def augmentation(config: dict | bool | None = True, seed: int = 0) -> keras.Sequential | None:
    """Keras preprocessing layers for `config` (keys of `DEFAULT_AUGMENT`); None when off.

    `rotation` is in degrees; `shift`, `zoom` and `shear` are fractions of the image size.
    """
    if not config:
        return None
    cfg = dict(DEFAULT_AUGMENT, **(config if isinstance(config, dict) else {}))
    unknown = set(cfg) - set(DEFAULT_AUGMENT)
    if unknown:
        raise ValueError(f"Unknown augmentation keys {sorted(unknown)}. "
                         f"Expected some of {sorted(DEFAULT_AUGMENT)}.")
    layers = []
    if cfg["flip"]:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if cfg["rotation"]:
        layers.append(keras.layers.RandomRotation(cfg["rotation"] / 360.0, fill_mode="reflect",
                                                  seed=seed + 1))
    if cfg["shift"]:
        layers.append(keras.layers.RandomTranslation(cfg["shift"], cfg["shift"],
                                                     fill_mode="reflect", seed=seed + 2))
    if cfg["zoom"]:
        layers.append(keras.layers.RandomZoom(cfg["zoom"], fill_mode="reflect", seed=seed + 3))
    if cfg["shear"]:
        layers.append(keras.layers.RandomShear(x_factor=cfg["shear"], y_factor=cfg["shear"],
                                               fill_mode="reflect", seed=seed + 4))
    return keras.Sequential(layers, name="augmentation") if layers else None


def make_dataset(images, labels=None, *, batch_size: int = 64, training: bool = False,
                 seed: int = 0, augment: dict | bool | None = None, equalize: str | None = None,
                 image_size: int | None = None, channels: int = 1, num_classes: int | None = None,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """A batched, prefetched `tf.data.Dataset` of float32 `(b, h, w, channels)` raw 0-255 images.

    Args:
        images: uint8 `(n, 48, 48)` (or `(n, 48, 48, 1)`).
        labels: int `(n,)`; None yields images only.
        training: shuffle every epoch (seeded) and apply `augment`.
        augment: True for `DEFAULT_AUGMENT`, a dict to override it, None/False for none.
        equalize: None, "hist" or "clahe" (see `equalize_images`).
        image_size: resize to `image_size` x `image_size` per batch (for ImageNet backbones).
        channels: 1, or 3 to repeat grey into RGB per batch.
        num_classes: when given, labels are one-hot float32 (for label smoothing / mixup).
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must be (n, h, w). Received shape {images.shape}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    images = equalize_images(images, equalize)[..., None]
    tensors = images if labels is None else (images, np.asarray(labels, np.int64))
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if training:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    aug = augmentation(augment, seed) if training else None

    def prepare(x, y=None):
        x = tf.cast(x, tf.float32)
        if aug is not None:
            x = aug(x, training=True)
        if image_size:
            x = tf.image.resize(x, (image_size, image_size))
        if channels == 3:
            x = tf.repeat(x, 3, axis=-1)
        if y is None:
            return x
        if num_classes:
            y = tf.one_hot(y, num_classes)
        return x, y

    # The augmentation layers draw from stateful seed generators: batches mapped in parallel would
    # take their random numbers in a varying order, so a seeded run would not repeat. One mapping
    # thread keeps the order; prefetching still overlaps it with training.
    parallel = 1 if aug is not None else tf.data.AUTOTUNE
    ds = ds.map(prepare, num_parallel_calls=parallel, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def steps(n: int, batch_size: int) -> int:
    """Batches per epoch for `n` images."""
    return math.ceil(n / batch_size)
