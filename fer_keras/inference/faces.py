"""Faces in photos: read any image, find the faces, crop them to the models' input, draw results.

Every image becomes uint8 grey or BGR first (:func:`read_image`, :func:`to_uint8`), whatever its
file format, bit depth or channels, so the detectors and the crops only ever see 8-bit pixels.
Detectors return boxes ``(x, y, w, h)`` (and, when they find them, five landmarks per face: the
eyes, the nose tip and the mouth corners, image-left first) in the coordinates of the image they
were given. The smallest face searched is ``min_size`` pixels or ``min_fraction`` of the image's
shorter side, whichever is larger; an image is searched on a copy downscaled so that this face is
``search_face`` pixels (a pyramid costs most at its smallest faces) and no side exceeds
``max_side``, and the boxes are scaled back. When that smallest face is a fraction of the image
below ``first_face`` (48 pixels, the model's input), the image is first searched for faces from
``first_face`` on a smaller copy, and down to the smallest face only if none is found.

This module holds the base class and :class:`HaarFaceDetector` (OpenCV's frontal-face Haar
cascade, each face confirmed by a second cascade; both ship inside the OpenCV wheel); the YuNet
detector bundled with the ``yuface`` wheel, the model-file detectors and :func:`make_detector`
are in :mod:`fer_keras.inference.detectors`. How a face is cut from a photo to look like a
FER2013 face is :mod:`fer_keras.inference.registration`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from fer_keras import IMAGE_SIZE
from fer_keras.inference.images import (  # noqa: F401
    COLORS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    ImageError,
    _channels,
    _check_order,
    draw_faces,
    plot_faces,
    read_image,
    to_bgr,
    to_grey,
    to_uint8,
)

MIN_FACE_FRACTION = 0.1  # the recognizer's default smallest face, over an image's shorter side


class FaceDetector:
    """Base class: search a downscaled copy of large images, return boxes in full-size pixels,
    left to right.

    Subclasses implement ``_detect(image, min_size)`` on a uint8 grey or BGR image and return
    ``(boxes (n, 4) as x, y, w, h, scores (n,))``, with the landmarks ``(n, 5, 2)`` third when
    they find them; those whose one instance may run in several threads at once set
    ``thread_safe = True``, those that hold Python's lock for a whole call (so that threads
    cannot share the work) ``holds_lock = True``; :meth:`thread_started` prepares each of the
    recognizer's searching threads; ``registration`` names the fit of their boxes in
    :mod:`fer_keras.inference.registration`.

    Args:
        min_size: smallest face side, in pixels of the original image.
        min_fraction: smallest face side as a fraction of the image's shorter side, when that is
            more than ``min_size`` (0: ``min_size`` alone).
        max_side: images whose longer side exceeds this are searched at this size.
        first_face: with a ``min_fraction`` (the faces that matter in a photo, not every face
            of a crowd), when the smallest face is smaller than this the image is first
            searched for faces from this size, on a copy where they are ``search_face`` pixels
            (on a 256-pixel photo, a third of the pixels of the full search), and down to the
            smallest face only when none is found: a photo with a face that large then shows
            no smaller one. The default, 48, is the model's input: a smaller face is enlarged
            to be classified. ``None``, or ``min_fraction`` 0: one search.
    """

    thread_safe = False
    #: Whether a call holds Python's lock throughout (then one thread calls it).
    holds_lock = False
    #: The smallest face's side on the searched copy.
    search_face = 30
    #: The name of this detector's box fit in the registration file (None: none fitted).
    registration = None

    def __init__(self, *, min_size: int = 30, min_fraction: float = 0.0, max_side: int = 1280,
                 first_face: int | None = IMAGE_SIZE):
        if not 0 <= min_fraction < 1:
            raise ValueError(f"min_fraction must be in [0, 1). Received: {min_fraction}")
        if first_face is not None and first_face < 1:
            raise ValueError(f"first_face must be a positive size or None. Received: {first_face}")
        self.min_size, self.max_side = int(min_size), int(max_side)
        self.min_fraction = float(min_fraction)
        self.first_face = None if first_face is None else int(first_face)

    def min_face(self, shape) -> int:
        """The smallest face side searched in an image of ``shape``, in its pixels."""
        return max(self.min_size, round(self.min_fraction * min(shape[:2])))

    def search_scale(self, shape, min_face: int | None = None) -> float:
        """The scale of the copy of an image of ``shape`` searched for faces from ``min_face``
        pixels (default: :meth:`min_face`), at most 1."""
        min_face = self.min_face(shape) if min_face is None else min_face
        return min(1.0, self.max_side / max(shape[:2]),
                   max(self.search_face, self.min_size) / min_face)

    def thread_started(self) -> None:
        """Called on each thread of a pool that searches photos side by side, before its first
        search (nothing here; YuNet keeps such a thread's search on that one thread)."""

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(n, 4)`` int ``x, y, w, h`` and detection scores ``(n,)`` of the faces."""
        return self.find(image)[:2]

    def find(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Boxes, scores and landmarks ``(n, 5, 2)`` float (``None`` for a detector that finds
        none) of the faces, left to right."""
        return self.search(image)[:3]

    def search(self, image: np.ndarray) -> tuple:
        """:meth:`find`'s boxes, scores and landmarks, and the scale of the copy they were found
        on: first for faces from ``first_face`` pixels, then, if none is, from the smallest."""
        min_face = self.min_face(image.shape)
        if self.first_face is not None and self.min_fraction > 0 and min_face < self.first_face:
            found = self._search(image, self.first_face)
            if len(found[0]):
                return found
        return self._search(image, min_face)

    def _search(self, image: np.ndarray, min_face: int) -> tuple:
        scale = self.search_scale(image.shape, min_face)
        if scale < 1.0:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        found = self._detect(image, max(1, round(min_face * scale)))
        boxes = np.asarray(found[0], np.float64).reshape(-1, 4)
        marks = None if len(found) < 3 else np.asarray(found[2], np.float64).reshape(-1, 5, 2)
        # Left to right: OpenCV's order depends on how its threads happened to share the work.
        order = np.lexsort((boxes[:, 1], boxes[:, 0]))
        # A copy shrunk by `scale` has pixel centres at (i + 0.5) / scale - 0.5 of the original.
        marks = None if marks is None else (marks[order] + 0.5) / scale - 0.5
        return (np.rint(boxes[order] / scale).astype(np.int64),
                np.asarray(found[1], np.float32).reshape(-1)[order], marks, scale)

    def _detect(self, image, min_size):
        """``(boxes (n, 4), scores (n,))`` or ``(boxes, scores, landmarks (n, 5, 2))`` of the
        faces of ``image``, in its pixels."""
        raise NotImplementedError


class HaarFaceDetector(FaceDetector):
    """OpenCV's Haar cascade (``cv2.CascadeClassifier.detectMultiScale``), each face confirmed by
    a second cascade; scores are the number of neighbouring windows merged into each face.

    The first cascade alone cannot tell textures from faces by its neighbour count: on coins,
    cloth, wood grain and enlarged photos it gathers as many neighbours (up to 26) as small real
    faces do, so a face is kept only when OpenCV's ``frontalface_alt`` cascade, run on the box
    and a margin of 0.4 of it around it, also fires ``min_check_hits`` times near the box's size
    (real faces: mostly tens of hits, 5 to 10 for the blurred, enlarged FER2013 faces of
    ``benchmarks/bench_predict.py``; textures and objects in scikit-image's photos: 0 to 6).
    With that check, one neighbour suffices. On that benchmark's ordinary photos (45 faces)
    these settings, with the default tenth of the shorter side as the smallest face, find 38
    faces and no false one; the former ones (``scale_factor`` 1.2, two neighbours, 8 hits in a
    margin of 0.25, faces from 30 px) found 33, and the ``fer`` package's (1.1, five
    neighbours, no check) finds 37, with 9 false ones.

    Args:
        cascade: a file name in ``cv2.data.haarcascades`` or a path to a cascade XML file.
        scale_factor, min_neighbors: as in ``detectMultiScale``.
        check_cascade: the confirming cascade (a name or path as ``cascade``); ``None`` keeps
            every face of the first cascade.
        min_check_hits: raw windows of ``check_cascade`` needed to keep a face.
        min_size, min_fraction, max_side, first_face: see :class:`FaceDetector`.

    One detector may run in several threads at once: each thread loads its own cascades, as
    OpenCV does not document a ``CascadeClassifier`` as safe to share.
    """

    thread_safe = True
    registration = "haar"

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", *,
                 scale_factor: float = 1.15, min_neighbors: int = 1,
                 check_cascade: str | None = "haarcascade_frontalface_alt.xml",
                 min_check_hits: int = 7, min_size: int = 30, min_fraction: float = 0.0,
                 max_side: int = 1280, first_face: int | None = IMAGE_SIZE):
        super().__init__(min_size=min_size, min_fraction=min_fraction, max_side=max_side,
                         first_face=first_face)
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 dropped "
                               "them): install 'opencv-python-headless<5', or pass a YuNet .onnx "
                               "face model as the detector.")
        self.cascade, self.check_cascade = cascade, check_cascade
        self._local = threading.local()
        self._cascades()  # a missing cascade fails here, not in the first image's thread
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_check_hits = min_check_hits

    def _cascades(self) -> tuple:
        """This thread's ``(classifier, checker)``."""
        local = self._local
        if not hasattr(local, "cascades"):
            local.cascades = (_load_cascade(self.cascade), _load_cascade(self.check_cascade)
                              if self.check_cascade else None)
        return local.cascades

    @property
    def classifier(self) -> cv2.CascadeClassifier:
        return self._cascades()[0]

    @property
    def checker(self) -> cv2.CascadeClassifier | None:
        return self._cascades()[1]

    def _detect(self, image, min_size):
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        # The cascade's own window is 24x24 pixels: a smaller minimum only slows it down.
        side = max(24, min_size)
        boxes, neighbours = self.classifier.detectMultiScale2(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(side, side))
        boxes, neighbours = np.reshape(boxes, (-1, 4)), np.reshape(neighbours, -1)
        if self.checker is not None and len(boxes):
            keep = [self.check_hits(grey, box) >= self.min_check_hits for box in boxes]
            boxes, neighbours = boxes[keep], neighbours[keep]
        keep = _distinct(boxes, neighbours)
        return boxes[keep], neighbours[keep]

    def check_hits(self, grey: np.ndarray, box, face: int = 48, margin: float = 0.4) -> int:
        """Raw windows of ``check_cascade`` about the size of ``box`` around it, on a copy
        scaled so that the box is ``face`` pixels wide."""
        x, y, w, h = box
        side = max(1, round(w * (1 + 2 * margin)))
        patch = cv2.getRectSubPix(grey, (side, side), (x + w / 2 - 0.5, y + h / 2 - 0.5))
        size = round(face * (1 + 2 * margin))
        patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if side > size
                           else cv2.INTER_LINEAR)
        # minNeighbors=0: every window that passes, ungrouped; sizes within 0.7-1.4x the box
        hits = self.checker.detectMultiScale(patch, scaleFactor=1.05, minNeighbors=0,
                                             minSize=(int(face * 0.7),) * 2,
                                             maxSize=(int(face * 1.4),) * 2)
        return len(hits)


def _distinct(boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.5) -> list[int]:
    """Indices of the boxes to keep, best score first, dropping any box that shares more than
    ``overlap`` of the smaller box's area with one kept: one face found at two sizes that
    OpenCV's grouping left apart (a large box around a small one has a low IoU)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    kept = []
    for i in np.argsort(-np.asarray(scores, np.float64), kind="stable"):
        x, y, w, h = boxes[i]
        if all(max(0.0, min(x + w, a + c) - max(x, a)) * max(0.0, min(y + h, b + d) - max(y, b))
               <= overlap * min(w * h, c * d) for a, b, c, d in boxes[kept]):
            kept.append(i)
    return sorted(kept)


def _load_cascade(cascade: str) -> cv2.CascadeClassifier:
    path = Path(cascade)
    if not path.is_file():
        path = Path(cv2.data.haarcascades) / cascade
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise FileNotFoundError(f"Cannot load the Haar cascade {cascade!r} (looked in "
                                f"{cv2.data.haarcascades} too).")
    return classifier


def crop_faces(grey: np.ndarray, boxes: np.ndarray, *, margin: float = 0.1,
               size: int = IMAGE_SIZE) -> np.ndarray:
    """Square ``size`` x ``size`` uint8 crops ``(n, size, size)`` centred on each box.

    The square's side is the box's longer side plus ``margin`` of it on each side (FER2013 faces
    show a little hair and chin); parts outside the image repeat its border.
    """
    crops = np.empty((len(boxes), size, size), np.uint8)
    for i, (x, y, w, h) in enumerate(np.asarray(boxes).reshape(-1, 4)):
        side = max(1, round(max(w, h) * (1 + 2 * margin)))
        patch = cv2.getRectSubPix(grey, (side, side), (x + w / 2 - 0.5, y + h / 2 - 0.5))
        crops[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return crops
