"""How to cut a face from a photo, and which test-time views to score it with: accuracy through
photos of every cut and TTA mode, on every PublicTest face shown as a photo.

    python benchmarks/bench_registration.py [--model cpu_fast] [--faces 3589] [--json FILE]

Each PublicTest face (of `dataset/fer2013.csv`, else the embedded sample) is enlarged into a photo
of each `photo_sets.FER_COLLECTIONS` size, and once more into the 350x350 one turned by up to 20
degrees either way (`fer_web_350_tilt20`, seeded). YuNet searches every photo as the recognizer
does; the face it finds at the real face's place is cut in each of these ways:

- **box, upright past 10°** (the default): placed by its box as YuNet's boxes sit on FER2013's
  faces, turned upright when the eye line tilts more than 10 degrees
  (`fer_keras.inference.registration.MAX_TILT`);
- **box, upright past 5°** and **box, never turned**: the same with another threshold, or none;
- **five landmarks**: the similarity transform of its five landmarks onto FER2013's template
  (`align="landmarks"`, with the landmarks refined on the full-size photo, as it runs);
- **square + 0.1 margin**, **square, no margin**: a plain square around YuNet's box;

and, for reference, the Haar cascade's face cut as a plain square without margin (the "plain face
box"; the faces Haar finds are easier ones, so it is set against the same faces at 48x48). Every
cut is scored with ten crops, a flip and no test-time views; "48x48" is the same model on the
original 48x48 faces that were found, the best any cut can do. The control row cuts each face
back exactly as the set placed it (the inverse of its enlargement, shift and turn): what the set's
own resampling costs (48 pixels enlarged with bicubic interpolation, then reduced again), which
no cut can win back and photos taken by a camera do not have. No timing: run it any time.
"""

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import photo_sets  # benchmarks/photo_sets.py, beside this script
from bench_predict import match

from fer_keras import load_run
from fer_keras.inference.detectors import make_detector
from fer_keras.inference.faces import crop_faces
from fer_keras.inference.registration import Registration, warp_faces

TTA = ("tencrop", "flip", "none")
CUTS = ("box, upright past 10° (default)", "box, upright past 5°", "box, never turned",
        "five landmarks", "square + 0.1 margin", "square, no margin")
#: The control: each face cut back exactly as it was placed, so only the photo's own resampling
#: (48 pixels enlarged, then reduced again) separates it from the 48x48 face.
EXACT = "exact placement undone (control)"


def placement(box) -> np.ndarray:
    """The ``(3, 3)`` transform from a 48x48 face's pixels to the photo's, for a face enlarged
    to the real box ``x, y, side, side`` as `photo_sets.fer_collection` places it
    (``cv2.resize``: face pixel ``f`` lands on ``(f + 0.5) * side / 48 - 0.5``)."""
    x, y, side, _ = box
    scale = side / 48
    return np.array([[scale, 0.0, x + 0.5 * scale - 0.5], [0.0, scale, y + 0.5 * scale - 0.5],
                     [0.0, 0.0, 1.0]])


def tilted(photo: np.ndarray, box, angle: float, place: np.ndarray):
    """``photo`` turned by ``angle`` degrees about its centre, the real face's box moved with it
    (its size kept: the match only needs its centre) and the face's placement ``place`` too."""
    h, w = photo.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    photo = cv2.warpAffine(photo, turn, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    x, y, bw, bh = box
    cx, cy = turn @ [x + bw / 2, y + bh / 2, 1.0]
    return photo, (cx - bw / 2, cy - bh / 2, bw, bh), np.vstack([turn, [0, 0, 1]]) @ place


def cut_all(photos, registration, yunet, refined, haar):
    """``(indices found, {cut: faces}, Haar's indices, Haar's plain faces)``; the cut
    ``EXACT`` undoes each face's own placement (``np.linalg.inv`` of it)."""
    found, cuts, haar_found, haar_faces = [], {c: [] for c in (*CUTS, EXACT)}, [], []
    for k, (photo, real, place) in enumerate(photos):
        boxes, _, marks = yunet.find(photo)
        owner = match([list(b) for b in boxes], [real])[0][0]
        if owner is not None:
            box, mark = boxes[owner:owner + 1], marks[owner:owner + 1]
            found.append(k)
            cuts[EXACT].append(warp_faces(photo, np.linalg.inv(place)[:2])[0])
            for cut, tilt in zip(CUTS[:3], (10.0, 5.0, None)):
                cuts[cut].append(warp_faces(photo, registration.from_boxes(box, "yunet", mark,
                                                                           tilt))[0])
            fine = refined.find(photo)
            fine_owner = match([list(b) for b in fine[0]], [real])[0][0]
            marks_fine = mark if fine_owner is None else fine[2][fine_owner:fine_owner + 1]
            cuts["five landmarks"].append(warp_faces(
                photo, registration.from_landmarks(marks_fine))[0])
            cuts["square + 0.1 margin"].append(crop_faces(photo, box, margin=0.1)[0])
            cuts["square, no margin"].append(crop_faces(photo, box, margin=0.0)[0])
        hboxes, _ = haar(photo)
        hown = match([list(b) for b in hboxes], [real])[0][0]
        if hown is not None:
            haar_found.append(k)
            haar_faces.append(crop_faces(photo, hboxes[hown:hown + 1], margin=0.0)[0])
    return np.array(found, int), cuts, np.array(haar_found, int), haar_faces


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="run directory or packaged model (default: cpu_fast)")
    parser.add_argument("--faces", type=int, default=3589, help="PublicTest faces (%(default)s)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    faces, labels, source = photo_sets.fer_faces(args.faces)
    run = load_run(args.model)
    predictors = {mode: run.predictor(mode) for mode in TTA}
    right_48 = {mode: p.scores(faces).argmax(axis=1) == labels for mode, p in predictors.items()}
    registration = Registration.load()
    options = {"min_size": 30, "min_fraction": 0.1}
    yunet, haar = make_detector("yunet", **options), make_detector("haar", **options)
    refined = make_detector("yunet", refine_face=128, **options)
    collections = [(name, 0.0) for name in photo_sets.FER_COLLECTIONS] + [("fer_web_350", 20.0)]
    print(f"{len(faces)} PublicTest faces of {source}; model {run.run_dir.name}; 48x48 accuracy "
          + ", ".join(f"{m} {v.mean():.2%}" for m, v in right_48.items()))
    results = {}
    for name, tilt in collections:
        rng = np.random.default_rng(3)
        photos = []
        for _, photo, (box,), _ in photo_sets.fer_collection(name, faces, labels):
            place = placement(box)
            photos.append(tilted(photo, box, float(rng.uniform(-tilt, tilt)), place) if tilt
                          else (photo, box, place))
        key = f"{name}_tilt{tilt:.0f}" if tilt else name
        found, cuts, haar_found, haar_faces = cut_all(photos, registration, yunet, refined, haar)
        row = {"photos": len(photos), "found": len(found), "haar_found": len(haar_found)}
        print(f"\n{key}: YuNet found {len(found)} of {len(photos)}, Haar {len(haar_found)}; "
              "accuracy on the faces found, and its difference from the same faces at 48x48")
        print(f"{'cut':<36}" + "".join(f"{m:>18}" for m in TTA))
        same = {m: float(right_48[m][found].mean()) for m in TTA}
        print(f"{'48x48 (the same faces)':<36}" + "".join(f"{same[m]:>18.2%}" for m in TTA))
        for cut in (EXACT, *CUTS):
            cells = ""
            for mode, predictor in predictors.items():
                acc = float(np.mean(predictor.scores(np.array(cuts[cut])).argmax(axis=1)
                                    == labels[found]))
                row[f"{cut} / {mode}"] = acc
                cells += f"{acc:>9.2%} ({100 * (acc - same[mode]):+.2f})"
            print(f"{cut:<36}{cells}")
        cells = ""
        for mode, predictor in predictors.items():
            acc = float(np.mean(predictor.scores(np.array(haar_faces)).argmax(axis=1)
                                == labels[haar_found]))
            ref = float(right_48[mode][haar_found].mean())
            row[f"haar plain box / {mode}"], row[f"48x48 of haar's / {mode}"] = acc, ref
            cells += f"{acc:>9.2%} ({100 * (acc - ref):+.2f})"
        print(f"{'Haar, square, no margin (its faces)':<36}{cells}")
        row.update({f"48x48 / {m}": same[m] for m in TTA})
        results[key] = row
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"source": source, "model": str(run.run_dir.name),
                                               "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
