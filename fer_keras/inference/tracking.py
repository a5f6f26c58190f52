"""Faces followed from frame to frame: stable track ids and smoothed emotions.

:class:`FaceTracker` gives each face of a video frame the ``track`` id of the same face in the
frames before, by matching boxes on their overlap (IoU) with where each track is expected to be:
its last box moved on at its recent speed, so two faces that cross, or one hidden for a few
frames behind another, keep their ids. A track unseen for ``max_missed`` frames ends; its id is
never given again. With ``smooth`` > 0, each track's emotion probabilities are an exponential
moving average over its frames, which stops the label from flickering on noisy footage.

Example:
    >>> tracker = FaceTracker(smooth=0.7)
    >>> for frame in frames:
    ...     faces = tracker.update(recognizer.detect(frame))  # each face gains "track"
"""

from __future__ import annotations

import numpy as np


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union ``(len(a), len(b))`` of boxes ``x, y, w, h``."""
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    w = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def count_flips(labels) -> int:
    """How many times a sequence of labels changes from one item to the next."""
    labels = list(labels)
    return sum(a != b for a, b in zip(labels, labels[1:]))


class _Track:
    def __init__(self, track_id: int, box, probs):
        self.id, self.box, self.probs = track_id, np.asarray(box, np.float64), probs
        self.velocity, self.missed = np.zeros(2), 0

    def predicted(self) -> np.ndarray:
        """The box expected in the next frame: the last one moved on at the track's speed."""
        box = self.box.copy()
        box[:2] += self.velocity * (self.missed + 1)
        return box

    def update(self, box, probs, smooth: float) -> None:
        box = np.asarray(box, np.float64)
        step = (box[:2] + box[2:] / 2 - self.box[:2] - self.box[2:] / 2) / (self.missed + 1)
        self.velocity = 0.5 * self.velocity + 0.5 * step  # damped: detections jitter
        self.box, self.missed = box, 0
        if probs is not None and self.probs is not None:
            probs = smooth * self.probs + (1 - smooth) * probs
        self.probs = probs


class FaceTracker:
    """Stable ids for the faces of consecutive frames (IoU matching with a short memory).

    Args:
        iou_threshold: smallest overlap between a face and a track's expected box to match them.
        max_missed: frames a track is remembered without a face before it ends.
        smooth: weight of the past in each track's moving average of emotion probabilities,
            in [0, 1): 0 keeps each frame's own; ``s`` reduces noise as much as a plain mean
            over ``(1 + s) / (1 - s)`` frames would (0.7: about 6).

    Each face dict of :meth:`update` gains ``track`` (an int from 1); with ``smooth``, its
    ``emotions``, ``emotion`` and ``probability`` become the track's average (``scores`` stay the
    frame's own).
    """

    def __init__(self, *, iou_threshold: float = 0.3, max_missed: int = 10, smooth: float = 0.0):
        if not 0 <= smooth < 1:
            raise ValueError(f"smooth must be in [0, 1). Received: {smooth}")
        self.iou_threshold, self.max_missed, self.smooth = iou_threshold, max_missed, smooth
        self.tracks: list[_Track] = []
        self.next_id = 1

    def update(self, faces: list[dict]) -> list[dict]:
        """Give each face of the next frame its ``track`` (and its smoothed emotions), in place."""
        boxes = np.array([f["box"] for f in faces], np.float64).reshape(-1, 4)
        overlap = iou(boxes, [t.predicted() for t in self.tracks])
        matched = {}
        # Greedy, best overlap first: each face and each track is used once.
        for flat in np.argsort(-overlap, axis=None):
            i, j = np.unravel_index(flat, overlap.shape)
            if overlap[i, j] < self.iou_threshold:
                break
            if i not in matched and j not in matched.values():
                matched[i] = j
        for i, face in enumerate(faces):
            names = list(face.get("emotions", ()))  # the run's classes (six without disgust)
            probs = np.array([face["emotions"][n] for n in names]) if names else None
            if i in matched:
                track = self.tracks[matched[i]]
                track.update(boxes[i], probs, self.smooth)
            else:
                track = _Track(self.next_id, boxes[i], probs)
                self.tracks.append(track)
                self.next_id += 1
            face["track"] = track.id
            if self.smooth and track.probs is not None and len(track.probs) == len(names):
                top = int(np.argmax(track.probs))
                face.update(emotions={n: float(p) for n, p in zip(names, track.probs)},
                            emotion=names[top], probability=float(track.probs[top]))
        seen = {f["track"] for f in faces}
        for track in self.tracks:
            if track.id not in seen:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return faces
