"""Faces in photos, folders, videos and a webcam → emotions, with a trained run or .keras file.

``python -m fer_keras.predict photo.jpg holiday/ clip.mp4 --model models/shallow_cnn_softmax_X``
prints one line per image (each face's box, emotion and probability), writes annotated copies and a
per-frame CSV plus an annotated video for each video to ``--out``, and every result to ``--json``.
A file that cannot be read gets an ``error:`` line and the others go on; the exit status is 1 when
any file failed. An image without a face is a result (no faces), not an error. ``--webcam 0``
analyses the first camera until ``--max-frames`` or Ctrl-C.

The Python API is :class:`EmotionRecognizer` (``fer_keras.inference.recognizer``).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from fer_keras import CLASS_NAMES, _io
from fer_keras.evaluation.tta import TTA_MODES
from fer_keras.inference.faces import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ImageError, draw_faces
from fer_keras.inference.recognizer import (
    EmotionRecognizer,
    ImageResult,
    default_model,
    describe_error,
)

__all__ = ["EmotionRecognizer", "ImageResult", "default_model", "analyse_video", "main"]


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


VIDEO_CSV_COLUMNS = ("frame", "time_s", "faces", "face", "x", "y", "w", "h", "emotion",
                     "probability", *CLASS_NAMES)


def analyse_video(recognizer: EmotionRecognizer, source, *, every: int = 1, out_video=None,
                  out_csv=None, max_frames: int | None = None) -> list[dict]:
    """Run :meth:`EmotionRecognizer.detect_video`, writing the per-frame CSV (one row per face; a
    frame without faces gets one row with ``faces`` 0) and the annotated video; returns the frames.
    """
    frames, buffer = [], io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(VIDEO_CSV_COLUMNS)
    for index, seconds, faces in recognizer.detect_video(source, every=every, out_video=out_video,
                                                         max_frames=max_frames):
        frames.append({"frame": index, "time_s": round(seconds, 3), "faces": faces})
        for k, face in enumerate(faces or [None]):
            row = [index, f"{seconds:.3f}", len(faces)]
            if face is not None:
                row += [k, *face["box"], face["emotion"], f"{face['probability']:.4f}",
                        *(f"{face['emotions'][n]:.4f}" for n in CLASS_NAMES)]
            writer.writerow(row + [""] * (len(VIDEO_CSV_COLUMNS) - len(row)))
    if out_csv:
        _io.write_text(out_csv, buffer.getvalue())
    return frames


def _video_summary(frames: list[dict], every: int) -> str:
    emotions = [f["emotion"] for frame in frames for f in frame["faces"]]
    with_faces = sum(bool(frame["faces"]) for frame in frames)
    top = max(set(emotions), key=emotions.count) if emotions else "none"
    return (f"{len(frames)} frames analysed (every {every}), {with_faces} with faces, "
            f"most frequent emotion: {top}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_keras.predict",
                                description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="*", metavar="PATH", help="images, folders (searched "
                   "recursively) and videos")
    p.add_argument("--model", help="run directory or .keras file (default: the cpu_fast model "
                   "packaged with fer_keras)")
    p.add_argument("--out", help="folder for annotated images, and per video an annotated .mp4 "
                                 "and a per-frame .csv")
    p.add_argument("--json", help="write every result to this JSON file")
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
    p.add_argument("--batch-size", type=int, default=64, help="faces per model call (64)")
    p.add_argument("--tta", choices=TTA_MODES, help="test-time views averaged per face "
                   "(default: the model's own, from its config.json; tencrop for the packaged "
                   "model)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.paths and args.webcam is None:
        parser.error("give images, folders or videos, or --webcam INDEX")
    if args.every < 1:
        parser.error(f"--every must be at least 1. Received: {args.every}")
    options = {"config": args.detector_config} if args.detector_config else {}
    try:
        recognizer = EmotionRecognizer(args.model, detector=args.detector, margin=args.margin,
                                       min_face=args.min_face, batch_size=args.batch_size,
                                       tta=args.tta, **options)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else None
    inputs = collect_inputs(args.paths)
    images = {str(f): rel for f, rel in inputs if f.suffix.lower() not in VIDEO_EXTENSIONS}
    videos = [(str(f), rel) for f, rel in inputs if f.suffix.lower() in VIDEO_EXTENSIONS]
    if args.webcam is not None:
        videos.append((args.webcam, Path(f"webcam{args.webcam}")))
    records, failed = [], False
    for result in recognizer.iter_detect(images, keep_images=out is not None):
        record = result.to_dict()
        try:
            if result.error is None and out is not None:
                saved = write_image(out / images[result.source], draw_faces(result.image,
                                                                            result.faces))
                record["annotated"] = str(saved)
        except (OSError, ImageError, cv2.error) as e:
            result.error = record["error"] = f"cannot write the annotated image: " \
                                             f"{describe_error(e)}"
        failed |= _report(result.source, result.error, format_faces(result.faces))
        records.append(record)
    for source, rel in videos:
        record = {"path": str(source), "frames": [], "error": None}
        target = (out / rel).with_suffix("") if out is not None else None
        if target is not None:
            record.update(annotated=f"{target}.mp4", csv=f"{target}.csv")
        try:
            record["frames"] = analyse_video(
                recognizer, source, every=args.every, max_frames=args.max_frames,
                out_video=record.get("annotated"), out_csv=record.get("csv"))
        except (OSError, ImageError, cv2.error) as e:
            record["error"] = describe_error(e)
            record.pop("annotated", None), record.pop("csv", None)
        failed |= _report(source, record["error"], _video_summary(record["frames"], args.every))
        records.append(record)
    if args.json:
        _io.write_json(args.json, {"model": str(args.model), "results": records})
    return 1 if failed else 0


def _report(source, error, text) -> bool:
    if error:
        print(f"error: {source}: {error}", file=sys.stderr, flush=True)
        return True
    print(f"{source}: {text}", flush=True)
    return False

