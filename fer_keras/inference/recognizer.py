"""The emotion recognizer: faces found in images and video frames, each scored by a trained model.

Faces of one image and of many are classified together in batches; the crops get the model's own
training preprocessing (histogram equalisation when the run used it) and test-time views (its
config's ``"tta"``), read from the run directory. Photos are read and searched on a thread per
core (:mod:`fer_keras.inference.photo_search`) while the faces found so far are classified;
faces that the caller's own detector found are classified as given (``boxes=``).
``fer_keras.predict`` is its command line and re-exports :class:`EmotionRecognizer`.

Example:
    >>> recognizer = EmotionRecognizer("models/shallow_cnn_softmax_20250101-120000")
    >>> recognizer.detect("photo.jpg")
    [{'box': [177, 66, 95, 95], 'emotion': 'happy', 'probability': 0.81, 'emotions': {...}, ...}]
    >>> EmotionRecognizer().tta  # the packaged cpu_fast model, with its flip
    'flip'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import keras
import numpy as np

from fer_keras import IMAGE_SIZE
from fer_keras.data.parse import default_workers
from fer_keras.evaluation.packaged import resolve_model
from fer_keras.evaluation.run_dir import Run, load_run
from fer_keras.inference import video
from fer_keras.inference.detectors import default_detector, make_detector
from fer_keras.inference.faces import MIN_FACE_FRACTION, crop_faces, read_image, to_grey
from fer_keras.inference.images import DEFAULT_MAX_PIXELS, describe_error
from fer_keras.inference.photo_search import PhotoSearch
from fer_keras.inference.registration import ALIGNMENTS, Registration, warp_faces
from fer_keras.inference.results import ImageResult, check_boxes, face_entry

__all__ = ["MIN_FACE_FRACTION", "EmotionRecognizer", "ImageResult", "default_model",
           "describe_error"]


def default_model() -> Path:
    """The model used when none is given: the one packaged with fer_keras (``cpu_fast``, see
    :mod:`fer_keras.inference.pretrained`), a run directory inside the installed package."""
    return resolve_model(None)


class EmotionRecognizer:
    """Find faces in images and score the seven emotions of each, with a trained model.

    Args:
        model: a run directory of ``fer_keras.train`` / ``compare`` (its SVC or feature head and its
            preprocessing are used), a ``.keras`` file (preprocessed as the ``config.json`` beside
            it says, if any), the name of a packaged model (``"cpu_fast"``) or a ``keras.Model``.
            ``None``: :func:`default_model`.
        detector: ``"yunet"`` (bundled with the ``yuface`` wheel; the default where it is
            installed), ``"haar"`` (OpenCV's cascade), a face model file (YuNet ``.onnx``, SSD
            ``.caffemodel``/``.pb``) or a ``fer_keras.inference.faces.FaceDetector``; ``None``:
            ``fer_keras.inference.detectors.default_detector()``.
        margin: ``None`` (default): each face is cut as FER2013's faces were registered
            (:mod:`fer_keras.inference.registration`, see ``align``). A number: a plain square
            around the box with this fraction of it added on each side (the former default,
            0.1).
        align: how a face is registered: ``"box"`` (default) places it by its box as that
            detector's boxes sit on FER2013 faces, turned upright when its eye line (from the
            detector's landmarks) tilts more than ``fer_keras.inference.registration.MAX_TILT``
            degrees; ``"landmarks"`` fits its five landmarks onto FER2013's (rotation, scale and
            shift), the detector then refining them on the full-size photo.
        min_face: smallest face side in pixels.
        min_face_fraction: smallest face side as a fraction of the image's shorter side, when
            that is more than ``min_face`` (0: ``min_face`` alone, to find faces smaller than a
            tenth of a photo, as in crowds). A detector's pyramid costs most at its smallest
            faces: on a 560x760 portrait the default searches faces from 56 pixels, on a copy
            downscaled so that they are 30 (see ``fer_keras.inference.faces``).
        first_face: when the smallest face searched (a ``min_face_fraction`` of the photo) is
            below this, an image is first searched for faces from this size (on a smaller
            copy: on a 256-pixel photo about half the processor time of the full search), and
            down to the smallest face only when none is found; ``None`` (or
            ``min_face_fraction=0``, every face of a crowd): one search down to the smallest
            face, so that a photo with a large face still shows a small one beside it. The
            default is the model's input, 48: a smaller face is enlarged to be classified.
        max_side: larger images are searched downscaled to this longer side.
        max_pixels: the largest image file read (width x height, from its header: a larger one is
            refused before decoding, see ``fer_keras.inference.images``); ``None``: no limit.
        batch_size: faces per model call.
        workers: threads that read and search images at once in :meth:`iter_detect` (OpenCV
            and YuNet let go of Python's lock; a detector that holds it searches on one more
            thread); ``None``: one per CPU core; 1: none, every image read, searched and
            classified in turn.
        tta: test-time views averaged per face, one of ``fer_keras.evaluation.tta.TTA_MODES``;
            ``None``: the run's own (``config.json``'s ``"tta"``; the packaged ``cpu_fast`` model
            uses ``"flip"``), else ``"none"``. A network trained on crops always gets crops of
            the face (the center one with ``"none"``).
        **detector_options: further arguments of the detector class (for ``"yunet"``:
            ``score_threshold``, ``refine_face`` of
            ``fer_keras.inference.detectors.BundledYuNetDetector``; for ``"haar"``:
            ``scale_factor``, ``min_neighbors``, ``check_cascade``, ``min_check_hits`` of
            ``fer_keras.inference.faces.HaarFaceDetector``).

    Each face is a dict: ``box`` ``[x, y, w, h]`` in image pixels, ``detection_score``, ``emotion``
    (the top one), ``probability`` (its probability), ``emotions`` (the probability of each of
    the run's classes: ``CLASS_NAMES``, or six with ``merge_disgust``) and ``scores`` (the head's
    raw outputs: the probabilities for a softmax head, SVM margins for L2-SVM and SVC heads, whose
    ``emotions`` are the softmax of those margins).
    """

    def __init__(self, model=None, *, detector=None, margin: float | None = None,
                 align: str = "box", min_face: int = 30,
                 min_face_fraction: float = MIN_FACE_FRACTION,
                 first_face: int | None = IMAGE_SIZE, max_side: int = 1280,
                 batch_size: int = 64, tta: str | None = None, workers: int | None = None,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, **detector_options):
        run = (Run(Path.cwd(), {}, model) if isinstance(model, keras.Model)
               else load_run(model))
        self.config, self.svc = run.config, run.svc
        self.class_names = run.class_names  # six for a merge_disgust run, eight with contempt
        self.softmax = run.softmax
        # The run's one scorer: whole 48x48 faces in, its TTA views cut and averaged inside the
        # graph (an SVC head's decision values averaged over the views), as evaluate scores.
        self.predictor = run.predictor(tta, batch_size)
        self.tta, self.model = self.predictor.mode, self.predictor.model
        if align not in ALIGNMENTS:
            raise ValueError(f"align must be one of {', '.join(ALIGNMENTS)}. Received: {align!r}")
        detector = default_detector() if detector is None else detector
        if align == "landmarks" and detector == "yunet":
            detector_options.setdefault("refine_face", 128)
        self.detector = make_detector(detector, min_size=min_face, min_fraction=min_face_fraction,
                                      max_side=max_side, first_face=first_face,
                                      **detector_options)
        self.margin, self.align = margin, align
        self.batch_size, self.max_pixels = batch_size, max_pixels
        self.registration = Registration.load() if margin is None else None
        self.workers = max(1, workers or default_workers())
        self._search = None

    def scores(self, faces: np.ndarray) -> np.ndarray:
        """Head outputs ``(n, k)`` for uint8 grey face crops ``(n, 48, 48)``."""
        return self.predictor.scores(np.asarray(faces, np.uint8).reshape(-1, IMAGE_SIZE,
                                                                         IMAGE_SIZE))

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Emotion probabilities of :meth:`scores` (softmax of margins for SVM heads)."""
        if self.softmax:
            return scores
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def find_faces(self, image, channel_order: str = "bgr", boxes=None):
        """``(grey image, boxes (n, 4), detection scores (n,))`` of a path or an array; the
        caller's ``boxes`` instead of the detector's, when given (their scores are ``None``)."""
        return self._find(self._grey(image, channel_order), boxes)[:3]

    def crop(self, grey: np.ndarray, boxes, landmarks=None) -> np.ndarray:
        """The ``(n, 48, 48)`` uint8 faces the model scores, cut from ``grey`` at ``boxes`` (see
        ``margin`` and ``align``), with the detector's ``landmarks`` ``(n, 5, 2)`` if any."""
        if self.registration is None:
            return crop_faces(grey, boxes, margin=self.margin)
        if landmarks is not None and self.align == "landmarks":
            matrices = self.registration.from_landmarks(landmarks)
        else:
            matrices = self.registration.from_boxes(
                boxes, getattr(self.detector, "registration", None), landmarks)
        return warp_faces(grey, matrices)

    def _grey(self, image, channel_order="bgr") -> np.ndarray:
        """The uint8 grey image of a path or an array."""
        if isinstance(image, (str, os.PathLike)):
            image, channel_order = read_image(image, grey=True, max_pixels=self.max_pixels), "bgr"
        return to_grey(image, channel_order)

    def _find(self, grey, boxes=None):
        """``(grey, boxes, detection scores, landmarks)``: the detector's, or the caller's
        ``boxes`` (scores ``None``, no landmarks)."""
        if boxes is not None:
            boxes = check_boxes(boxes)
            return grey, boxes, [None] * len(boxes), None
        find = getattr(self.detector, "find", None)
        if find is not None:
            return (grey, *find(grey))
        return (grey, *self.detector(grey), None)

    def detect(self, image, channel_order: str = "bgr", *, boxes=None) -> list[dict]:
        """One entry per face of ``image`` (a path or a grey/BGR/RGB/RGBA array of any dtype).

        Args:
            channel_order: whether a colour array is ``"bgr"`` (OpenCV) or ``"rgb"``
                (matplotlib, PIL, scikit-image).
            boxes: the faces' boxes ``(n, 4)`` as ``x, y, w, h`` in image pixels, found by the
                caller's own detector: they are classified as given (``detection_score``
                ``None``) and the recognizer's detector is not run.

        Example:
            >>> recognizer.detect(photo, boxes=[[177, 66, 95, 95]])[0]["emotion"]
            'happy'
        """
        # on this thread: one photo's search on every core (YuNet's OpenMP team) beats one
        # core's while the pool's threads wait for photos that do not come
        found = self._iter([image], channel_order, errors="raise", serial=True,
                           boxes=None if boxes is None else [boxes])
        return next(found).faces

    def detect_many(self, images: Iterable, channel_order: str = "bgr", *,
                    boxes: Iterable | None = None) -> list[list[dict]]:
        """:meth:`detect` for many images (``boxes``: one array per image), searched in parallel
        and their faces classified together in batches.

        Raises the error of the first image that cannot be read (``iter_detect`` reports it
        instead and goes on).
        """
        return [result.faces for result in self.iter_detect(images, channel_order, boxes=boxes,
                                                            errors="raise")]

    def iter_detect(self, images: Iterable, channel_order: str = "bgr", *, chunk_size: int = 16,
                    keep_images: bool = False, errors: str = "report",
                    boxes: Iterable | None = None) -> Iterator[ImageResult]:
        """Yield an :class:`ImageResult` per image, in order; ``workers`` threads read and search
        the next images while the faces of ``chunk_size`` images are classified together.

        Args:
            images: paths or arrays.
            keep_images: keep each decoded image in its result (to draw on it).
            errors: ``"report"``: an unreadable image becomes a result with ``error`` set;
                ``"raise"``: its exception propagates.
            boxes: the caller's face boxes, one ``(n, 4)`` array per image (see :meth:`detect`).
        """
        return self._iter(images, channel_order, chunk_size, keep_images, errors, boxes)

    def _iter(self, images, channel_order, chunk_size=16, keep_images=False, errors="report",
              boxes=None, serial=False):
        """:meth:`iter_detect`; ``serial``: every image read and searched on this thread."""
        def read(item):
            _, (image, box) = item
            order = channel_order
            if keep_images and isinstance(image, (str, os.PathLike)):
                image, order = read_image(image, max_pixels=self.max_pixels), "bgr"
            return image if keep_images else None, self._grey(image, order), box

        def find(loaded):  # the faces found, cut on the searching thread
            kept, grey, box = loaded
            grey, found_boxes, det_scores, landmarks = self._find(grey, box)
            return kept, found_boxes, det_scores, self.crop(grey, found_boxes, landmarks)

        pairs = (zip(images, boxes, strict=True) if boxes is not None
                 else ((image, None) for image in images))
        pending, crops = [], []
        if self._search is None or self._search.detector is not self.detector:
            self._search = PhotoSearch(self.detector, self.workers)  # its pools for this one
        searched = self._search(read, find, enumerate(pairs), serial)
        for (index, (image, _)), (found, error) in searched:
            source = str(image) if isinstance(image, (str, os.PathLike)) else index
            if error is not None:
                if errors == "raise":
                    raise error
                pending.append((ImageResult(source, [], describe_error(error)), None, None))
                continue
            kept, found_boxes, det_scores, faces = found
            crops.append(faces)
            pending.append((ImageResult(source, [], None, kept), found_boxes, det_scores))
            if len(pending) >= chunk_size:
                yield from self._finish(pending, crops)
                pending, crops = [], []
        yield from self._finish(pending, crops)

    def _finish(self, pending, crops):
        all_crops = (np.concatenate(crops) if crops
                     else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8))
        scores = self.scores(all_crops)
        probs = self.probabilities(scores)
        start = 0
        for result, boxes, det_scores in pending:
            if boxes is not None:
                stop = start + len(boxes)
                result.faces = [face_entry(b, d, s, p, self.class_names) for b, d, s, p in zip(
                    boxes, det_scores, scores[start:stop], probs[start:stop])]
                start = stop
            yield result

    def detect_video(self, source, *, every: int = 1, out_video=None,
                     max_frames: int | None = None, smooth: float = 0.0,
                     progress: bool = False) -> Iterator[tuple[int, float, list[dict]]]:
        """Yield ``(frame index, seconds, faces)`` for every ``every``-th frame of a video file or
        a camera (``0``: the first webcam), each face with a ``track`` id kept from frame to
        frame; ``smooth`` averages each track's emotions, the first Ctrl-C ends the loop between
        two frames. See :func:`fer_keras.inference.video.iter_video` for the arguments."""
        return video.iter_video(self, source, every=every, out_video=out_video,
                                max_frames=max_frames, smooth=smooth, progress=progress)
