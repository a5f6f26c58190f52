"""Faces in photos, folders, videos and a webcam → emotions, with a trained or packaged model.

``fer-keras predict photo.jpg holiday/ clip.mp4 --model models/shallow_cnn_softmax_X`` (or
``python -m fer_keras.predict``; ``--model``: a run directory, a ``.keras`` file or a packaged
name, default ``cpu_fast``; the paths are the positional arguments here, so the model is named
with ``--model`` only) prints one line per image (each face's box, emotion and probability),
writes annotated copies and a per-frame CSV plus an annotated video for each video into the
folder ``--out``, and every result to the file ``--json``. ``--tta`` defaults to the model's own
views (ten crops for ``cpu_fast``).
A file that cannot be read gets an ``error:`` line and the others go on; the exit status is 1 when
any file failed. An image without a face is a result (no faces), not an error. ``--webcam 0``
analyses the first camera until ``--max-frames``, Ctrl-C or its end.

In videos each face keeps a ``track`` id from frame to frame (a CSV column; ``--smooth`` averages
each track's emotions); a file shows a progress bar, a camera a live status line. Ctrl-C stops
between two photos or frames and keeps what was processed: a playable annotated video, its CSV
and the JSON (exit status 130; for a camera, whose normal end it is, 0).

The Python API is :class:`EmotionRecognizer` (``fer_keras.inference.recognizer``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from fer_keras import _io, cli
from fer_keras.evaluation.run_dir import DEFAULT_MODEL
from fer_keras.evaluation.tta import TTA_MODES
from fer_keras.inference.faces import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ImageError, draw_faces
from fer_keras.inference.recognizer import (
    MIN_FACE_FRACTION,
    EmotionRecognizer,
    ImageResult,
    default_model,
    describe_error,
)
from fer_keras.inference.video import (
    VIDEO_CSV_COLUMNS,
    analyse_video,
    stop_on_sigint,
    video_summary,
)

__all__ = ["EmotionRecognizer", "ImageResult", "default_model", "analyse_video",
           "VIDEO_CSV_COLUMNS", "main"]


def collect_inputs(paths: Iterable) -> list[tuple[Path, Path]]:
    """``(file, name under --out)`` for each path: folders are searched recursively for images and
    videos (hidden files skipped); other paths are kept as given, so a missing one is reported."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(path)
                if (file.is_file() and file.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
                        and not any(part.startswith(".") for part in rel.parts)):
                    found.append((file, rel))
        else:
            found.append((path, Path(path.name)))
    return found


def format_faces(faces: list[dict]) -> str:
    """``2 faces: happy 0.91 [x, y, w, h], ...`` or ``no faces``."""
    if not faces:
        return "no faces"
    listed = ", ".join(f"{f['emotion']} {f['probability']:.2f} {f['box']}" for f in faces)
    return f"{len(faces)} face{'s' * (len(faces) > 1)}: {listed}"


def write_image(path: Path, image: np.ndarray) -> Path:
    """Write ``image`` atomically as ``path`` (as PNG when OpenCV cannot encode its suffix)."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS or path.suffix.lower() in (".pbm", ".pgm"):
        path = path.with_suffix(".png")
    ok, data = cv2.imencode(path.suffix, image)
    if not ok:
        raise ImageError(f"OpenCV cannot encode {path.suffix} images")
    with _io.atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("predict", __doc__.split("\n")[0])
    p.add_argument("paths", nargs="*", metavar="PATH", help="images, folders (searched "
                   "recursively) and videos")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"{cli.MODEL_HELP} (default: "
                   f"{DEFAULT_MODEL}, packaged with fer_keras)")
    cli.add_out(p, "annotated images, and per video an annotated .mp4 and a per-frame .csv",
                shown_default="none written")
    p.add_argument("--json", metavar="FILE", help="write every result to this JSON file")
    p.add_argument("--every", type=int, default=1, help="analyse every Nth video frame (1)")
    p.add_argument("--webcam", type=int, metavar="INDEX", help="also analyse this camera "
                   "(0: the first) until --max-frames or Ctrl-C")
    p.add_argument("--max-frames", type=int, help="stop each video/webcam after this many frames")
    p.add_argument("--detector", default="haar", help="'haar' (OpenCV's bundled cascade) or a "
                   "face model file: YuNet .onnx, SSD .caffemodel/.pb (default: haar)")
    p.add_argument("--detector-config", help="config file of an SSD model (e.g. deploy.prototxt)")
    p.add_argument("--margin", type=float, default=0.1, help="fraction of the face box added on "
                   "each side before cropping (0.1)")
    p.add_argument("--min-face", type=int, default=30, help="smallest face side in pixels (30)")
    p.add_argument("--min-face-fraction", type=float, default=MIN_FACE_FRACTION, metavar="F",
                   help="smallest face side as a fraction of each image's shorter side, when "
                   "more than --min-face; 0: --min-face alone, for crowds of small faces "
                   f"({MIN_FACE_FRACTION})")
    p.add_argument("--workers", type=int, help="threads reading and searching photos at once "
                   "(default: one per CPU core)")
    p.add_argument("--smooth", type=float, nargs="?", const=0.7, default=0.0, metavar="S",
                   help="video: average each tracked face's emotions over its frames, keeping S "
                   "of the past at every frame (--smooth alone: 0.7; default: 0, off)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="video: no "
                   "progress bar (file) or live status line (camera) on stderr")
    p.add_argument("--batch-size", type=int, default=64, help="faces per model call (64)")
    cli.add_tta(p, TTA_MODES, "each face's scores")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.paths and args.webcam is None:
        parser.error("give images, folders or videos, or --webcam INDEX")
    if args.every < 1:
        parser.error(f"--every must be at least 1. Received: {args.every}")
    for flag, value in (("--smooth", args.smooth), ("--min-face-fraction", args.min_face_fraction)):
        if not 0 <= value < 1:
            parser.error(f"{flag} must be in [0, 1). Received: {value}")
    options = {"config": args.detector_config} if args.detector_config else {}
    recognizer = EmotionRecognizer(args.model, detector=args.detector, margin=args.margin,
                                   min_face=args.min_face, batch_size=args.batch_size,
                                   min_face_fraction=args.min_face_fraction, tta=args.tta,
                                   workers=args.workers, **options)
    out = Path(args.out) if args.out else None
    inputs = collect_inputs(args.paths)
    images = {str(f): rel for f, rel in inputs if f.suffix.lower() not in VIDEO_EXTENSIONS}
    videos = [(str(f), rel) for f, rel in inputs if f.suffix.lower() in VIDEO_EXTENSIONS]
    if args.webcam is not None:
        videos.append((args.webcam, Path(f"webcam{args.webcam}")))
    records, failed, interrupted = [], False, False
    # Ctrl-C ends the work between two photos or frames, and what was done is kept and written.
    with stop_on_sigint() as stop:
        for result in recognizer.iter_detect(images, keep_images=out is not None):
            failed |= _photo(result, out, images, records)
            if stop.is_set():
                interrupted = True
                break
        for source, rel in videos:
            if stop.is_set():
                break
            record = {"path": str(source), "frames": [], "error": None}
            target = (out / rel).with_suffix("") if out is not None else None
            if target is not None:
                record.update(annotated=f"{target}.mp4", csv=f"{target}.csv")
            try:
                record["frames"] = analyse_video(
                    recognizer, source, every=args.every, max_frames=args.max_frames,
                    out_video=record.get("annotated"), out_csv=record.get("csv"),
                    smooth=args.smooth, progress=args.progress, stop=stop)
            except (OSError, ImageError, cv2.error) as e:
                record["error"] = describe_error(e)
                record.pop("annotated", None), record.pop("csv", None)
            text = video_summary(record["frames"], args.every)
            if stop.is_set() and record["error"] is None:
                record["stopped"] = True
                text += ", stopped by Ctrl-C"
                interrupted |= not isinstance(source, int)  # Ctrl-C is how a camera ends
            name = f"camera {source}" if isinstance(source, int) else source
            failed |= _report(name, record["error"], text)
            records.append(record)
    if args.json:
        _io.write_json(args.json, {"model": str(args.model), "results": records})
    if interrupted:
        print("interrupted: what was processed is written", file=sys.stderr, flush=True)
        return 130
    return 1 if failed else 0


def _photo(result: ImageResult, out: Path | None, images: dict, records: list) -> bool:
    """Report one photo's result, writing its annotated copy; whether it failed."""
    record = result.to_dict()
    try:
        if result.error is None and out is not None:
            saved = write_image(out / images[result.source], draw_faces(result.image,
                                                                        result.faces))
            record["annotated"] = str(saved)
    except (OSError, ImageError, cv2.error) as e:
        result.error = record["error"] = f"cannot write the annotated image: {describe_error(e)}"
    records.append(record)
    return _report(result.source, result.error, format_faces(result.faces))


def _report(source, error, text) -> bool:
    if error:
        print(f"error: {source}: {error}", file=sys.stderr, flush=True)
        return True
    print(f"{source}: {text}", flush=True)
    return False

