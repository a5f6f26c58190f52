"""Faces in photos, folders, videos and a webcam → emotions, with a trained or packaged model.

``fer-keras predict photo.jpg holiday/ clip.mp4 --model models/shallow_cnn_softmax_X`` (or
``python -m fer_keras.predict``; ``--model``: a run directory, a ``.keras`` file or a packaged
name, default ``cpu_fast``; the paths are the positional arguments here, so the model is named
with ``--model`` only) prints one line per image (each face's box, emotion and probability),
writes annotated copies and a per-frame CSV plus an annotated video for each video into the
folder ``--out``, and every result to the file ``--json``. ``--tta`` defaults to the model's own
views (ten crops for ``cpu_fast``).
A file that cannot be read gets an ``error:`` line and the others go on; the exit status is 1 when
any file failed. So does every file of a folder that is skipped, with its reason (not an image
or video, a broken link, a link loop: :mod:`fer_keras.inference.inputs`), and every photo over
``--max-megapixels`` (read from its header: refused before decoding). A video whose damaged
frames were skipped says how many (and exits 1). An image without a face is a result (no faces),
not an error. ``--webcam 0`` analyses the first camera until ``--max-frames``, Ctrl-C or its end.

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
from typing import TYPE_CHECKING

import cv2
import numpy as np

from fer_keras import _io, cli
from fer_keras.inference.faces import MIN_FACE_FRACTION, VIDEO_EXTENSIONS, ImageError, draw_faces
from fer_keras.inference.images import DEFAULT_MAX_PIXELS, describe_error, size_refusal
from fer_keras.inference.inputs import collect_inputs
from fer_keras.inference.video import (
    VIDEO_CSV_COLUMNS,
    VideoStats,
    analyse_video,
    stop_on_sigint,
    video_summary,
)

if TYPE_CHECKING:
    from fer_keras.inference.recognizer import EmotionRecognizer, ImageResult, default_model

__all__ = ["EmotionRecognizer", "ImageResult", "default_model", "analyse_video",
           "VIDEO_CSV_COLUMNS", "main"]

#: The formats an annotated copy keeps (a photo of another format gets a PNG copy).
ANNOTATED_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


def __getattr__(name):
    """The recognizer's names, imported when first asked for: TensorFlow (most of this command's
    memory, 0.7 GB) loads with them, so it loads only when there is something to analyse; a photo
    refused from its header, ``--help`` or a usage error never loads it."""
    if name in ("EmotionRecognizer", "ImageResult", "default_model"):
        cli.quiet_tensorflow()
        from fer_keras.inference import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def format_faces(faces: list[dict]) -> str:
    """``2 faces: happy 0.91 [x, y, w, h], ...`` or ``no faces``."""
    if not faces:
        return "no faces"
    listed = ", ".join(f"{f['emotion']} {f['probability']:.2f} {f['box']}" for f in faces)
    return f"{len(faces)} face{'s' * (len(faces) > 1)}: {listed}"


def write_image(path: Path, image: np.ndarray) -> Path:
    """Write ``image`` atomically as ``path`` (as PNG when OpenCV cannot encode its suffix)."""
    if path.suffix.lower() not in ANNOTATED_EXTENSIONS:
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
    p.add_argument("--model", help=f"{cli.MODEL_HELP} (default: the model packaged with "
                   "fer_keras)")
    cli.add_out(p, "annotated images, and per video an annotated .mp4 and a per-frame .csv",
                shown_default="none written")
    p.add_argument("--json", metavar="FILE", help="write every result to this JSON file")
    p.add_argument("--every", type=int, default=1, help="analyse every Nth video frame (1)")
    p.add_argument("--webcam", type=int, metavar="INDEX", help="also analyse this camera "
                   "(0: the first) until --max-frames or Ctrl-C")
    p.add_argument("--max-frames", type=int, help="stop each video/webcam after this many frames")
    p.add_argument("--detector", default=None, help="'yunet' (bundled with the yuface wheel), "
                   "'haar' (OpenCV's cascade) or a face model file: YuNet .onnx, SSD "
                   ".caffemodel/.pb (default: yunet where yuface is installed, else haar)")
    p.add_argument("--detector-config", help="config file of an SSD model (e.g. deploy.prototxt)")
    p.add_argument("--margin", type=float, default=None, help="cut a plain square around each "
                   "face box with this fraction of it added on each side (the former default: "
                   "0.1) instead of aligning the face to FER2013's registration")
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
    cli.add_max_megapixels(p, DEFAULT_MAX_PIXELS)
    cli.add_tta(p, None, "each face's scores")  # checked by the recognizer, with TensorFlow
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
    max_pixels = cli.max_pixels(args, parser)
    out = Path(args.out) if args.out else None
    inputs, skipped = collect_inputs(args.paths)
    images = {str(f): rel for f, rel in inputs if f.suffix.lower() not in VIDEO_EXTENSIONS}
    videos = [(str(f), rel) for f, rel in inputs if f.suffix.lower() in VIDEO_EXTENSIONS]
    if args.webcam is not None:
        videos.append((args.webcam, Path(f"webcam{args.webcam}")))
    records, failed, interrupted, model = [], False, False, args.model
    # What is not read is said first, and a photo over the size limit is refused from its header
    # before the model loads: with nothing else to do, neither the model nor TensorFlow loads.
    for path, why in skipped:
        records.append({"path": str(path), "faces": [], "error": why, "skipped": True})
        failed |= _report(path, why, "")
    for source in list(images):
        why = size_refusal(source, max_pixels)
        if why is not None:
            del images[source]
            records.append({"path": source, "faces": [], "error": why})
            failed |= _report(source, why, "")
    if images or videos:
        cli.quiet_tensorflow()
        from fer_keras.evaluation.run_dir import DEFAULT_MODEL
        from fer_keras.inference.recognizer import EmotionRecognizer

        model = model or DEFAULT_MODEL
        options = {"config": args.detector_config} if args.detector_config else {}
        recognizer = EmotionRecognizer(
            model, detector=args.detector, margin=args.margin, min_face=args.min_face,
            batch_size=args.batch_size, min_face_fraction=args.min_face_fraction, tta=args.tta,
            workers=args.workers, max_pixels=max_pixels, **options)
        # Ctrl-C ends the work between two photos or frames; what was done is kept and written.
        with stop_on_sigint() as stop:
            for result in recognizer.iter_detect(images, keep_images=out is not None):
                failed |= _photo(result, out, images, records)
                if stop.is_set():
                    interrupted = True
                    break
            for source, rel in videos:
                if stop.is_set():
                    break
                record = _video(recognizer, source, out, rel, args, stop)
                failed |= record["error"] is not None or record["lost_frames"] > 0
                interrupted |= record.get("stopped", False) and not isinstance(source, int)
                records.append(record)
    if args.json:
        _io.write_json(args.json, {"model": model and str(model), "results": records})
    if interrupted:
        print("interrupted: what was processed is written", file=sys.stderr, flush=True)
        return 130
    return 1 if failed else 0


def _video(recognizer, source, out: Path | None, rel: Path, args, stop) -> dict:
    """Analyse one video or camera and report it (a summary, an error, the frames lost)."""
    record, stats = {"path": str(source), "frames": [], "error": None}, VideoStats()
    if out is not None:
        target = (out / rel).with_suffix("")
        record.update(annotated=f"{target}.mp4", csv=f"{target}.csv")
    try:
        record["frames"] = analyse_video(
            recognizer, source, every=args.every, max_frames=args.max_frames,
            out_video=record.get("annotated"), out_csv=record.get("csv"), smooth=args.smooth,
            progress=args.progress, stop=stop, stats=stats)
    except (OSError, ImageError, cv2.error) as e:
        record["error"] = describe_error(e)
        record.pop("annotated", None), record.pop("csv", None)
    record["lost_frames"] = stats.lost
    text = video_summary(record["frames"], args.every, stats.lost)
    if stop.is_set() and record["error"] is None:
        record["stopped"] = True  # Ctrl-C: for a camera, its normal end
        text += ", stopped by Ctrl-C"
    name = f"camera {source}" if isinstance(source, int) else source
    _report(name, record["error"], text)
    if stats.lost and record["error"] is None:
        _report(name, f"{stats.lost} of {stats.frames} frames did not decode and were skipped "
                "(a damaged stretch of the file)", "")
    return record


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

