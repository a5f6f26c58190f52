"""What the recognizer returns: one entry per face, one result per image.

A face is a dict (``box``, ``detection_score``, ``emotion``, ``probability``, ``emotions``,
``scores``; see :class:`fer_keras.inference.recognizer.EmotionRecognizer`), ready for JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_keras import CLASS_NAMES

__all__ = ["ImageResult", "check_boxes", "face_entry"]


@dataclass
class ImageResult:
    """What :meth:`EmotionRecognizer.iter_detect` found in one image.

    Attributes:
        source: the path (or the index of an array in the input).
        faces: the entries of :meth:`EmotionRecognizer.detect`; empty when no face was found.
        error: why the image could not be read (``faces`` is then empty), else ``None``.
        image: when asked for, the image: decoded from a file (uint8 grey or BGR), or the array
            as it was given.
    """

    source: str | int
    faces: list
    error: str | None = None
    image: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {"path": str(self.source), "faces": self.faces, "error": self.error}


def check_boxes(boxes) -> np.ndarray:
    """The caller's boxes as int ``(n, 4)``, or a ValueError saying what is wrong with them."""
    array = np.asarray(boxes, np.float64) if len(boxes) else np.zeros((0, 4))
    if array.ndim != 2 or array.shape[1] != 4 or not np.isfinite(array).all():
        raise ValueError(f"boxes must be rows of 4 numbers x, y, w, h. Received: {boxes!r}")
    if (array[:, 2:] < 1).any():
        raise ValueError(f"boxes need a width and height of at least 1. Received: {boxes!r}")
    return np.rint(array).astype(np.int64)


def face_entry(box, det_score, scores, probs, names=CLASS_NAMES) -> dict:
    top = int(np.argmax(scores))
    return {"box": [int(v) for v in box],
            "detection_score": None if det_score is None else float(det_score),
            "emotion": names[top], "probability": float(probs[top]),
            "emotions": {n: float(p) for n, p in zip(names, probs)},
            # An SVC scores a class it never saw -inf, which JSON cannot hold: null instead.
            "scores": {n: float(s) if np.isfinite(s) else None for n, s in zip(names,
                                                                                scores)}}
