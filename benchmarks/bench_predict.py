"""Photos per second end to end (read → detect → classify), faces found and accuracy through the
photo path: fer_keras against the `fer` package, on real photographs of people first.

    python benchmarks/bench_predict.py [--model cpu_fast] [--fer-python /work/fervenv/bin/python] \
        [--repeat 3] [--sets portraits,fer_web_350,...] [--fer-faces 500] [--all-sides] \
        [--limit N] [--per-photo] [--json FILE]

The sets, written to a temporary folder as JPEG/PNG files, every real face's box known:

- **portraits**, **fer_web_350**, **fer_head_256**, **fer_portrait_560x760** (the default, with
  ordinary): real photographs of people, and real labelled FER2013 PublicTest faces shown as
  photos of those sizes; see `benchmarks/photo_sets.py`. On the fer_* sets each side's accuracy
  through the photos (every labelled face; one not found counts as wrong), on the faces it found,
  and the same model on the 48x48 faces themselves ("48x48": what detection and cropping cost).
- **ordinary** (38 photos, 500-900 px on the longer side, 45 faces): 8 one-face portraits
  (scikit-image's astronaut and matplotlib's Grace Hopper, resized, some mirrored or darkened),
  16 scikit-image scenes each with one enlarged face of the embedded FER2013 sample blended in,
  6 group photos with 3-4 faces (100-150 px) and 8 scenes without a face (seed 19). Built to
  suit a detector's test, it hid the problems the real collections show: a second row at most.
- **large**: 8 photos up to 4000x2400 (scikit-image photos, a group of three astronauts on the
  coffee picture, and the group and the astronaut enlarged to phone-camera size).

A detection is a found face when its centre lies in a real face's box and its width is 0.4-1.6x
that box's (each real face is found once); any other detection is a false positive.

fer_keras runs in this process with its defaults (YuNet, each face placed by its box as YuNet's
boxes sit on FER2013's faces and turned upright past a 10-degree eye tilt, the smallest face a
tenth of the photo's shorter side, faces from 48 px searched first on a smaller copy, photos
read and searched on a thread per core, each YuNet search on its thread's core, faces
classified in batches with the packaged model's own test-time views, a flip), and as it was
before (Haar cascade, a square with a 0.1 margin), with YuNet and the square, with the
five-landmark fit (the default of 2026-12-06), with ten crops or no
test-time views, with one search down to the smallest face (no first search for faces from 48
px), and with YuNet through the yuface wheel's own function, which holds Python's lock, on one
searching thread with an OpenMP team of every core (the morning of 2026-12-07); `--all-sides`
adds photo by photo, one thread, and every face from 30 px.

`fer` (its Haar cascade and bundled model, its defaults) needs opencv-contrib-python (<5: OpenCV
5 ships no Haar cascades), which clashes with our opencv-python-headless, and setuptools<81 (it
imports pkg_resources), so it runs in its own venv as a subprocess (`--fer-python`). Its declared
dependencies pull in PyTorch for MTCNN, which its Haar path never imports, so the venv borrows
this environment's TensorFlow, pandas and Pillow (a .pth file; its own OpenCV comes first) and
installs fer without them:

    python3.11 -m venv /work/fervenv
    echo "$PWD/.venv/lib/python3.11/site-packages" \
        > /work/fervenv/lib/python3.11/site-packages/borrow.pth
    /work/fervenv/bin/pip install --no-deps fer==25.10.3 "opencv-contrib-python<5" "setuptools<81"

Start-ups (TensorFlow import, model load) are not timed on either side. Each side makes one
warm-up pass over a set, then `--repeat` timed passes; the best pass counts. Both sides read the
same files, on the CPU, one after the other in this run: run it alone on the machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import photo_sets  # benchmarks/photo_sets.py, beside this script
from matplotlib import cbook
from skimage import data as skdata

from fer_keras import CLASS_NAMES
from fer_keras.data.loading import load_dataset, sample_path
from fer_keras.inference.recognizer import EmotionRecognizer

FER_SCRIPT = r"""
import json, sys, time
from fer.fer import FER  # fer 25 no longer exports it from the package
sets, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
detector = FER()
out = {}
for name, paths in sets.items():
    found = [detector.detect_emotions(p) for p in paths]  # warm-up
    boxes = [[[int(v) for v in f["box"]] for f in faces] for faces in found]
    emotions = [[max(f["emotions"], key=f["emotions"].get) for f in faces] for faces in found]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for p in paths:
            detector.detect_emotions(p)
        times.append(time.perf_counter() - start)
    out[name] = {"seconds": times, "boxes": boxes, "emotions": emotions}
import fer, cv2, tensorflow
print(json.dumps({"sets": out, "fer": fer.__version__, "opencv": cv2.__version__,
                  "tensorflow": tensorflow.__version__}))
"""

#: Real face boxes (x, y, w, h) on the photos the sets are made from.
ASTRONAUT_FACE = (158, 47, 133, 133)  # skimage.data.astronaut(), 512x512
HOPPER_FACE = (160, 130, 210, 210)  # matplotlib's grace_hopper.jpg, 512x600


def resized(image, box, crop, size, mirror=False):
    """``image`` cropped to ``crop`` (x0, y0, x1, y1), resized to ``size`` (w, h), mirrored if
    asked, and ``box`` moved with it."""
    x0, y0, x1, y1 = crop
    sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    out = cv2.resize(image[y0:y1, x0:x1], size,
                     interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_CUBIC)
    x, y, w, h = box
    box = ((x - x0) * sx, (y - y0) * sy, w * sx, h * sy)
    if mirror:
        out, box = out[:, ::-1], (size[0] - box[0] - box[2], *box[1:])
    return np.ascontiguousarray(out), [box]


def scene(name: str, size) -> np.ndarray:
    """A scikit-image photo (BGR) cropped to the aspect of ``size`` (w, h) and resized to it."""
    image = getattr(skdata, name)()
    image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: left, right...
    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[..., 2::-1]
    h, w = image.shape[:2]
    aspect = size[0] / size[1]
    cw, ch = (round(h * aspect), h) if w / h > aspect else (w, round(w / aspect))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return resized(image, (0, 0, 1, 1), (x0, y0, x0 + cw, y0 + ch), size)[0]


def blend(canvas: np.ndarray, face: np.ndarray, x: int, y: int, side: int):
    """Paste a grey 48x48 face enlarged to ``side`` at ``(x, y)``, its border faded into the
    scene; returns the face's box."""
    patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / (0.08 * side), 0, 1)
    alpha = np.minimum.outer(ramp, ramp)[..., None]
    region = canvas[y:y + side, x:x + side].astype(np.float32)
    canvas[y:y + side, x:x + side] = np.rint(alpha * patch[..., None] + (1 - alpha) * region)
    return (x, y, side, side)


def ordinary_set() -> list[tuple[str, np.ndarray, list]]:
    """``(name, BGR image, real face boxes)`` of the ordinary photos."""
    astronaut = skdata.astronaut()[..., ::-1]
    hopper = cv2.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    dark = lambda im: np.rint(255 * (im / 255.0) ** 1.6).astype(np.uint8)  # noqa: E731
    photos = [
        ("astronaut_560.jpg", *resized(astronaut, ASTRONAUT_FACE, (0, 0, 512, 512), (560, 560))),
        ("astronaut_540x720.jpg", *resized(astronaut, ASTRONAUT_FACE, (64, 0, 448, 512),
                                           (540, 720), mirror=True)),
        ("astronaut_800x600.jpg", *resized(astronaut, ASTRONAUT_FACE, (0, 0, 512, 384),
                                           (800, 600))),
        ("astronaut_dark_500.jpg", *resized(dark(astronaut), ASTRONAUT_FACE, (0, 0, 512, 512),
                                            (500, 500), mirror=True)),
        ("hopper_560x656.jpg", *resized(hopper, HOPPER_FACE, (0, 0, 512, 600), (560, 656))),
        ("hopper_640.jpg", *resized(hopper, HOPPER_FACE, (0, 0, 512, 512), (640, 640),
                                    mirror=True)),
        ("hopper_576x720.jpg", *resized(hopper, HOPPER_FACE, (16, 0, 496, 600), (576, 720))),
        ("hopper_dark_760x570.jpg", *resized(dark(hopper), HOPPER_FACE, (0, 40, 512, 424),
                                             (760, 570), mirror=True)),
    ]
    faces, _ = load_dataset(sample_path())["PublicTest"]
    rng = np.random.default_rng(19)
    pool = iter(faces[rng.permutation(len(faces))])
    scenes = ["coffee", "rocket", "brick", "gravel", "hubble_deep_field", "stereo_motorcycle",
              "grass", "immunohistochemistry"]
    sizes = [(640, 480), (480, 640), (800, 600), (600, 800), (720, 540), (560, 760)]
    for k in range(16):
        size = sizes[k % len(sizes)]
        canvas = scene(scenes[k % len(scenes)], size)
        side = int(min(size) * rng.uniform(0.25, 0.45))
        x, y = (int(rng.integers(0, s - side)) for s in size)
        photos.append((f"scene{k:02d}_{scenes[k % len(scenes)]}.jpg", canvas,
                       [blend(canvas, next(pool), x, y, side)]))
    for k, (name, count) in enumerate([("coffee", 4), ("rocket", 3), ("brick", 4),
                                       ("hubble_deep_field", 3), ("gravel", 4), ("coffee", 3)]):
        size = (800, 600) if k % 2 == 0 else (900, 600)
        canvas, boxes, slot = scene(name, size), [], size[0] // count
        for j in range(count):
            side = int(rng.integers(100, 151))
            x = j * slot + int(rng.integers(0, slot - side))
            y = int(rng.integers(40, size[1] - side - 40))
            if k == 5 and j < 2:  # a group of real photos' faces too
                head, box = (astronaut, ASTRONAUT_FACE) if j == 0 else (hopper, HOPPER_FACE)
                bx, by, bw, _ = box
                pad = bw // 2
                crop = (bx - pad // 2, max(0, by - pad // 2), bx + bw + pad // 2,
                        max(0, by - pad // 2) + bw + pad)
                patch, [face] = resized(head, box, crop, (side, side))
                canvas[y:y + side, x:x + side] = patch
                boxes.append((x + face[0], y + face[1], face[2], face[3]))
            else:
                boxes.append(blend(canvas, next(pool), x, y, side))
        photos.append((f"group{k}_{name}.jpg", canvas, boxes))
    for name, size in [("coffee", (720, 480)), ("rocket", (640, 427)), ("chelsea", (675, 450)),
                       ("brick", (600, 600)), ("gravel", (512, 512)),
                       ("hubble_deep_field", (800, 698)), ("stereo_motorcycle", (741, 500)),
                       ("immunohistochemistry", (640, 640))]:
        photos.append((f"noface_{name}.jpg", scene(name, size), []))
    return photos


def large_set() -> list[tuple[str, np.ndarray, list]]:
    """The earlier benchmark's photos (smallest first) and their real face boxes."""
    astronaut = skdata.astronaut()[..., ::-1]
    coffee = skdata.coffee()[..., ::-1]
    group, faces = cv2.resize(coffee, (1000, 600)), []
    fx, fy, fw, fh = ASTRONAUT_FACE
    for x, y, scale, mirror in [(30, 40, 1.0, False), (330, 120, 0.8, True),
                                (600, 30, 1.3, False)]:
        patch = cv2.resize(astronaut[20:260, 120:340], None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_AREA)
        group[y:y + patch.shape[0], x:x + patch.shape[1]] = patch[:, ::-1] if mirror else patch
        left = (220 - (fx - 120) - fw if mirror else fx - 120) * scale
        faces.append((x + left, y + (fy - 20) * scale, fw * scale, fh * scale))
    big = lambda image, size: cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)  # noqa: E731
    return [("chelsea.png", skdata.chelsea()[..., ::-1], []),
            ("rocket.jpg", skdata.rocket()[..., ::-1], []),
            ("astronaut.png", astronaut, [ASTRONAUT_FACE]),
            ("camera.png", skdata.camera(), []),
            ("coffee.png", coffee, []),
            ("group.jpg", group, faces),
            ("group_4000x2400.jpg", big(group, (4000, 2400)),
             [np.multiply(b, 4) for b in faces]),
            ("astronaut_3000x3000.jpg", big(astronaut, (3000, 3000)),
             [np.multiply(ASTRONAUT_FACE, 3000 / 512)])]


SETS = {"ordinary": ordinary_set, "large": large_set}
DEFAULT_SETS = ("portraits", *photo_sets.FER_COLLECTIONS, "ordinary")
ALL_SETS = (*DEFAULT_SETS, "large")


def write_set(folder: Path, photos) -> tuple[list[Path], list]:
    paths = []
    for name, image, _ in photos:
        path = folder / name
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92] if name.endswith(".jpg")
                    else [])
        paths.append(path)
    return paths, [[[float(v) for v in b] for b in boxes] for _, _, boxes in photos]


def match(found: list, real: list) -> tuple[list, int]:
    """For each real face of a photo the index of the detection that found it (``None``: not
    found), and the number of false positives."""
    left, owner = list(range(len(real))), [None] * len(real)
    for k, (x, y, w, h) in enumerate(found):
        cx, cy = x + w / 2, y + h / 2
        hit = next((i for i in left if real[i][0] <= cx <= real[i][0] + real[i][2]
                    and real[i][1] <= cy <= real[i][1] + real[i][3]
                    and 0.4 * real[i][2] <= w <= 1.6 * real[i][2]), None)
        if hit is not None:
            left.remove(hit)
            owner[hit] = k
    return owner, len(found) - sum(o is not None for o in owner)


def score(found: list, real: list) -> tuple[int, int]:
    """``(real faces found, false positives)`` of one photo's detected boxes."""
    owner, false = match(found, real)
    return sum(o is not None for o in owner), false


def accuracy(result: dict, real: list, labels: list, plain: np.ndarray | None = None
             ) -> tuple[float, float, float] | None:
    """Accuracy through the photos over every labelled face (a face not found is wrong), over
    the faces found, and the same model's on the 48x48 faces of those found (``plain``: whether
    it is right on each photo's face, for the fer_* sets); ``None`` for a set without labels."""
    right = total = 0
    found = []
    for k, (boxes, emotions, faces, names) in enumerate(zip(result["boxes"], result["emotions"],
                                                            real, labels)):
        owner, _ = match(boxes, faces)
        for i, label in zip(owner, names):
            if label is None:
                continue
            total += 1
            if i is not None:
                found.append(k)
                right += emotions[i] == CLASS_NAMES[label]
    if not total:
        return None
    same = float(np.mean(plain[found])) if plain is not None and found else float("nan")
    return right / total, right / max(1, len(found)), same


def time_fer_keras(recognizer: EmotionRecognizer, paths, repeat: int, single: bool) -> dict:
    """Best-of-``repeat`` seconds over ``paths`` (batched, or photo by photo), the boxes and the
    emotions."""
    found = recognizer.detect_many(paths)  # warm-up
    emotions = [[f["emotion"] for f in faces] for faces in found]
    found = [[f["box"] for f in faces] for faces in found]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        if single:
            for p in paths:
                recognizer.detect(p)
        else:
            recognizer.detect_many(paths)
        times.append(time.perf_counter() - start)
    return {"seconds": times, "boxes": found, "emotions": emotions}


def time_fer(python: str, sets: dict, repeat: int) -> dict:
    done = subprocess.run([python, "-c", FER_SCRIPT, json.dumps(
        {name: [str(p) for p in paths] for name, paths in sets.items()}), str(repeat)],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise RuntimeError(f"the fer side failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


SIDES = {
    "fer_keras (default: YuNet, box fit, TTA flip)": ({}, False),
    "fer_keras (YuNet, five-landmark fit)": ({"align": "landmarks"}, False),
    "fer_keras (YuNet, square + 0.1 margin)": ({"detector": "yunet", "margin": 0.1}, False),
    "fer_keras (Haar, square + 0.1 margin: before)": ({"detector": "haar", "margin": 0.1}, False),
    "fer_keras (default, TTA tencrop)": ({"tta": "tencrop"}, False),
    "fer_keras (default, TTA none)": ({"tta": "none"}, False),
    "fer_keras (default, one search down to the smallest face)": ({"first_face": None}, False),
    "fer_keras (default, YuNet holding the lock: one search thread)": ({"lock_free": False},
                                                                      False),
}
MORE_SIDES = {
    "fer_keras (photo by photo)": ({}, True),
    "fer_keras (batched, 1 thread)": ({"workers": 1}, False),
    "fer_keras (faces from 30 px)": ({"min_face_fraction": 0.0}, False),
}


def build_sets(names: list, fer_faces: int, limit: int | None) -> tuple[dict, tuple]:
    """``{set: [(file, image, boxes, labels)]}`` and the FER faces ``(images, labels, file)``."""
    faces = photo_sets.fer_faces(fer_faces)
    sets = {}
    for name in names:
        if name in photo_sets.FER_COLLECTIONS:
            photos = photo_sets.fer_collection(name, faces[0], faces[1])
        elif name == "portraits":
            photos = photo_sets.portraits()
        else:
            photos = [(f, image, boxes, [None] * len(boxes)) for f, image, boxes in SETS[name]()]
        sets[name] = photos[:limit]
    return sets, faces


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="run directory, .keras file or packaged model name "
                        "(default: the packaged cpu_fast)")
    parser.add_argument("--fer-python", default="/work/fervenv/bin/python",
                        help="python of a venv with fer installed (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (%(default)s)")
    parser.add_argument("--sets", default=",".join(DEFAULT_SETS),
                        help=f"sets to run, of {', '.join(ALL_SETS)} (%(default)s)")
    parser.add_argument("--fer-faces", type=int, default=500, help="PublicTest faces in each "
                        "fer_* collection (%(default)s)")
    parser.add_argument("--all-sides", action="store_true", help="also photo by photo, one "
                        "thread, and faces from 30 px")
    parser.add_argument("--limit", type=int, help="only the first N photos of each set (a check)")
    parser.add_argument("--per-photo", action="store_true", help="print each photo's faces")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    names = [s for s in args.sets.split(",") if s]
    if not names or set(names) - set(ALL_SETS):
        parser.error(f"--sets: choose from {', '.join(ALL_SETS)}. Received: {args.sets}")
    sides = {**SIDES, **(MORE_SIDES if args.all_sides else {})}
    sets, (faces, labels, source) = build_sets(names, args.fer_faces, args.limit)
    results, plain = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        paths, real, truth, longest = {}, {}, {}, {}
        for name, photos in sets.items():
            (Path(tmp) / name).mkdir()
            paths[name], real[name] = write_set(Path(tmp) / name, [p[:3] for p in photos])
            truth[name] = [p[3] for p in photos]
            longest[name] = [max(image.shape[:2]) for _, image, _, _ in photos]
        for label, (options, single) in sides.items():
            recognizer = EmotionRecognizer(args.model, **options)
            plain[label] = recognizer.scores(faces).argmax(axis=1) == labels
            for name in names:
                results.setdefault(name, {})[label] = time_fer_keras(
                    recognizer, paths[name], args.repeat, single)
        theirs = time_fer(args.fer_python, paths, args.repeat)
        fer_label = f"fer {theirs['fer']}"
        for name in names:
            results[name][fer_label] = theirs["sets"][name]
    print(f"best of {args.repeat} passes, CPU ({os.cpu_count()} cores); fer {theirs['fer']} "
          f"with OpenCV {theirs['opencv']}, ours with OpenCV {cv2.__version__}; FER faces: "
          f"{len(faces)} PublicTest rows of {source}")
    summary = {}
    for name in names:
        n, count = len(paths[name]), sum(len(r) for r in real[name])
        print(f"\n{name}: {n} photos (longer side {min(longest[name])}-{max(longest[name])} px), "
              f"{count} real faces")
        print(f"{'side':<50}{'photos/s':>9}{'x fer':>8}{'found':>11}{'false':>7}"
              f"{'acc':>8}{'acc found':>10}{'48 found':>10}{'48x48':>8}")
        fer_rate = n / min(results[name][fer_label]["seconds"])
        for number, (label, res) in enumerate(results[name].items(), 1):
            rate = n / min(res["seconds"])
            hits, false = np.sum([score(f, r) for f, r in zip(res["boxes"], real[name])], axis=0)
            acc = accuracy(res, real[name], truth[name],
                           plain.get(label) if name in photo_sets.FER_COLLECTIONS else None)
            res.update(rate=rate, found=int(hits), false_positives=int(false),
                       accuracy=None if acc is None else acc[0],
                       accuracy_found=None if acc is None else acc[1],
                       plain_48_found=None if acc is None else acc[2],
                       plain_48=float(np.mean(plain[label])) if acc and label in plain else None)
            cells = ("" if acc is None else f"{acc[0]:8.2%}{acc[1]:10.2%}"
                     + (f"{acc[2]:10.2%}{np.mean(plain[label]):8.2%}" if label in plain
                        else f"{'':>18}"))
            print(f"{f'{number}. {label}':<50}{rate:9.2f}{rate / fer_rate:7.2f}x"
                  f"{f'{hits}/{count}':>11}{false:>7}{cells}")
        summary[name] = {label: {k: res[k] for k in ("rate", "found", "false_positives",
                                                     "accuracy", "accuracy_found", "plain_48_found",
                                                     "plain_48")}
                         for label, res in results[name].items()}
        if args.per_photo:
            labels_ = list(results[name])
            print(f"{'photo: found+false, by side':<34}{'real':>5}"
                  + "".join(f"{k + 1:>12}" for k in range(len(labels_))))
            for k, p in enumerate(paths[name]):
                counts = [score(results[name][lb]["boxes"][k], real[name][k]) for lb in labels_]
                cells = "".join(f"{f'{hit}+{false}':>12}" for hit, false in counts)
                print(f"{p.name:<34}{len(real[name][k]):>5}{cells}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"summary": summary, "fer_faces_source": source,
                                               "real": real, "results": results},
                                              indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
