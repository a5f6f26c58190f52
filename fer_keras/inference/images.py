"""Reading images of any format, bit depth or channels as uint8 grey or BGR; drawing the faces.

Every image file is read by :func:`read_image`: its size judged from its header first (the one
size policy, :mod:`fer_keras.data.image_files`, re-exported here), then decoded by OpenCV, or by
Pillow for the formats only Pillow reads. The pixel conversions (:func:`to_uint8`,
:func:`to_grey`, :func:`to_bgr`) and the annotated copies (:func:`draw_faces`) follow.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure
from PIL import ImageOps

from fer_keras import CLASS_NAMES
from fer_keras.data.image_files import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    ImageError,
    ImageTooLarge,
    check_pixels,
    image_header,
    open_lazily,
    size_refusal,
)
from fer_keras.data.loading import CONTEMPT

__all__ = ["COLORS", "DEFAULT_MAX_PIXELS", "EMOTION_COLORS", "IMAGE_EXTENSIONS",
           "VIDEO_EXTENSIONS", "ImageError", "ImageTooLarge", "check_pixels", "describe_error",
           "draw_faces", "image_header",
           "plot_faces", "read_image", "size_refusal", "to_bgr", "to_grey", "to_uint8"]

#: Box colour per emotion (BGR), in ``CLASS_NAMES`` order, then FER+'s contempt.
COLORS = ((0, 0, 230), (0, 140, 70), (160, 40, 160), (0, 200, 255), (200, 110, 20),
          (0, 130, 255), (190, 190, 190), (120, 120, 0))
#: Box colour of each class name a run can have.
EMOTION_COLORS = dict(zip((*CLASS_NAMES, CONTEMPT), COLORS, strict=True))


def read_image(path: str | os.PathLike, grey: bool = False,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file into uint8 grey ``(h, w)`` or BGR ``(h, w, 3)``.

    16-bit images are scaled to 8 bits, an alpha channel is dropped, the EXIF orientation of
    photos is applied and an animation gives its first frame. OpenCV decodes the formats it
    reads, Pillow the others. Raises ``OSError`` when the file cannot be opened,
    :class:`ImageTooLarge` for an image over ``max_pixels`` (read from its header: nothing is
    decoded) and :class:`ImageError` when it is empty, truncated or not an image.

    Args:
        grey: decode to grey whatever the file holds (a JPEG's luma is then read as is, without
            converting its colours: faster when only the grey image is needed).
        max_pixels: the largest image, width x height; ``None``: no limit.
    """
    data = Path(path).read_bytes()  # unlike cv2.imread: non-ASCII paths, and OSError if absent
    if not data:
        raise ImageError("empty file (0 bytes)")
    try:
        kind, width, height = image_header(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - a format only OpenCV reads, or a damaged header
        kind = None
    else:
        check_pixels(width, height, max_pixels)
    # OpenCV decodes a truncated JPEG without complaint (grey below the cut), so it is caught here.
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:]:
        raise ImageError("truncated JPEG (no end-of-image marker)")
    colour = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_ANYCOLOR
    image = cv2.imdecode(np.frombuffer(data, np.uint8), colour | cv2.IMREAD_ANYDEPTH)
    if image is None and kind is not None:
        image = _pillow_decode(data, kind, grey)
    if image is None:
        raise ImageError("not an image OpenCV or Pillow can decode (unknown format or corrupt "
                         "data)")
    if kind is None:  # a size only known once OpenCV decoded it (OpenCV's own limit is 1 Gpx)
        check_pixels(image.shape[1], image.shape[0], max_pixels)
    return to_uint8(image)


def describe_error(error: Exception) -> str:
    """A one-line description of an error reading or writing an image."""
    if isinstance(error, OSError):
        return f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
    if isinstance(error, cv2.error):
        return f"OpenCV failed: {str(error).strip().splitlines()[-1]}"
    return str(error)


def _pillow_decode(data: bytes, kind: str, grey: bool) -> np.ndarray:
    """The first frame of an image only Pillow reads, as uint8 grey or BGR."""
    try:
        with warnings.catch_warnings(), open_lazily(io.BytesIO(data)) as opened:
            warnings.simplefilter("ignore")
            image = ImageOps.exif_transpose(opened)  # decodes the first frame
        if image.mode.startswith(("I", "F")):  # 16-bit, 32-bit and float grey
            return to_uint8(np.asarray(image))
        if grey or image.mode in ("1", "L", "LA"):
            return np.asarray(image.convert("L"))
        return np.ascontiguousarray(np.asarray(image.convert("RGB"))[..., ::-1])
    except Exception as e:  # noqa: BLE001 - Pillow's plugins raise many kinds on damaged data
        raise ImageError(f"corrupt or truncated {kind} image: {e}") from None


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


def draw_faces(image: np.ndarray, faces: list[dict], channel_order: str = "bgr") -> np.ndarray:
    """A BGR copy of ``image`` with each face's box, emotion and probability drawn on it.

    ``faces`` are the entries of ``EmotionRecognizer.detect``; a face's ``track`` (video), when
    it has one, prefixes its label (``#2 happy 0.81``).
    """
    out = to_bgr(image, channel_order).copy()
    unit = max(out.shape[:2]) / 640  # line widths and text grow with the picture
    thickness = max(1, round(2 * unit))
    for face in faces:
        x, y, w, h = face["box"]
        color = EMOTION_COLORS[face["emotion"]]
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thickness)
        text = f"{face['emotion']} {face['probability']:.2f}"
        if face.get("track") is not None:
            text = f"#{face['track']} {text}"
        scale = max(0.4, 0.6 * unit)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = y - th - base - 2 * thickness if y - th - base - 2 * thickness >= 0 else y + h
        cv2.rectangle(out, (x, top), (x + tw + 2 * thickness, top + th + base + 2 * thickness),
                      color, cv2.FILLED)
        cv2.putText(out, text, (x + thickness, top + th + thickness), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (0, 0, 0) if sum(color) > 400 else (255, 255, 255), thickness,
                    cv2.LINE_AA)
    return out


def plot_faces(image: np.ndarray, faces: list[dict], channel_order: str = "bgr",
               title: str | None = None):
    """A matplotlib Figure of :func:`draw_faces`, built without pyplot like
    ``fer_keras.data.figures``."""
    drawn = draw_faces(image, faces, channel_order)[..., ::-1]
    fig = Figure(figsize=(6, 6 * drawn.shape[0] / drawn.shape[1]))
    ax = fig.subplots()
    ax.imshow(drawn)
    ax.axis("off")
    ax.set_title(title or f"{len(faces)} face{'s' * (len(faces) != 1)}")
    fig.tight_layout()
    return fig
