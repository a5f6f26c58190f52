"""Face detectors beyond the Haar cascade, and :func:`make_detector`, which picks one by name.

- :class:`BundledYuNetDetector` (``"yunet"``, the default where it is installed):
  libfacedetection's YuNet, a small CNN whose weights are compiled into the ``yuface`` wheel
  (BSD-3; Linux x86-64 and Windows wheels for CPython 3.11), so nothing is downloaded. It finds
  turned, tilted and partly hidden faces that the cascade misses, gives five landmarks per face
  (the faces are then aligned to FER2013's registration, see
  :mod:`fer_keras.inference.registration`) and, searched on a copy whose smallest face is 30
  pixels, costs a few milliseconds per photo.
- :class:`YuNetFaceDetector`: OpenCV's DNN face detector ``cv2.FaceDetectorYN`` with a YuNet
  ``.onnx`` file the user supplies; landmarks too.
- :class:`SSDFaceDetector`: any OpenCV-DNN SSD face model with a ``(1, 1, N, 7)`` output, e.g. the
  ResNet-10 ``res10_300x300_ssd`` Caffe model, also user supplied; boxes only.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np

from fer_keras import IMAGE_SIZE
from fer_keras.inference import yuface_binding
from fer_keras.inference.faces import FaceDetector, HaarFaceDetector

__all__ = ["DETECTORS", "BundledYuNetDetector", "SSDFaceDetector", "YuNetFaceDetector",
           "default_detector", "make_detector", "ssd_boxes"]

#: The detectors known by name.
DETECTORS = ("yunet", "haar")


class BundledYuNetDetector(FaceDetector):
    """YuNet from the ``yuface`` wheel: boxes, scores in [0, 1] and five landmarks per face.

    Args:
        score_threshold: smallest score kept. At 0.5 no face is found in scikit-image's
            textures and scenes (bricks, gravel, grass, coins, the coffee cup...; at 0.4 one in
            the coffee cup) while 96% of FER2013's PublicTest faces, enlarged from 48x48 to
            photos of 300 pixels, are found.
        refine_face: the landmarks of a face smaller than this on the searched copy are
            searched again on a patch of the full-size photo where the face is this many
            pixels (``None``, the default: never; the recognizer asks for 128 when it fits
            faces on their five landmarks, whose whole pixels on a small copy are too coarse).
        lock_free: call the library without holding Python's lock, where the wheel ships it
            as a shared library (:mod:`fer_keras.inference.yuface_binding`); ``False``: the
            wheel's own function, which holds the lock (the same faces, searched on one
            thread).
        min_size, min_fraction, max_side, first_face: see
            :class:`~fer_keras.inference.faces.FaceDetector`
            (a crowd's small faces in a large photo need a large ``max_side``).

    The library is called through :mod:`fer_keras.inference.yuface_binding`, without holding
    Python's lock: a call on its own spreads over the cores with the library's OpenMP team,
    and the recognizer's searching threads (:meth:`thread_started`) each search on one core,
    several photos at once. Where that binding is not available (the Windows wheel) the
    wheel's own function, which holds the lock, is called from one thread (``holds_lock``).
    """

    thread_safe = True
    registration = "yunet"
    # YuNet finds faces from about 10 pixels; below 30 (the default min_size, which sets the
    # copy's smallest face when larger) it finds fewer enlarged FER2013 faces and fires on a
    # coffee cup
    search_face = 24

    def __init__(self, *, score_threshold: float = 0.5, refine_face: int | None = None,
                 lock_free: bool = True, min_size: int = 30, min_fraction: float = 0.0,
                 max_side: int = 1280, first_face: int | None = IMAGE_SIZE):
        super().__init__(min_size=min_size, min_fraction=min_fraction, max_side=max_side,
                         first_face=first_face)
        try:
            from yuface.yuface import detect
        except ImportError:
            raise RuntimeError("The 'yunet' face detector needs the yuface package (wheels for "
                               "Linux x86-64 and Windows): pip install yuface, or pass "
                               "detector='haar'.") from None
        if not 0 <= score_threshold <= 1:
            raise ValueError(f"score_threshold must be in [0, 1]. Received: {score_threshold}")
        self.library = yuface_binding.load() if lock_free else None
        # rows (n, 15) either way: the wheel's function adds an unused 16th column
        self._detect_raw = (self.library.detect if self.library is not None
                            else lambda bgr: np.asarray(detect(bgr)).reshape(-1, 16)[:, :15])
        self.score_threshold, self.refine_face = float(score_threshold), refine_face

    @property
    def holds_lock(self) -> bool:
        """Whether the wheel's own function is called (no lock-free library here)."""
        return self.library is None

    def thread_started(self) -> None:
        """This thread searches on its own core (the recognizer's pool has one per core)."""
        if self.library is not None:
            self.library.one_thread()

    def search(self, image: np.ndarray) -> tuple:
        boxes, scores, marks, scale = super().search(image)
        if self.refine_face and len(boxes):
            marks = np.array([self._refine(image, box, mark)
                              if scale * max(box[2:]) < self.refine_face else mark
                              for box, mark in zip(boxes, marks)])
        return boxes, scores, marks, scale

    def _refine(self, image: np.ndarray, box, marks: np.ndarray) -> np.ndarray:
        """The landmarks of the face in ``box`` found again on a patch of the full-size image
        twice the box's size, scaled so that the face is ``refine_face`` pixels (at most
        doubled): the library gives whole pixels, which on the searched copy's small faces
        are a tenth of the eyes' distance. ``marks`` when the face is not found again."""
        x, y, w, h = (float(v) for v in box)
        side = max(2, round(2 * max(w, h)))
        centre = (x + w / 2 - 0.5, y + h / 2 - 0.5)
        patch = cv2.getRectSubPix(image, (side, side), centre)
        scale = min(2.0, self.refine_face / max(w, h))
        size = max(1, round(side * scale))
        patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_LINEAR)
        found, scores, again = self._detect(patch, max(1, round(0.5 * min(w, h) * scale)))
        if not len(found):
            return marks
        middle = found[:, :2] + found[:, 2:] / 2
        best = int(np.argmin(np.abs(middle - size / 2).sum(axis=1)))
        return ((again[best] + 0.5) * side / size - 0.5 + np.array(centre) - (side - 1) / 2)

    def _detect(self, image, min_size):
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        # rows of score (0-100), x, y, w, h, the landmarks' x, y, int16
        rows = np.asarray(self._detect_raw(np.ascontiguousarray(bgr)), np.float64)
        rows = rows[(rows[:, 0] >= 100 * self.score_threshold)
                    & (np.minimum(rows[:, 3], rows[:, 4]) >= min_size)]
        return rows[:, 1:5], rows[:, 0] / 100, rows[:, 5:15].reshape(-1, 5, 2)


class YuNetFaceDetector(FaceDetector):
    """OpenCV's DNN face detector ``cv2.FaceDetectorYN`` (YuNet) with a user-supplied ``.onnx``:
    boxes, scores and the same five landmarks as :class:`BundledYuNetDetector`.

    Args:
        model: path to a YuNet ONNX file (e.g. ``face_detection_yunet_2023mar.onnx`` from the
            OpenCV model zoo).
        score_threshold, nms_threshold: as in ``cv2.FaceDetectorYN.create``.
    """

    registration = "yunet"

    def __init__(self, model: str | os.PathLike, *, score_threshold: float = 0.7,
                 nms_threshold: float = 0.3, min_size: int = 30, min_fraction: float = 0.0,
                 max_side: int = 1280, first_face: int | None = IMAGE_SIZE):
        super().__init__(min_size=min_size, min_fraction=min_fraction, max_side=max_side,
                         first_face=first_face)
        if not Path(model).is_file():
            raise FileNotFoundError(f"No face detector model at {model}.")
        try:
            self.net = cv2.FaceDetectorYN.create(str(model), "", (320, 320), score_threshold,
                                                 nms_threshold)
        except cv2.error as e:
            raise ValueError(f"{model} is not a YuNet face detector OpenCV can load: "
                             f"{str(e).strip().splitlines()[-1]}") from None

    def _detect(self, image, min_size):
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        self.net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.net.detect(bgr)
        faces = np.zeros((0, 15), np.float32) if faces is None else faces
        keep = np.minimum(faces[:, 2], faces[:, 3]) >= min_size
        return faces[keep, :4], faces[keep, -1], faces[keep, 4:14].reshape(-1, 5, 2)


class SSDFaceDetector(FaceDetector):
    """An OpenCV-DNN SSD face model (``cv2.dnn.readNet``) whose output is ``(1, 1, N, 7)`` rows of
    ``(batch, class, score, x1, y1, x2, y2)`` in [0, 1], like OpenCV's ``res10_300x300_ssd``.

    Args:
        model, config: as in ``cv2.dnn.readNet`` (e.g. ``res10_300x300_ssd_iter_140000.caffemodel``
            and ``deploy.prototxt``).
        input_size, mean: the network's input size and the BGR mean subtracted from it.
        score_threshold: smallest score kept.
        first_face: see :class:`~fer_keras.inference.faces.FaceDetector`; ``None`` by default,
            as the network sees every image at ``input_size`` (a first search saves nothing).
    """

    def __init__(self, model: str | os.PathLike, config: str | os.PathLike = "", *,
                 input_size: int = 300, mean=(104.0, 177.0, 123.0), score_threshold: float = 0.5,
                 min_size: int = 30, min_fraction: float = 0.0, max_side: int = 1280,
                 first_face: int | None = None):
        super().__init__(min_size=min_size, min_fraction=min_fraction, max_side=max_side,
                         first_face=first_face)
        try:
            self.net = cv2.dnn.readNet(str(model), str(config))
        except cv2.error as e:
            raise ValueError(f"{model} is not a network OpenCV can load: "
                             f"{str(e).strip().splitlines()[-1]}") from None
        self.input_size, self.mean, self.score_threshold = input_size, mean, score_threshold

    def _detect(self, image, min_size):
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        blob = cv2.dnn.blobFromImage(bgr, 1.0, (self.input_size, self.input_size), self.mean)
        self.net.setInput(blob)
        return ssd_boxes(self.net.forward(), bgr.shape[1], bgr.shape[0], self.score_threshold,
                         min_size)


def ssd_boxes(output: np.ndarray, width: int, height: int, score_threshold: float = 0.5,
              min_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``x, y, w, h`` and scores of an SSD ``(1, 1, N, 7)`` output for a ``width`` x
    ``height`` image (coordinates clipped to the image)."""
    rows = np.asarray(output, np.float32).reshape(-1, 7)
    rows = rows[rows[:, 2] >= score_threshold]
    corners = np.clip(rows[:, 3:7], 0.0, 1.0) * np.array([width, height, width, height])
    boxes = np.column_stack([corners[:, :2], corners[:, 2:] - corners[:, :2]])
    keep = np.minimum(boxes[:, 2], boxes[:, 3]) >= min_size
    return boxes[keep], rows[keep, 2]


def default_detector() -> str:
    """``"yunet"`` where the ``yuface`` wheel is installed, else ``"haar"`` (with a warning saying
    so: there is no yuface wheel for macOS or ARM Linux)."""
    try:
        import yuface.yuface  # noqa: F401
    except ImportError:
        warnings.warn("yuface is not installed (no wheel for this platform): faces are found with "
                      "the Haar cascade, which misses turned and tilted faces.", stacklevel=2)
        return "haar"
    return "yunet"


def make_detector(detector=None, **options) -> FaceDetector:
    """A face detector from a name or a model file.

    Args:
        detector: ``"yunet"`` (bundled with yuface) or ``"haar"`` (OpenCV's cascade); ``None``:
            :func:`default_detector`; a ``.onnx`` path for YuNet through OpenCV; a
            ``.caffemodel`` / ``.pb`` path for an SSD model (pass ``config=``); a
            :class:`~fer_keras.inference.faces.FaceDetector` (or any callable with its
            signature) is returned as is.
        **options: keyword arguments of the detector class.
    """
    if detector is None:
        detector = default_detector()
    if detector == "haar":
        return HaarFaceDetector(**options)
    if detector == "yunet":
        return BundledYuNetDetector(**options)
    if callable(detector):
        return detector
    suffix = Path(detector).suffix.lower()
    if suffix == ".onnx":
        return YuNetFaceDetector(detector, **options)
    if suffix in (".caffemodel", ".pb"):
        return SSDFaceDetector(detector, **options)
    raise ValueError(f"Unknown face detector {detector!r}. Accepted values: 'yunet', 'haar', a "
                     "YuNet .onnx file, an SSD .caffemodel or .pb file.")
