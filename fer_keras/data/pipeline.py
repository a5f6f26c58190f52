"""tf.data pipelines over FER2013 arrays: shuffling, augmentation, cropping, equalisation, resizing.

Images stay uint8 48x48 in memory; augmentation, cropping, float conversion, resizing and grey→RGB
happen per batch on the fly, so a 96x96x3 view of the whole set is never held in memory. Values stay
raw 0-255: models rescale inside themselves, so a saved model takes raw pixels.

A network trained on crops (``crop=40``, as the VGG of Khaireddin & Chen 2021) sees one random crop
per image per epoch; its evaluation batches are center crops, and ``fer_keras.evaluation.tta``
averages it
over ten crops at test time. (Ten crops per image per training epoch would cost ten times as much
per epoch on a CPU.)

Example:
    >>> ds = make_dataset(x, y, batch_size=64, training=True, augment=True)  # doctest: +SKIP
"""

from __future__ import annotations

import math

import cv2
import keras
import numpy as np
import tensorflow as tf

from fer_keras.data.settings import DEFAULT_AUGMENT, EQUALIZE_METHODS


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


def augmentation(config: dict | bool | None = True, seed: int = 0,
                 crop: int | None = None) -> keras.Sequential | None:
    """Keras preprocessing layers for `config` (keys of `DEFAULT_AUGMENT`) and a random `crop`.

    `rotation` is in degrees; `shift`, `zoom` and `shear` are fractions of the image size.
    `resized_crop` is a range `[low, high]` of the area, relative to the image, of the region
    zoomed to fill the image (as `torchvision.transforms.RandomResizedCrop(48, scale=...)`):
    below 1 zooms in, above 1 zooms out (reflecting the border); height and width are scaled
    independently, so the aspect ratio varies within `sqrt(low / high)` and its inverse.
    `erasing` is the probability, per image, of random erasing (Zhong et al. 2017, with Keras's
    `RandomErasing`): a rectangle of about 2-33% of the (cropped) image filled with
    `erasing_value`, or with random values when it is None (Keras draws `255 * N(0, 1)` clipped
    to 0-255). Erasing comes after the crop, as in the recipe of Khaireddin & Chen.
    The crop takes a new position per image (`RandomCropEach`). Rotation, shift, zoom and shear
    are one `RandomAffine` layer: one resampling per image instead of one per transform. Returns
    None when nothing is on.
    """
    cfg = {}
    if config:
        cfg = dict(DEFAULT_AUGMENT, **(config if isinstance(config, dict) else {}))
        unknown = set(cfg) - set(DEFAULT_AUGMENT)
        if unknown:
            raise ValueError(f"Unknown augmentation keys {sorted(unknown)}. "
                             f"Expected some of {sorted(DEFAULT_AUGMENT)}.")
    # float32 whatever the global policy: under mixed_float16 RandomErasing fails (a float16
    # range), and the network casts its input itself.
    f32 = {"dtype": "float32"}
    layers = []
    if cfg.get("resized_crop"):
        low, high = _area_range(cfg["resized_crop"])
        side = (math.sqrt(low) - 1.0, math.sqrt(high) - 1.0)
        layers.append(keras.layers.RandomZoom(side, side, fill_mode="reflect", seed=seed + 5,
                                              name="resized_crop", **f32))
    if cfg.get("flip"):
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, **f32))
    if any(cfg.get(key) for key in ("rotation", "shift", "zoom", "shear")):
        layers.append(RandomAffine(rotation=cfg["rotation"], shift=cfg["shift"],
                                   zoom=cfg["zoom"], shear=cfg["shear"], seed=seed + 1, **f32))
    if crop:
        layers.append(RandomCropEach(crop, seed=seed + 6, **f32))
    if cfg.get("erasing"):
        p = float(cfg["erasing"])
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"erasing is a probability in [0, 1]. Received: erasing={p}")
        # factor=(p, p): a single number would draw each image's probability from [0, p].
        layers.append(keras.layers.RandomErasing(factor=(p, p), scale=(0.02, 0.33),
                                                 fill_value=cfg["erasing_value"],
                                                 value_range=(0, 255), seed=seed + 7,
                                                 name="random_erasing", **f32))
    return keras.Sequential(layers, name="augmentation") if layers else None


def _area_range(value) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"resized_crop is a range [low, high] of areas, e.g. [0.8, 1.2]. "
                         f"Received: resized_crop={value!r}") from None
    if not 0.0 < low <= high <= 4.0:
        raise ValueError(f"resized_crop needs 0 < low <= high <= 4. "
                         f"Received: resized_crop={value!r}")
    return low, high


def center_crop(images, size: int):
    """The central `size` x `size` window of a `(b, h, w, c)` batch, from `(h - size) // 2`."""
    top, left = (images.shape[1] - size) // 2, (images.shape[2] - size) // 2
    return images[:, top:top + size, left:left + size, :]


@keras.saving.register_keras_serializable(package="fer_keras")
class RandomCropEach(keras.layers.Layer):
    """A random `size` x `size` crop at a new position for each image; the center crop in inference.

    `keras.layers.RandomCrop` crops a whole batch at one position (and leaves the images whole in
    inference), so every image of a batch would lose the same border. Written with TensorFlow ops,
    for tf.data pipelines.

    Example:
        >>> RandomCropEach(40, seed=0)(images, training=True).shape  # doctest: +SKIP
        TensorShape([64, 40, 40, 1])
    """

    def __init__(self, size: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.size, self.seed = int(size), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        h, w = images.shape[1], images.shape[2]
        if not training:
            return center_crop(images, self.size)
        positions = keras.random.uniform((tf.shape(images)[0], 2), seed=self.generator)
        starts = tf.cast(positions * [h - self.size + 1, w - self.size + 1], tf.int32)
        window = tf.range(self.size)
        rows = starts[:, :1] + window
        cols = starts[:, 1:] + window
        images = tf.gather(images, rows, axis=1, batch_dims=1)
        return tf.gather(images, cols, axis=2, batch_dims=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, *input_shape[3:])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "seed": self.seed}


@keras.saving.register_keras_serializable(package="fer_keras")
class RandomAffine(keras.layers.Layer):
    """Random rotation, shift, zoom and shear of each image, composed into one affine resampling.

    Draws per image: an angle in ``±rotation`` degrees, shifts in ``±shift`` of the height and the
    width, one scale in ``1 ± zoom`` for both axes (as ``keras.layers.RandomZoom(zoom)``), and a
    shear coefficient in ``±shear`` (x moves by ``shear * y``); the composed map is applied about
    the image center with ``keras.ops.image.affine_transform`` (bilinear, ``fill_mode``).

    Why not the chain ``RandomRotation → RandomTranslation → RandomZoom``: each of those resamples
    the batch once, and the chain ran at 5,419 images/s on one thread of our CPU against 12,048 for
    one resampling (batch 64, ``benchmarks/bench_train.py``), so on a 2-core machine the
    augmentation thread took time from the network. One resampling also blurs the face once, not
    three times. Identity in inference.

    Example:
        >>> layer = RandomAffine(rotation=10.0, shift=0.1, zoom=0.1, seed=0)
        >>> layer(np.zeros((2, 48, 48, 1), "float32"), training=True).shape
        TensorShape([2, 48, 48, 1])
    """

    def __init__(self, rotation: float = 0.0, shift: float = 0.0, zoom: float = 0.0,
                 shear: float = 0.0, fill_mode: str = "reflect", seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        for key, value in (("rotation", rotation), ("shift", shift), ("zoom", zoom),
                           ("shear", shear)):
            if not 0.0 <= float(value) or (key == "zoom" and float(value) >= 1.0):
                raise ValueError(f"{key} must be >= 0{' and < 1' if key == 'zoom' else ''}. "
                                 f"Received: {key}={value}")
        self.rotation, self.shift = float(rotation), float(shift)
        self.zoom, self.shear = float(zoom), float(shear)
        self.fill_mode, self.seed = fill_mode, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        ops = keras.ops
        n = ops.shape(images)[0]
        h, w = images.shape[1], images.shape[2]
        u = keras.random.uniform((n, 5), -1.0, 1.0, seed=self.generator)
        angle = u[:, 0] * (self.rotation * math.pi / 180.0)
        scale = 1.0 + u[:, 1] * self.zoom
        shear = u[:, 2] * self.shear
        dx, dy = u[:, 3] * (self.shift * w), u[:, 4] * (self.shift * h)
        cos, sin = ops.cos(angle) * scale, ops.sin(angle) * scale
        # Output pixel (x, y) samples the input at A (p - c) + c - d, A = scale * R(angle) * shear.
        a0, a1 = cos, cos * shear - sin
        b0, b1 = sin, sin * shear + cos
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        a2 = cx - a0 * cx - a1 * cy - dx
        b2 = cy - b0 * cx - b1 * cy - dy
        zeros = ops.zeros_like(a0)
        transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return ops.image.affine_transform(images, transform, interpolation="bilinear",
                                          fill_mode=self.fill_mode)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "shift": self.shift,
                "zoom": self.zoom, "shear": self.shear, "fill_mode": self.fill_mode,
                "seed": self.seed}


def make_dataset(images, labels=None, *, batch_size: int = 64, training: bool = False,
                 seed: int = 0, augment: dict | bool | None = None, equalize: str | None = None,
                 crop: int | None = None, image_size: int | None = None, channels: int = 1,
                 num_classes: int | None = None, drop_remainder: bool = False) -> tf.data.Dataset:
    """A batched, prefetched `tf.data.Dataset` of float32 `(b, h, w, channels)` raw 0-255 images.

    Args:
        images: uint8 `(n, 48, 48)` (or `(n, 48, 48, 1)`).
        labels: int `(n,)`, or float `(n, m)` targets passed through as they are (a distilled
            run's, see `fer_keras.models.distillation`); None yields images only.
        training: shuffle every epoch (seeded), apply `augment` and crop at random.
        augment: True for `DEFAULT_AUGMENT`, a dict to override it, None/False for none.
        equalize: None, "hist" or "clahe" (see `equalize_images`); applied to the whole images,
            before any crop.
        crop: side of square crops for a network trained on crops (e.g. 40): a random crop per
            image when training (after the geometric augmentation, before random erasing), the
            center crop otherwise. One crop per image per epoch, not ten.
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
    if crop is not None and not 1 <= crop <= min(images.shape[1:]):
        raise ValueError(f"crop must be between 1 and the image side {min(images.shape[1:])}. "
                         f"Received: crop={crop}")
    images = equalize_images(images, equalize)[..., None]
    if labels is not None:
        labels = np.asarray(labels)
        # Integer classes, or float rows of per-image targets (a distilled run's label + teacher).
        labels = labels.astype(np.float32 if labels.ndim == 2 else np.int64)
    tensors = images if labels is None else (images, labels)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if training:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    aug = augmentation(augment, seed, crop) if training else None

    def prepare(x, y=None):
        x = tf.cast(x, tf.float32)
        if aug is not None:
            x = aug(x, training=True)
        elif crop:
            x = center_crop(x, crop)
        if image_size:
            x = tf.image.resize(x, (image_size, image_size))
        if channels == 3:
            x = tf.repeat(x, 3, axis=-1)
        if y is None:
            return x
        if num_classes and y.shape.rank == 1:
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
