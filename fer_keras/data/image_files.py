"""Image files: the formats fer_keras reads, their size from the header alone, the size policy.

The one size policy of every reader of image files (``fer-keras predict``, the recognizer, the
server, ``explain --images``): an image larger than ``max_pixels`` (default
:data:`DEFAULT_MAX_PIXELS`) is refused from its header, read by Pillow's lazy ``Image.open``
(:func:`image_header`), before a single pixel is decoded, so a decompression bomb (a 30000x30000
PNG of a hundred kB) costs neither memory nor time. :class:`ImageError` is the one error every
reader raises for a file that is not an image it can read.

Example:
    >>> image_header("bomb.png")  # doctest: +SKIP
    ('PNG', 30000, 30000)
    >>> size_refusal("bomb.png", DEFAULT_MAX_PIXELS)  # doctest: +SKIP
    '30000 x 30000 pixels (900 megapixels), over the limit of 40 megapixels'
"""

from __future__ import annotations

import os
import warnings

from PIL import Image, ImageFile

#: The largest image read, width x height, unless the caller sets its own limit.
DEFAULT_MAX_PIXELS = 40_000_000
#: What OpenCV reads (OpenEXR is left out: OpenCV's wheels ship it disabled).
OPENCV_EXTENSIONS = (".bmp", ".dib", ".jpg", ".jpeg", ".jpe", ".jp2", ".png", ".webp", ".avif",
                     ".pbm", ".pgm", ".ppm", ".pxm", ".pnm", ".pam", ".pfm", ".sr", ".ras",
                     ".tif", ".tiff", ".hdr", ".pic", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
# Pillow formats that are no photos: EPS needs Ghostscript, MPEG is a video Pillow only identifies
_NOT_PHOTOS = ("EPS", "MPEG")


def _pillow_extensions() -> set[str]:
    Image.init()  # every plugin of this Pillow, not only the common ones
    return {ext for ext, kind in Image.registered_extensions().items()
            if kind in Image.OPEN and kind not in _NOT_PHOTOS
            and not (isinstance(Image.OPEN[kind][0], type)  # stubs need a handler we lack
                     and issubclass(Image.OPEN[kind][0], ImageFile.StubImageFile))}


#: Every image extension read: OpenCV's and Pillow's (GIF, TGA, ICO, PSD... through Pillow).
IMAGE_EXTENSIONS = tuple(sorted((set(OPENCV_EXTENSIONS) | _pillow_extensions())
                                - set(VIDEO_EXTENSIONS)))


class ImageError(ValueError):
    """An image that cannot be decoded or understood."""


class ImageTooLarge(ImageError):
    """An image over the pixel limit, refused before decoding."""


def check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    """Raise :class:`ImageTooLarge` for an image of more than ``max_pixels`` (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(f"{width} x {height} pixels ({width * height / 1e6:.4g} megapixels), "
                            f"over the limit of {max_pixels / 1e6:g} megapixels")


def open_lazily(fp, formats=None) -> Image.Image:
    """Pillow's lazy ``Image.open`` of a binary file object, without its bomb check.

    Pillow refuses an image of more than 179 megapixels without saying its size; the size is the
    caller's to judge, so that image is opened by its plugin directly, as ``Image.open`` would.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)  # e.g. corrupt EXIF: judged when decoding
        try:
            return Image.open(fp, formats=formats)
        except Image.DecompressionBombError:
            fp.seek(0)
            prefix = fp.read(16)
            for kind in formats or Image.ID:
                factory, accept = Image.OPEN[kind.upper()]
                accepted = accept is None or accept(prefix)
                if accepted and not isinstance(accepted, str):
                    fp.seek(0)
                    return factory(fp, "")
            raise


def image_header(file, formats=None) -> tuple[str, int, int]:
    """``(Pillow format, width, height)`` of an image file from its header; no pixel is decoded.

    Args:
        file: a path or a binary file object.
        formats: the Pillow formats tried (``None``: all).

    Raises ``PIL.UnidentifiedImageError`` for a file no plugin of ``formats`` recognises and
    another exception (which depends on the plugin) for a damaged header.
    """
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as fp:
            return image_header(fp, formats)
    with open_lazily(file, formats) as image:
        return image.format, *image.size


def size_refusal(path: str | os.PathLike, max_pixels: int | None) -> str | None:
    """Why the image file ``path`` is refused by its size, read from its header, else ``None``
    (within the limit, or a header Pillow does not read: :func:`read_image` judges it then)."""
    try:
        _, width, height = image_header(path)
        check_pixels(width, height, max_pixels)
    except ImageTooLarge as e:
        return str(e)
    except Exception:  # noqa: BLE001 - unreadable or no header: the reader says what is wrong
        return None
    return None
