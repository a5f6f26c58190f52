"""Reading images of any format, bit depth or channels as uint8 grey or BGR.

The file formats and extensions fer_keras accepts, and the one error (:class:`ImageError`) every
reader raises for a file that is not an image.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
#: Box colour per emotion (BGR), in ``CLASS_NAMES`` order.
COLORS = ((0, 0, 230), (0, 140, 70), (160, 40, 160), (0, 200, 255), (200, 110, 20),
          (0, 130, 255), (190, 190, 190))


class ImageError(ValueError):
    """An image that cannot be decoded or understood."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file into uint8 grey ``(h, w)`` or BGR ``(h, w, 3)``.

    16-bit images are scaled to 8 bits, an alpha channel is dropped and the EXIF orientation of
    photos is applied. Raises ``OSError`` when the file cannot be opened and :class:`ImageError`
    when it is empty, truncated or not an image.
    """
    data = np.fromfile(path, np.uint8)  # unlike cv2.imread: non-ASCII paths, and OSError if absent
    if data.size == 0:
        raise ImageError("empty file (0 bytes)")
    # OpenCV decodes a truncated JPEG without complaint (grey below the cut), so it is caught here.
    if data[:2].tobytes() == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:].tobytes():
        raise ImageError("truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(data, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise ImageError("not an image OpenCV can decode (unknown format or corrupt data)")
    return to_uint8(image)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``image`` as uint8: 16-bit scaled by 1/257, floats in [0, 1] (else 0–255) scaled, clipped."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return cv2.convertScaleAbs(image, alpha=1 / 257)
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        image = np.nan_to_num(image.astype(np.float32))
        if image.size and image.max() <= 1.0:
            image = image * 255.0
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if np.issubdtype(image.dtype, np.integer):
        return np.clip(image, 0, 255).astype(np.uint8)
    raise ImageError(f"unsupported pixel type {image.dtype}")


def _channels(image: np.ndarray) -> int:
    if image.ndim == 2:
        return 1
    if image.ndim == 3 and image.shape[2] in (1, 3, 4) and min(image.shape[:2]) > 0:
        return image.shape[2]
    raise ImageError(f"expected an image (h, w), (h, w, 1), (h, w, 3) or (h, w, 4); got an array "
                     f"of shape {image.shape}")


def to_grey(image: np.ndarray, channel_order: str = "bgr") -> np.ndarray:
    """uint8 grey ``(h, w)`` of a grey, BGR/RGB or BGRA/RGBA image of any dtype."""
    image = to_uint8(image)
    rgb = _check_order(channel_order) == "rgb"
    c = _channels(image)
    if c == 1:
        return image.reshape(image.shape[:2])
    code = {3: (cv2.COLOR_BGR2GRAY, cv2.COLOR_RGB2GRAY),
            4: (cv2.COLOR_BGRA2GRAY, cv2.COLOR_RGBA2GRAY)}[c][rgb]
    return cv2.cvtColor(image, code)


def to_bgr(image: np.ndarray, channel_order: str = "bgr") -> np.ndarray:
    """uint8 BGR ``(h, w, 3)`` of a grey, BGR/RGB or BGRA/RGBA image of any dtype."""
    image = to_uint8(image)
    rgb = _check_order(channel_order) == "rgb"
    c = _channels(image)
    if c == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if c == 3:
        return image[..., ::-1].copy() if rgb else image
    return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)


def _check_order(channel_order: str) -> str:
    if channel_order not in ("bgr", "rgb"):
        raise ValueError(f"Unknown channel_order {channel_order!r}. Accepted values: bgr, rgb.")
    return channel_order
