"""Faces cut from photos the way FER2013's faces were cut, so the network sees what it learnt.

FER2013's faces were "registered so that the face is more or less centred and occupies about the
same amount of space in each image" (Goodfellow et al. 2013). A detector's box is not that
registration: a square around it with a fixed margin is too loose on some photos and too tight on
others, and a tilted head stays tilted. Here the registration is learnt from FER2013 itself and
stored in ``registration.json`` beside this module (written by ``python -m
fer_keras.inference.make_registration``): YuNet's five landmarks (eyes, nose tip, mouth corners),
found on Training faces enlarged to photo size, give the median place of each in a 48x48 face,
and each detector's median box gives where its boxes sit on those faces.

- Every face is cut with the scale and shift that put its box where that detector's boxes sit on
  FER2013 faces (:meth:`Registration.from_boxes`). When the detector gives landmarks and the eye
  line tilts more than :data:`MAX_TILT` degrees (FER2013's own faces tilt less than that nine
  times in ten: their registration kept heads as they were), the face is turned upright about
  its centre, so a photo taken askew looks like a training face.
- :meth:`Registration.from_landmarks` instead fits the similarity transform (rotation, scale and
  shift: ``cv2.estimateAffinePartial2D``) that puts the five landmarks on the template's
  (``EmotionRecognizer(align="landmarks")``). Measured on 3,589 PublicTest faces shown as photos
  of three sizes and tilted (``benchmarks/bench_registration.py``), it is 1.6-1.9 points below
  the same faces at 48x48 where the box fit is 0.0-1.3 below: the landmarks' noise moves and
  scales the face more than FER2013's registration did.

Coordinates are those of pixel centres (``cv2.warpAffine``'s), boxes ``x, y, w, h`` in pixels.

Example:
    >>> registration = Registration.load()
    >>> faces = warp_faces(grey, registration.from_landmarks(landmarks))  # (n, 48, 48) uint8
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fer_keras import IMAGE_SIZE
from fer_keras._io import read_json

__all__ = ["ALIGNMENTS", "MAX_TILT", "TEMPLATE", "Registration", "box_centres", "eye_tilt",
           "warp_faces"]

#: The registration learnt from FER2013's Training faces, shipped with the package.
TEMPLATE = Path(__file__).with_name("registration.json")
#: Eye-line tilt, in degrees, past which a face is turned upright: nine FER2013 Training faces in
#: ten tilt less (``registration.json``'s ``eye_tilt_percentiles``: 10.06 degrees at the 90th, over
#: the 5,731 faces YuNet found).
MAX_TILT = 10.0
#: How a face is cut: ``"box"`` (the box fit, upright past ``MAX_TILT``), ``"landmarks"``.
ALIGNMENTS = ("box", "landmarks")


@dataclass(frozen=True)
class Registration:
    """Where a face's landmarks and a detector's box sit in a ``size`` x ``size`` FER2013 face.

    Attributes:
        landmarks: ``(5, 2)`` template of the eyes, nose tip and mouth corners (image-left first).
        boxes: detector name → ``(centre x, centre y, width, height)`` of its median box.
        size: the side of the face the coordinates are in (48).
    """

    landmarks: np.ndarray
    boxes: dict = field(default_factory=dict)
    size: int = IMAGE_SIZE

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Registration:
        """The registration of ``path`` (default: :data:`TEMPLATE`)."""
        spec = read_json(TEMPLATE if path is None else path)
        return cls(np.asarray(spec["landmarks"], np.float64).reshape(5, 2),
                   {name: tuple(float(v) for v in box) for name, box in spec["boxes"].items()},
                   int(spec["size"]))

    def from_landmarks(self, landmarks) -> np.ndarray:
        """``(n, 2, 3)`` similarity transforms from photo pixels to the face, one per ``(5, 2)``
        set of landmarks (least squares over the five points)."""
        marks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
        out = np.empty((len(marks), 2, 3))
        for i, points in enumerate(marks):
            matrix, _ = cv2.estimateAffinePartial2D(points, self.landmarks, method=cv2.LMEDS)
            out[i] = matrix if matrix is not None else _box_matrix(_bounds(points), self.box(None))
        return out

    def from_boxes(self, boxes, detector: str | None = None, landmarks=None,
                   max_tilt: float | None = MAX_TILT) -> np.ndarray:
        """``(n, 2, 3)`` scale-and-shift transforms that put each box ``x, y, w, h`` where
        ``detector``'s boxes sit on FER2013 faces (an unknown detector: YuNet's fit); with
        ``landmarks`` ``(n, 5, 2)``, a face whose eye line tilts more than ``max_tilt`` degrees
        is also turned upright about the face's centre (``None``: never)."""
        target = self.box(detector)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        out = np.array([_box_matrix(box_centres(box), target) for box in boxes]).reshape(-1, 2, 3)
        if landmarks is not None and max_tilt is not None:
            centre = ((self.size - 1) / 2,) * 2
            for i, tilt in enumerate(eye_tilt(landmarks)):
                if abs(tilt) > max_tilt:
                    turn = np.vstack([cv2.getRotationMatrix2D(centre, tilt, 1.0), [0, 0, 1]])
                    out[i] = (turn @ np.vstack([out[i], [0, 0, 1]]))[:2]
        return out

    def box(self, detector: str | None) -> tuple:
        return self.boxes.get(detector) or self.boxes["yunet"]


def eye_tilt(landmarks) -> np.ndarray:
    """The eye line's angle in degrees, one per ``(5, 2)`` set of landmarks: positive when the
    image-right eye is lower (the head leans to the image right)."""
    marks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    step = marks[:, 1] - marks[:, 0]
    return np.degrees(np.arctan2(step[:, 1], step[:, 0]))


def box_centres(box) -> tuple[float, float, float, float]:
    """``(centre x, centre y, w, h)`` of a box ``x, y, w, h``, in pixel-centre coordinates."""
    x, y, w, h = (float(v) for v in box)
    return x + w / 2 - 0.5, y + h / 2 - 0.5, w, h


def _bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    low, high = points.min(axis=0), points.max(axis=0)
    centre, side = (low + high) / 2, max(1.0, float((high - low).max()) * 2)
    return float(centre[0]), float(centre[1]), side, side


def _box_matrix(source, target) -> np.ndarray:
    """Scale (the geometric mean of the two sides') and shift from box ``source`` to ``target``,
    both ``(centre x, centre y, w, h)``."""
    scale = math.sqrt(target[2] * target[3] / max(1e-6, source[2] * source[3]))
    return np.array([[scale, 0.0, target[0] - scale * source[0]],
                     [0.0, scale, target[1] - scale * source[1]]])


def warp_faces(grey: np.ndarray, matrices, size: int = IMAGE_SIZE,
               max_oversample: int = 8) -> np.ndarray:
    """``(n, size, size)`` uint8 faces cut from ``grey`` by ``(n, 2, 3)`` transforms from its pixels
    to the face's.

    A face much larger than ``size`` is sampled on a grid up to ``max_oversample`` times finer and
    then reduced by area averaging, as FER2013's faces were reduced (``cv2.INTER_AREA``), instead of
    skipping pixels; parts outside the photo repeat its border.
    """
    matrices = np.asarray(matrices, np.float64).reshape(-1, 2, 3)
    faces = np.empty((len(matrices), size, size), np.uint8)
    for i, matrix in enumerate(matrices):
        shrink = 1.0 / math.sqrt(max(1e-12, abs(np.linalg.det(matrix[:, :2]))))
        fine = int(min(max_oversample, max(1, math.ceil(shrink - 1e-6))))
        # output pixel u of the fine grid is pixel (u + 0.5) / fine - 0.5 of the face
        grid = matrix * fine
        grid[:, 2] += (fine - 1) / 2
        patch = cv2.warpAffine(grey, grid, (size * fine, size * fine), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        faces[i] = patch if fine == 1 else cv2.resize(patch, (size, size),
                                                      interpolation=cv2.INTER_AREA)
    return faces
