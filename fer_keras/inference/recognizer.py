"""The emotion recognizer: faces found in images and video frames, each scored by a trained model.

Faces of one image and of many are classified together in batches; the crops get the model's own
training preprocessing (histogram equalisation when the run used it), read from the run directory.
``fer_keras.predict`` is its command line and re-exports :class:`EmotionRecognizer`.

Example:
    >>> recognizer = EmotionRecognizer("models/shallow_cnn_softmax_20250101-120000")
    >>> recognizer.detect("photo.jpg")
    [{'box': [177, 66, 95, 95], 'emotion': 'happy', 'probability': 0.81, 'emotions': {...}, ...}]
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import keras
import numpy as np
import tensorflow as tf

from fer_keras import CLASS_NAMES, _io
from fer_keras.data import pipeline
from fer_keras.evaluation.evaluate import load_run
from fer_keras.evaluation.tta import view_model
from fer_keras.inference.faces import (
    ImageError,
    crop_faces,
    draw_faces,
    make_detector,
    read_image,
    to_grey,
)
from fer_keras.inference.pretrained import pretrained_dir
from fer_keras.models import heads
from fer_keras.models.saving import load_model_file


def default_model() -> Path:
    """The model used when none is given: the one packaged with fer_keras (``cpu_fast``, see
    :mod:`fer_keras.pretrained`), a run directory inside the installed package."""
    return pretrained_dir()


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


class EmotionRecognizer:
    """Find faces in images and score the seven emotions of each, with a trained model.

    Args:
        model: a run directory of ``fer_keras.train`` / ``compare`` (its SVC or feature head and its
            preprocessing are used), a ``.keras`` file (preprocessed as the ``config.json`` beside
            it says, if any), or a ``keras.Model``. ``None``: :func:`default_model`.
        detector: ``"haar"`` (OpenCV's bundled cascade), a face model file (YuNet ``.onnx``, SSD
            ``.caffemodel``/``.pb``) or a ``fer_keras.inference.faces.FaceDetector``.
        margin: fraction of the face box added on each side before cropping.
        min_face: smallest face side in pixels; ``max_side``: larger images are searched downscaled.
        batch_size: faces per model call.
        tta: test-time views averaged per face, one of ``fer_keras.evaluation.tta.TTA_MODES``;
        ``None``: the
            run's own (``config.json``'s ``"tta"``; the packaged ``cpu_fast`` model uses
            ``"tencrop"``), else ``"none"``. A network trained on crops always gets crops of the
            face (the center one with ``"none"``).
        **detector_options: further arguments of the detector class (for ``"haar"``:
            ``scale_factor``, ``min_neighbors``, ``check_cascade``, ``min_check_hits`` of
            ``fer_keras.inference.faces.HaarFaceDetector``).

    Each face is a dict: ``box`` ``[x, y, w, h]`` in image pixels, ``detection_score``, ``emotion``
    (the top one), ``probability`` (its probability), ``emotions`` (the probability of each of
    ``CLASS_NAMES``) and ``scores`` (the head's raw outputs: the probabilities for a softmax head,
    SVM margins for L2-SVM and SVC heads, whose ``emotions`` are the softmax of those margins).
    """

    def __init__(self, model=None, *, detector="haar", margin: float = 0.1, min_face: int = 30,
                 max_side: int = 1280, batch_size: int = 64, tta: str | None = None,
                 **detector_options):
        self.config, self.svc = {}, None
        if model is None:
            model = default_model()
        if isinstance(model, keras.Model):
            network = model
        elif Path(model).is_dir():
            run = load_run(model)
            network, self.config, self.svc = run.model, run.config, run.svc
            if run.feature_head is not None:  # one graph: network features → frozen-feature head
                layer = network.get_layer(self.config.get("feature_layer", heads.FEATURE_LAYER))
                network = keras.Model(network.input, run.feature_head(layer.output))
        elif Path(model).is_file():
            network = load_model_file(model)
            beside = Path(model).with_name("config.json")
            self.config = _io.read_json(beside) if beside.is_file() else {}
        else:
            raise FileNotFoundError(f"No model at {model}: pass a run directory or a .keras file.")
        if self.svc is not None:
            layer = self.config.get("feature_layer", heads.FEATURE_LAYER)
            network = keras.Model(network.input, network.get_layer(layer).output)
        last = getattr(network.layers[-1], "activation", None)
        self.softmax = self.svc is None and getattr(last, "__name__", "") == "softmax"
        # Whole 48x48 faces in, the views of the run's TTA cut and averaged inside the graph (an
        # SVC scores features, which are not averaged: it gets the center view).
        self.tta = "none" if self.svc is not None else (tta or self.config.get("tta") or "none")
        network = view_model(network, self.tta)
        self.model = network
        # One graph for every number of faces (predict_on_batch retraces for each new batch size).
        spec = tf.TensorSpec((None, *network.input_shape[1:]), tf.float32)
        self._forward = tf.function(lambda x: network(x, training=False), input_signature=[spec])
        self.equalize = self.config.get("equalize")
        self.detector = make_detector(detector, min_size=min_face, max_side=max_side,
                                      **detector_options)
        self.margin, self.batch_size = margin, batch_size

    def scores(self, faces: np.ndarray) -> np.ndarray:
        """Head outputs ``(n, 7)`` for uint8 grey face crops ``(n, 48, 48)``."""
        faces = np.asarray(faces, np.uint8).reshape(-1, 48, 48)
        if not len(faces):
            return np.zeros((0, len(CLASS_NAMES)), np.float32)
        x = pipeline.equalize_images(faces, self.equalize).astype(np.float32)[..., None]
        out = [self._forward(x[i:i + self.batch_size]).numpy()
               for i in range(0, len(x), self.batch_size)]
        out = np.concatenate(out)
        if self.svc is not None:
            out = heads.svc_scores(self.svc, out, len(CLASS_NAMES))
        return out.astype(np.float32)

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Emotion probabilities of :meth:`scores` (softmax of margins for SVM heads)."""
        if self.softmax:
            return scores
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def find_faces(self, image, channel_order: str = "bgr"):
        """``(grey image, boxes (n, 4), detection scores (n,))`` of a path or an array."""
        if isinstance(image, (str, os.PathLike)):
            image, channel_order = read_image(image), "bgr"
        grey = to_grey(image, channel_order)
        boxes, det_scores = self.detector(grey)
        return grey, boxes, det_scores

    def detect(self, image, channel_order: str = "bgr") -> list[dict]:
        """One entry per face of ``image`` (a path or a grey/BGR/RGB/RGBA array of any dtype).

        ``channel_order`` says whether a colour array is ``"bgr"`` (OpenCV) or ``"rgb"``
        (matplotlib, PIL, scikit-image).
        """
        return self.detect_many([image], channel_order)[0]

    def detect_many(self, images: Iterable, channel_order: str = "bgr") -> list[list[dict]]:
        """:meth:`detect` for many images, their faces classified together in batches.

        Raises the error of the first image that cannot be read (``iter_detect`` reports it
        instead and goes on).
        """
        results = []
        for result in self.iter_detect(images, channel_order, errors="raise"):
            results.append(result.faces)
        return results

    def iter_detect(self, images: Iterable, channel_order: str = "bgr", *, chunk_size: int = 16,
                    keep_images: bool = False, errors: str = "report") -> Iterator[ImageResult]:
        """Yield an :class:`ImageResult` per image; the faces of ``chunk_size`` images are
        classified together.

        Args:
            images: paths or arrays.
            keep_images: keep each decoded image in its result (to draw on it).
            errors: ``"report"``: an unreadable image becomes a result with ``error`` set;
                ``"raise"``: its exception propagates.
        """
        pending, crops = [], []
        for index, image in enumerate(images):
            source = str(image) if isinstance(image, (str, os.PathLike)) else index
            try:
                if isinstance(image, (str, os.PathLike)):
                    image, order = read_image(image), "bgr"
                else:
                    order = channel_order
                grey, boxes, det_scores = self.find_faces(image, order)
            except (OSError, ImageError, cv2.error) as e:
                if errors == "raise":
                    raise
                pending.append((ImageResult(source, [], describe_error(e)), None, None))
                continue
            crops.append(crop_faces(grey, boxes, margin=self.margin))
            pending.append((ImageResult(source, [], None, image if keep_images else None),
                            boxes, det_scores))
            if len(pending) >= chunk_size:
                yield from self._finish(pending, crops)
                pending, crops = [], []
        yield from self._finish(pending, crops)

    def _finish(self, pending, crops):
        all_crops = np.concatenate(crops) if crops else np.zeros((0, 48, 48), np.uint8)
        scores = self.scores(all_crops)
        probs = self.probabilities(scores)
        start = 0
        for result, boxes, det_scores in pending:
            if boxes is not None:
                stop = start + len(boxes)
                result.faces = [_face(b, d, s, p) for b, d, s, p in zip(
                    boxes, det_scores, scores[start:stop], probs[start:stop])]
                start = stop
            yield result

    def detect_video(self, source, *, every: int = 1, out_video=None,
                     max_frames: int | None = None) -> Iterator[tuple[int, float, list[dict]]]:
        """Yield ``(frame index, seconds, faces)`` for every ``every``-th frame of a video.

        Args:
            source: a video file or a camera index (``0``: the first webcam).
            out_video: write every frame, with the latest faces drawn, to this file (atomically,
                when the video ends or the loop is left).
            max_frames: stop after this many frames (a webcam runs until then or Ctrl-C).
        """
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            what = f"camera {source}" if isinstance(source, int) else str(source)
            raise ImageError(f"cannot open {what} as a video")
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        writer, faces, frame_index = None, [], 0
        with _io.atomic_path(out_video) if out_video else contextlib.nullcontext() as tmp:
            try:
                while max_frames is None or frame_index < max_frames:
                    try:
                        ok, frame = capture.read()
                    except KeyboardInterrupt:  # a webcam stops at Ctrl-C; its video is kept
                        break
                    if not ok:
                        break
                    if frame_index % every == 0:
                        faces = self.detect(frame)
                        yield frame_index, frame_index / fps, faces
                    if tmp is not None:
                        if writer is None:
                            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                                     fps, (frame.shape[1], frame.shape[0]))
                        writer.write(draw_faces(frame, faces))
                    frame_index += 1
                if frame_index == 0:
                    raise ImageError("no frame could be read")
            finally:
                capture.release()
                if writer is not None:
                    writer.release()


def _face(box, det_score, scores, probs) -> dict:
    top = int(np.argmax(scores))
    return {"box": [int(v) for v in box], "detection_score": float(det_score),
            "emotion": CLASS_NAMES[top], "probability": float(probs[top]),
            "emotions": {n: float(p) for n, p in zip(CLASS_NAMES, probs)},
            # An SVC scores a class it never saw -inf, which JSON cannot hold: null instead.
            "scores": {n: float(s) if np.isfinite(s) else None for n, s in zip(CLASS_NAMES,
                                                                                scores)}}


def describe_error(error: Exception) -> str:
    """A one-line description of an error reading or writing an image."""
    if isinstance(error, OSError):
        return f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
    if isinstance(error, cv2.error):
        return f"OpenCV failed: {str(error).strip().splitlines()[-1]}"
    return str(error)
