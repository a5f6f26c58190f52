"""Untrusted uploads of ``fer-keras serve``: byte limits, content sniffing, pixel limits, decoding.

Every check that can refuse an upload runs before the costly step it guards: the body is read
in chunks and dropped once it passes the byte limit (or at once when its ``Content-Length``
says so); the format and the image size are read from the file's header by PIL's lazy
``Image.open``, which decodes no pixel, so a decompression bomb (a 30000x30000 PNG of a few
hundred kB) is refused before any memory is spent on it; only then does OpenCV decode the image,
the way :func:`fer_keras.inference.images.read_image` reads files. Every refusal is an
:class:`UploadError` carrying the HTTP status to answer with.

Example:
    >>> limits = Limits(max_bytes=2**20, max_pixels=10**6)
    >>> decode_image(open("photo.jpg", "rb").read(), limits).shape  # doctest: +SKIP
    (512, 512, 3)
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from fer_keras.inference.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    image_header,
    to_uint8,
)

DEFAULT_MAX_BYTES = 10 * 2**20
#: Images that may wait for the recognizer while it analyses one; more are shed (503).
DEFAULT_QUEUE = 32
#: PIL format names of the images accepted: those OpenCV also decodes.
FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "PPM", "GIF")
#: The first bytes of each format: a file that starts like one but does not open is damaged.
MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"),
         (b"BM", "BMP"), (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"))
#: Room for the multipart boundaries and headers, or the JSON around a base64 string.
ENVELOPE_BYTES = 64 * 2**10


class UploadError(ValueError):
    """An upload the server refuses; ``status`` is the HTTP status (4xx) to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one upload may weigh.

    Args:
        max_bytes: largest image file, in bytes (a base64 body may be 4/3 of it, plus its JSON).
        max_pixels: largest image, width x height, read from the header before decoding.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self):
        for name in ("max_bytes", "max_pixels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")

    @property
    def max_body(self) -> int:
        """Largest request body: a base64 image in JSON is the largest form of an image."""
        return -(-self.max_bytes * 4 // 3) + ENVELOPE_BYTES


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} kB"


def check_bytes(data: bytes, limits: Limits, what: str = "image") -> None:
    """Refuse an empty image (400) or one over ``limits.max_bytes`` (413)."""
    if not data:
        raise UploadError(400, f"empty upload: the {what} has 0 bytes")
    if len(data) > limits.max_bytes:
        raise UploadError(413, f"the {what} is {_size(len(data))}, over the limit of "
                               f"{_size(limits.max_bytes)}")


async def read_body(request, limit: int) -> bytes:
    """The body of a Starlette ``request``, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise UploadError(400, f"bad Content-Length header {declared!r}")
        if int(declared) > limit:
            raise UploadError(413, f"the request body is {_size(int(declared))}, over the limit of "
                                   f"{_size(limit)}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a chunked body declares no length: counted as it comes
            raise UploadError(413, f"the request body passed the limit of {_size(limit)}")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_base64(text) -> bytes:
    """The bytes of a base64 string, or of a ``data:image/...;base64,`` URL (400 if malformed)."""
    if not isinstance(text, str):
        raise UploadError(400, f"'image' must be a base64 string, not {type(text).__name__}")
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise UploadError(400, "the data URL in 'image' is not base64-encoded")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise UploadError(400, f"'image' is not valid base64: {e}") from None


def magic_format(data: bytes) -> str | None:
    """The format whose signature ``data`` starts with (``None`` for none of :data:`MAGIC`)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if len(data) > 1 and data[:1] == b"P" and data[1:2] in b"123456":
        return "PPM"
    return next((kind for magic, kind in MAGIC if data.startswith(magic)), None)


def sniff(data: bytes, limits: Limits) -> tuple[str, int, int]:
    """``(format, width, height)`` of an image file from its header alone, no pixel decoded.

    Raises :class:`UploadError`: 415 for bytes that are none of :data:`FORMATS`, 413 for an image
    over ``limits.max_pixels``, 422 for a header too damaged to read.
    """
    check_bytes(data, limits)
    try:
        # the header alone, whatever the size (PIL's own bomb limit is set aside): the limit is ours
        kind, width, height = image_header(io.BytesIO(data), FORMATS)
    except Image.UnidentifiedImageError:
        kind = magic_format(data)
        if kind is None:
            raise UploadError(415, "not an image of a supported format "
                                   f"({', '.join(FORMATS)})") from None
        raise UploadError(422, f"corrupt or truncated {kind} image (its header does not "
                               "read)") from None
    except Exception as e:  # noqa: BLE001 - PIL's plugins raise many kinds on damaged headers
        raise UploadError(422, f"corrupt or truncated {magic_format(data) or ''} image: "
                               f"{e}".replace("  ", " ")) from None
    if width * height > limits.max_pixels:
        raise UploadError(413, f"the image is {width}x{height} ({width * height / 1e6:.1f} "
                               f"megapixels), over the limit of {limits.max_pixels / 1e6:g} "
                               "megapixels")
    return kind, width, height


def decode_image(data: bytes, limits: Limits) -> np.ndarray:
    """uint8 grey ``(h, w)`` or BGR ``(h, w, 3)`` of an image file, checked by :func:`sniff` first.

    Raises :class:`UploadError` (422 for a file that is truncated or does not decode).
    """
    kind, width, height = sniff(data, limits)
    # OpenCV decodes a JPEG cut short without complaint (grey below the cut): its end is checked.
    if kind == "JPEG" and b"\xff\xd9" not in data[-4096:]:
        raise UploadError(422, "truncated JPEG image (no end-of-image marker)")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8),
                             cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
        if image is None:
            raise ImageError("it does not decode")
        # the EXIF orientation may turn the image, never grow it
        if image.shape[0] * image.shape[1] != width * height:
            raise ImageError(f"its header says {width}x{height}, its pixels "
                             f"{image.shape[1]}x{image.shape[0]}")
        if image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        return to_uint8(image)
    except (ImageError, cv2.error) as e:
        raise UploadError(422, f"corrupt or truncated {kind} image: {e}") from None


def check_part_type(content_type: str | None) -> None:
    """Refuse (415) a declared type that is neither an image nor raw bytes."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind and not kind.startswith("image/") and kind != "application/octet-stream":
        raise UploadError(415, f"the upload is declared as {kind!r}, not as an image")
