"""``fer-keras predict`` (``python -m fer_keras.predict``): faces and emotions in photos, folders,
videos and a webcam (see :mod:`fer_keras.inference.predict`).

Paths are the positional arguments, so the model is named with ``--model`` only (a run
directory, a ``.keras`` file or a packaged name; default ``cpu_fast``). One line per image; a
file that cannot be read gets an ``error:`` line and the others go on (exit status 1 when any
failed); Ctrl-C stops between two photos or frames and keeps what was processed (130).
TensorFlow (most of this command's memory, 0.7 GB) loads only once there is something to
analyse: ``--help``, a usage error or photos all refused from their headers never load it.

Example:
    $ fer-keras predict group.jpg holiday/ clip.mp4 --out annotated/ --json faces.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from fer_keras import IMAGE_SIZE, _io
from fer_keras.commands import _common as common
from fer_keras.inference.faces import MIN_FACE_FRACTION, VIDEO_EXTENSIONS, ImageError, draw_faces
from fer_keras.inference.images import DEFAULT_MAX_PIXELS, describe_error, size_refusal
from fer_keras.inference.inputs import collect_inputs
from fer_keras.inference.predict import format_faces, write_image
from fer_keras.inference.registration import ALIGNMENTS
from fer_keras.inference.video import VideoStats, analyse_video, stop_on_sigint, video_summary


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("predict", "Faces in photos, folders, videos and a webcam → emotions, with a "
                      "trained or packaged model.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="images, folders (searched "
                   "recursively) and videos")
    p.add_argument("--model", help=f"{common.MODEL_HELP} (default: the model packaged with "
                   "fer_keras)")
    common.add_out(p, "annotated images, and per video an annotated .mp4 and a per-frame .csv",
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
    p.add_argument("--align", choices=ALIGNMENTS, default="box", help="how each face is "
                   "registered as FER2013's: 'box' places it by its box and turns it upright "
                   "past a 10-degree tilt of the eyes; 'landmarks' fits its five landmarks "
                   "(default: %(default)s)")
    p.add_argument("--min-face", type=int, default=30, help="smallest face side in pixels (30)")
    p.add_argument("--min-face-fraction", type=float, default=MIN_FACE_FRACTION, metavar="F",
                   help="smallest face side as a fraction of each image's shorter side, when "
                   "more than --min-face; 0: --min-face alone, for crowds of small faces "
                   f"({MIN_FACE_FRACTION})")
    p.add_argument("--first-face", type=int, default=IMAGE_SIZE, metavar="PX",
                   help="when the smallest face is below this, search each image for faces from "
                   "this size first, and for smaller ones only if none is found; 0: one search "
                   "down to the smallest face (default %(default)s, the model's input)")
    p.add_argument("--workers", type=int, help="threads reading and searching photos at once "
                   "(default: one per CPU core)")
    p.add_argument("--smooth", type=float, nargs="?", const=0.7, default=0.0, metavar="S",
                   help="video: average each tracked face's emotions over its frames, keeping S "
                   "of the past at every frame (--smooth alone: 0.7; default: 0, off)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="video: no "
                   "progress bar (file) or live status line (camera) on stderr")
    p.add_argument("--batch-size", type=int, default=64, help="faces per model call (64)")
    common.add_max_megapixels(p, DEFAULT_MAX_PIXELS)
    common.add_tta(p, "each face's scores")
    return p


@common.command
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
    if args.first_face < 0:
        parser.error(f"--first-face must be 0 (off) or a size in pixels. Received: "
                     f"{args.first_face}")
    max_pixels = common.max_pixels(args, parser)
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
        common.quiet_tensorflow()
        from fer_keras.evaluation.packaged import DEFAULT_MODEL
        from fer_keras.inference.recognizer import EmotionRecognizer

        model = model or DEFAULT_MODEL
        options = {"config": args.detector_config} if args.detector_config else {}
        recognizer = EmotionRecognizer(
            model, detector=args.detector, margin=args.margin, align=args.align,
            min_face=args.min_face, min_face_fraction=args.min_face_fraction,
            first_face=args.first_face or None, batch_size=args.batch_size, tta=args.tta,
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


def _photo(result, out: Path | None, images: dict, records: list) -> bool:
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


if __name__ == "__main__":
    raise SystemExit(main())
