"""Learn FER2013's registration from its Training faces: the template of ``registration.json``.

``python -m fer_keras.inference.make_registration --data dataset/fer2013.csv [--faces 6000]``
(:mod:`fer_keras.commands.make_registration`) writes the package's file with these functions.

Each face (a seeded random draw of ``--faces`` Training rows) is enlarged from 48 to ``--enlarge``
pixels (bicubic) and padded by a quarter on each side with its own border, so that a detector
sees a photo-sized face that does not touch the image's edge. YuNet's five landmarks and each
detector's box (its highest-scoring face) are mapped back to the 48x48 face; the template is the
median of each coordinate over the faces found. The file records the command, the counts and the
spread of each landmark, and is written atomically.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer_keras import IMAGE_SIZE
from fer_keras.inference.detectors import BundledYuNetDetector, make_detector
from fer_keras.inference.registration import box_centres, eye_tilt

__all__ = ["enlarge", "measure", "template"]


def enlarge(face: np.ndarray, side: int, pad: float = 0.25) -> tuple[np.ndarray, int]:
    """A 48x48 face as a ``side``-pixel photo with a border of ``pad`` of it; the border's width."""
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    border = round(pad * side)
    return cv2.copyMakeBorder(big, border, border, border, border, cv2.BORDER_REPLICATE), border


def measure(faces: np.ndarray, side: int = 160, detectors=("yunet", "haar")) -> dict:
    """Per detector: landmarks ``(m, 5, 2)`` (or None) and boxes ``(m, 4)`` as centre x, centre y,
    w, h, in the pixel-centre coordinates of the 48x48 faces, for the ``m`` faces it found."""
    found = {}
    scale = IMAGE_SIZE / side

    def to_face(points, border):
        """Pixel-centre coordinates of the padded, enlarged photo → those of the 48x48 face."""
        return (np.asarray(points, np.float64) - border + 0.5) * scale - 0.5

    # the enlarged copy is searched at full size (no smallest fraction, no downscaling)
    options = {"yunet": {"min_size": BundledYuNetDetector.search_face, "refine_face": None},
               "haar": {"min_size": side // 4}}
    for name in detectors:
        detector = make_detector(name, max_side=4 * side, **options[name])
        marks, boxes = [], []
        for face in faces:
            photo, border = enlarge(face, side)
            box, score, landmarks = detector.find(photo)
            if not len(box):
                continue
            best = int(np.argmax(score))
            cx, cy, w, h = box_centres(box[best])
            boxes.append([*to_face((cx, cy), border), w * scale, h * scale])
            if landmarks is not None:
                marks.append(to_face(landmarks[best], border))
        found[name] = {"boxes": np.array(boxes).reshape(-1, 4),
                       "landmarks": np.array(marks).reshape(-1, 5, 2) if marks else None}
    return found


def template(found: dict, faces: int, command: str) -> dict:
    """The registration of :func:`measure`'s ``found``: YuNet's median landmarks and their spread,
    each detector's median box, the counts and the ``command`` that made it."""
    marks = found["yunet"]["landmarks"]
    spread = np.percentile(marks, 75, axis=0) - np.percentile(marks, 25, axis=0)
    return {
        "size": IMAGE_SIZE,
        "landmarks": np.round(np.median(marks, axis=0), 3).tolist(),
        "landmark_names": ["eye (image left)", "eye (image right)", "nose tip",
                           "mouth corner (image left)", "mouth corner (image right)"],
        "landmark_iqr": np.round(spread, 3).tolist(),
        # how far FER2013's own faces tilt: MAX_TILT turns upright only faces beyond most
        "eye_tilt_percentiles": {str(q): round(float(np.percentile(np.abs(eye_tilt(marks)), q)), 2)
                                 for q in (50, 75, 90, 95, 99)},
        "boxes": {name: np.round(np.median(v["boxes"], axis=0), 3).tolist()
                  for name, v in found.items()},
        "box_format": "centre x, centre y, width, height (pixel-centre coordinates)",
        "faces_searched": faces,
        "faces_found": {name: len(v["boxes"]) for name, v in found.items()},
        "command": command,
    }
