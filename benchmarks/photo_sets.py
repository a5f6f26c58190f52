"""Photo collections of real people for `bench_predict.py`: real photographs, and real labelled
FER2013 faces shown as photos of the sizes people take.

- **portraits** (36 photos, every one a real photograph): the three photographs of people that
  ship with our dependencies, all public domain (scikit-image's astronaut, Eileen Collins, NASA;
  its cameraman, whose head is turned and side-lit; matplotlib's Grace Hopper, US Navy), each at
  the three sizes of the collections that showed the problem — a 256x256 head-and-shoulders shot,
  a 350x350 face crop, a 560x760 portrait — upright, mirrored, tilted by 15 degrees either way; and
  nine scenes without a face (scikit-image's coffee, rocket, bricks, gravel, grass...). No emotion
  labels: faces found, false positives and speed.
- **fer_web_350**, **fer_head_256**, **fer_portrait_560x760**: PublicTest faces (of
  `dataset/fer2013.csv` when it is there, else the embedded sample's), a seeded draw, enlarged
  from 48x48 with bicubic interpolation and placed, shifted at random, in photos of those sizes
  (the face 70%, 55% and 50% of the shorter side; the rest is the face's own border, repeated).
  They carry FER2013's labels, so the accuracy through the photo path can be set against the same
  model on the 48x48 faces themselves: what detection and cropping cost. FER2013's faces are
  already registered, so the 48x48 face is the best any crop can do.

Each builder returns ``[(file name, BGR or grey image, [real boxes x, y, w, h], [labels])]``.
"""

from __future__ import annotations

import cv2
import numpy as np
from matplotlib import cbook
from skimage import data as skdata

from fer_keras.data.loading import default_data_path, load_dataset, sample_path

#: Real face boxes (x, y, w, h) on the source photographs, read off by eye.
ASTRONAUT_FACE = (170, 58, 108, 120)  # skimage.data.astronaut(), 512x512
CAMERAMAN_FACE = (196, 112, 62, 78)  # skimage.data.camera(), 512x512, head turned
HOPPER_FACE = (165, 135, 200, 215)  # matplotlib's grace_hopper.jpg, 512x600

#: FER collections: name → (photo width, height, face side as a fraction of the shorter side).
FER_COLLECTIONS = {"fer_web_350": (350, 350, 0.70), "fer_head_256": (256, 256, 0.55),
                   "fer_portrait_560x760": (560, 760, 0.50)}


def _sources() -> list[tuple[str, np.ndarray, tuple]]:
    hopper = cv2.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return [("astronaut", np.ascontiguousarray(skdata.astronaut()[..., ::-1]), ASTRONAUT_FACE),
            ("cameraman", cv2.cvtColor(skdata.camera(), cv2.COLOR_GRAY2BGR), CAMERAMAN_FACE),
            ("hopper", hopper, HOPPER_FACE)]


def _framed(image, box, size, face_fraction, angle=0.0, mirror=False):
    """``image`` scaled so that the face's box is ``face_fraction`` of the shorter side of a
    ``size`` (w, h) photo, the face a little above its centre, turned by ``angle`` degrees about
    the face's centre and mirrored if asked; the face's box in the photo."""
    x, y, w, h = box
    width, height = size
    scale = face_fraction * min(size) / max(w, h)
    cx, cy = x + w / 2, y + h / 2
    tx, ty = width / 2, height * 0.45
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    matrix[:, 2] += (tx - cx, ty - cy)
    photo = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    face = (tx - w * scale / 2, ty - h * scale / 2, w * scale, h * scale)
    if mirror:
        photo, face = photo[:, ::-1], (width - face[0] - face[2], *face[1:])
    return np.ascontiguousarray(photo), face


def portraits() -> list:
    photos = []
    views = [("", 0.0, False), ("_mirrored", 0.0, True), ("_tilt15", 15.0, False),
             ("_tilt-15", -15.0, True)]
    shapes = [("head_256", (256, 256), 0.42), ("web_350", (350, 350), 0.6),
              ("portrait_560x760", (560, 760), 0.36)]
    for name, image, box in _sources():
        for shape, size, fraction in shapes:
            for suffix, angle, mirror in views:
                photo, face = _framed(image, box, size, fraction, angle, mirror)
                photos.append((f"{name}_{shape}{suffix}.jpg", photo, [face], [None]))
    for name in ["coffee", "rocket", "brick", "gravel", "grass", "chelsea", "coins",
                 "hubble_deep_field", "immunohistochemistry"]:
        scene = getattr(skdata, name)()
        scene = cv2.cvtColor(scene, cv2.COLOR_GRAY2BGR) if scene.ndim == 2 else scene[..., ::-1]
        photos.append((f"noface_{name}.jpg", np.ascontiguousarray(scene), [], []))
    return photos


def fer_faces(count: int, seed: int = 27) -> tuple[np.ndarray, np.ndarray, str]:
    """``count`` PublicTest faces and labels drawn at random, and which file they came from."""
    path = default_data_path()
    path = path if path.is_file() else sample_path()
    images, labels = load_dataset(path)["PublicTest"]
    pick = np.sort(np.random.default_rng(seed).permutation(len(images))[:count])
    return images[pick], labels[pick], path.name


def fer_collection(name: str, faces: np.ndarray, labels: np.ndarray, seed: int = 5) -> list:
    width, height, fraction = FER_COLLECTIONS[name]
    side = round(fraction * min(width, height))
    rng = np.random.default_rng(seed)
    photos = []
    for k, (face, label) in enumerate(zip(faces, labels)):
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        x = int(rng.integers(0, width - side + 1))
        y = int(rng.integers(0, min(height - side, round(0.3 * height)) + 1))
        photo = cv2.copyMakeBorder(big, y, height - side - y, x, width - side - x,
                                   cv2.BORDER_REPLICATE)
        photos.append((f"{name}_{k:04d}.png", photo, [(x, y, side, side)], [int(label)]))
    return photos
