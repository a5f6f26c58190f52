"""Faces in photos, folders, videos and a webcam → emotions: what ``fer-keras predict`` reports.

``fer-keras predict photo.jpg holiday/ clip.mp4 --model models/shallow_cnn_softmax_X`` (or
``python -m fer_keras.predict``; the command is :mod:`fer_keras.commands.predict`; ``--model``: a
run directory, a ``.keras`` file or a packaged name, default ``cpu_fast``) prints one line per
image (each face's box, emotion and probability, :func:`format_faces`), writes annotated copies
(:func:`write_image`) and a per-frame CSV plus an annotated video for each video
(:func:`~fer_keras.inference.video.analyse_video`) into the folder ``--out``, and every result to
the file ``--json``. ``--tta`` defaults to the model's own views (a flip for ``cpu_fast``).
A file that cannot be read gets an ``error:`` line and the others go on; the exit status is 1 when
any file failed. So does every file of a folder that is skipped, with its reason (not an image
or video, a broken link, a link loop: :mod:`fer_keras.inference.inputs`), and every photo over
``--max-megapixels`` (read from its header: refused before decoding). A video whose damaged
frames were skipped says how many (and exits 1). An image without a face is a result (no faces),
not an error. ``--webcam 0`` analyses the first camera until ``--max-frames``, Ctrl-C or its end.

In videos each face keeps a ``track`` id from frame to frame (a CSV column; ``--smooth`` averages
each track's emotions); a file shows a progress bar, a camera a live status line. Ctrl-C stops
between two photos or frames and keeps what was processed: a playable annotated video, its CSV
and the JSON (exit status 130; for a camera, whose normal end it is, 0).

The Python API is :class:`EmotionRecognizer` (``fer_keras.inference.recognizer``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from fer_keras import _io
from fer_keras.inference.faces import ImageError
from fer_keras.inference.video import VIDEO_CSV_COLUMNS, analyse_video

if TYPE_CHECKING:
    from fer_keras.inference.recognizer import EmotionRecognizer, ImageResult, default_model

__all__ = ["EmotionRecognizer", "ImageResult", "default_model", "analyse_video",
           "VIDEO_CSV_COLUMNS", "format_faces", "write_image"]

#: The formats an annotated copy keeps (a photo of another format gets a PNG copy).
ANNOTATED_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


def __getattr__(name):
    """The recognizer's names, imported when first asked for: TensorFlow (0.7 GB of memory)
    loads with them, and only then."""
    if name in ("EmotionRecognizer", "ImageResult", "default_model"):
        from fer_keras.inference import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def format_faces(faces: list[dict]) -> str:
    """``2 faces: happy 0.91 [x, y, w, h], ...`` or ``no faces``."""
    if not faces:
        return "no faces"
    listed = ", ".join(f"{f['emotion']} {f['probability']:.2f} {f['box']}" for f in faces)
    return f"{len(faces)} face{'s' * (len(faces) > 1)}: {listed}"


def write_image(path: Path, image: np.ndarray) -> Path:
    """Write ``image`` atomically as ``path`` (as PNG when OpenCV cannot encode its suffix)."""
    if path.suffix.lower() not in ANNOTATED_EXTENSIONS:
        path = path.with_suffix(".png")
    ok, data = cv2.imencode(path.suffix, image)
    if not ok:
        raise ImageError(f"OpenCV cannot encode {path.suffix} images")
    with _io.atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path
