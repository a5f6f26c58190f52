"""Photos per second end to end (read → detect → classify): fer_keras against the `fer` package.

    python benchmarks/bench_predict.py --model models/shallow_cnn_softmax_X \
        [--fer-python /work/fervenv/bin/python] [--repeat 3] [--limit N] [--json FILE]

The photos are written to a temporary folder from scikit-image's public-domain data (astronaut,
coffee, chelsea, rocket, camera) plus compositions of them: a 1000x600 group photo of three
astronauts on the coffee picture, and the group and the astronaut enlarged to phone-camera size
(4000x2400, 3000x3000 JPEGs). Their real faces (`REAL_FACES`): 1 on each astronaut, 3 on each
group, none on the others. Both sides read the same files from disk, on the CPU, one after the
other in this run.

fer_keras runs in this process (Haar cascade, faces of all photos classified in batches, and also
photo by photo). `fer` (its Haar cascade and bundled TFLite model, its defaults) needs
opencv-contrib-python (<5: OpenCV 5 ships no Haar cascades), which clashes with our
opencv-python-headless, and setuptools<81 (it imports pkg_resources), so it runs in its own venv
as a subprocess (`--fer-python`); its start-up (TensorFlow import, model load) is not timed, nor
is ours. Each side makes one warm-up pass, then `--repeat` timed passes; the best pass counts. The
faces each side found are printed next to the real ones, so a speed gap that comes from finding
fewer faces shows, and so do false detections (`fer`'s OpenCV defaults take wood grain, cloth and
upscaled smooth areas for faces on the enlarged photos).
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
from skimage import data as skdata

from fer_keras.inference.predict import EmotionRecognizer

FER_SCRIPT = r"""
import json, sys, time
from fer.fer import FER  # fer 25 no longer exports it from the package
paths, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
detector = FER()
faces = [len(detector.detect_emotions(p)) for p in paths]  # warm-up
times = []
for _ in range(repeat):
    start = time.perf_counter()
    for p in paths:
        detector.detect_emotions(p)
    times.append(time.perf_counter() - start)
import fer, cv2, tensorflow
print(json.dumps({"seconds": times, "faces": faces, "fer": fer.__version__,
                  "opencv": cv2.__version__, "tensorflow": tensorflow.__version__}))
"""


#: Faces in each benchmark photo, by construction.
REAL_FACES = {"chelsea.png": 0, "rocket.jpg": 0, "astronaut.png": 1, "camera.png": 0,
              "coffee.png": 0, "group.jpg": 3, "group_4000x2400.jpg": 3,
              "astronaut_3000x3000.jpg": 1}


def make_photos(folder: Path) -> list[Path]:
    """The benchmark photos (BGR files), smallest first; their faces are ``REAL_FACES``."""
    astronaut = skdata.astronaut()[..., ::-1]
    coffee = skdata.coffee()[..., ::-1]
    group = cv2.resize(coffee, (1000, 600))
    for x, y, scale, mirror in [(30, 40, 1.0, False), (330, 120, 0.8, True),
                                (600, 30, 1.3, False)]:
        patch = cv2.resize(astronaut[20:260, 120:340], None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_AREA)
        group[y:y + patch.shape[0], x:x + patch.shape[1]] = patch[:, ::-1] if mirror else patch
    photos = {"chelsea.png": skdata.chelsea()[..., ::-1], "rocket.jpg": skdata.rocket()[..., ::-1],
              "astronaut.png": astronaut, "camera.png": skdata.camera(), "coffee.png": coffee,
              "group.jpg": group,
              "group_4000x2400.jpg": cv2.resize(group, (4000, 2400), interpolation=cv2.INTER_CUBIC),
              "astronaut_3000x3000.jpg": cv2.resize(astronaut, (3000, 3000),
                                                    interpolation=cv2.INTER_CUBIC)}
    paths = []
    for name, image in photos.items():
        cv2.imwrite(str(folder / name), image)
        paths.append(folder / name)
    return paths


def time_fer_keras(recognizer: EmotionRecognizer, paths, repeat: int) -> dict:
    faces = [len(f) for f in recognizer.detect_many(paths)]  # warm-up
    batched, single = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        recognizer.detect_many(paths)
        batched.append(time.perf_counter() - start)
        start = time.perf_counter()
        for p in paths:
            recognizer.detect(p)
        single.append(time.perf_counter() - start)
    return {"batched": batched, "single": single, "faces": faces}


def time_fer(python: str, paths, repeat: int) -> dict:
    done = subprocess.run([python, "-c", FER_SCRIPT, json.dumps([str(p) for p in paths]),
                           str(repeat)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise RuntimeError(f"the fer side failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run directory or .keras file")
    parser.add_argument("--fer-python", default="/work/fervenv/bin/python",
                        help="python of a venv with fer installed (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (%(default)s)")
    parser.add_argument("--limit", type=int, help="use only the first N photos (a quick check)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(Path(tmp))[:args.limit]
        recognizer = EmotionRecognizer(args.model)
        ours = time_fer_keras(recognizer, paths, args.repeat)
        theirs = time_fer(args.fer_python, paths, args.repeat)
    n = len(paths)
    rate = {"fer_keras (batched)": n / min(ours["batched"]),
            "fer_keras (photo by photo)": n / min(ours["single"]),
            "fer": n / min(theirs["seconds"])}
    print(f"{n} photos, best of {args.repeat} passes, CPU ({os.cpu_count()} cores); "
          f"fer {theirs['fer']} with OpenCV {theirs['opencv']}, ours with OpenCV {cv2.__version__}")
    print(f"{'photo':<26}{'real faces':>11}{'fer_keras faces':>16}{'fer faces':>11}")
    for p, a, b in zip(paths, ours["faces"], theirs["faces"]):
        print(f"{p.name:<26}{REAL_FACES[p.name]:>11}{a:>16}{b:>11}")
    for name, value in rate.items():
        print(f"{name:<28}{value:8.2f} photos/s   {value / rate['fer']:5.2f}x fer")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"photos": [p.name for p in paths], "rates": rate,
                                               "fer_keras": ours, "fer": theirs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
