"""Video files and cameras: tracked faces per frame, a progress line, an annotated copy, a CSV.

:func:`iter_video` reads the frames, gives each face of every analysed frame its track id
(:class:`fer_keras.inference.tracking.FaceTracker`, optionally smoothing its emotions) and writes
the annotated video; :func:`analyse_video` adds the per-frame CSV. A file shows a progress bar
(frames/s, ETA), a camera a live status line (frames/s, faces, their emotions), both on stderr.

The first Ctrl-C (:func:`stop_on_sigint`), the end of the file or a camera that stops giving
frames ends the loop between two frames, so the annotated video is closed properly (playable)
and the CSV holds every processed frame; a second Ctrl-C interrupts at once.

A damaged stretch of a file (frames that do not decode) is skipped and counted
(:class:`VideoStats`, :func:`read_frames`), and reading goes on after it; FFmpeg's own messages
about it are kept off the terminal (``fer_keras/__init__.py`` sets ``OPENCV_FFMPEG_LOGLEVEL``).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
from tqdm import tqdm

from fer_keras import CLASS_NAMES, _io
from fer_keras.inference.images import DEFAULT_MAX_PIXELS, ImageError, check_pixels, draw_faces
from fer_keras.inference.tracking import FaceTracker

VIDEO_CSV_COLUMNS = ("frame", "time_s", "faces", "face", "track", "x", "y", "w", "h", "emotion",
                     "probability", *CLASS_NAMES)


@contextlib.contextmanager
def stop_on_sigint() -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C (SIGINT) while the block runs, instead of a
    ``KeyboardInterrupt`` in the middle of a frame; the handler is then removed, so a second
    Ctrl-C interrupts as usual. Outside the main thread (no signal handlers there), or when
    SIGINT is ignored, the event is only set by the caller."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        yield event
        return

    def handler(signum, frame):
        event.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield event
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, previous)


#: Failed reads in a row after which a video whose length is unknown is taken to have ended: a
#: damaged stretch of a file decodes again after it, its end never does.
MAX_FAILED_READS = 250


@dataclass
class VideoStats:
    """What reading a video found, counted as :func:`iter_video` reads it.

    Attributes:
        frames: frames read so far, lost ones included (the index of the next frame).
        lost: frames that did not decode (a damaged stretch), skipped; reading went on after them.
        declared: the frame count the file declares; ``None`` for a camera or a file that does
            not say.
    """

    frames: int = 0
    lost: int = 0
    declared: int | None = None


def open_video(source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` of a file or a camera index, or one error saying why not;
    frames of more than ``max_pixels`` are refused before any is read."""
    camera = isinstance(source, int)
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        name = str(source)  # a file, or an image sequence (img_%03d.png) or a stream (URL)
        if not (camera or os.path.exists(name) or "%" in name or "://" in name):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        raise ImageError(f"cannot open camera {source} as a video" if camera else
                         "cannot open it as a video: not a video OpenCV reads, or damaged (cut "
                         "short, or its index is missing)")
    width, height = (int(capture.get(p)) for p in (cv2.CAP_PROP_FRAME_WIDTH,
                                                   cv2.CAP_PROP_FRAME_HEIGHT))
    try:
        check_pixels(width, height, max_pixels)
    except ImageError:
        capture.release()
        raise
    return capture


def read_frames(capture, stats: VideoStats, camera: bool = False) -> Iterator:
    """Each frame of ``capture`` in order, ``None`` for one that did not decode (``stats`` counts
    them): reading goes on past a damaged stretch, to the frame count the file declares or, when
    it declares none, until :data:`MAX_FAILED_READS` reads in a row fail. A camera ends at its
    first failed read (unplugged). The declared frames that never came are lost too, but one: a
    count estimated from the duration may be one frame off."""
    failed = 0
    while True:
        ok, frame = capture.read()
        if ok:
            for _ in range(failed):  # failed, then decoded again: a damaged stretch, not the end
                stats.frames, stats.lost = stats.frames + 1, stats.lost + 1
                yield None
            failed = 0
            stats.frames += 1
            yield frame
            continue
        failed += 1
        if (camera or failed >= MAX_FAILED_READS
                or (stats.declared is not None and stats.frames + failed > stats.declared)):
            break
    missing = (stats.declared or 0) - stats.frames
    if missing > 1:
        stats.frames, stats.lost = stats.frames + missing, stats.lost + missing


def iter_video(recognizer, source, *, every: int = 1, out_video=None,
               max_frames: int | None = None, smooth: float = 0.0, progress: bool = False,
               stop: threading.Event | None = None, stats: VideoStats | None = None
               ) -> Iterator[tuple[int, float, list[dict]]]:
    """Yield ``(frame index, seconds, faces)`` for every ``every``-th frame of a video or camera.

    Args:
        recognizer: an ``EmotionRecognizer`` (its ``detect`` is used, its ``max_pixels`` judges
            the frame size).
        source: a video file or a camera index (``0``: the first webcam).
        out_video: write every frame, with the latest faces drawn, to this file (atomically,
            when the video ends, the loop is stopped or the caller leaves it); a frame that did
            not decode is replaced by the one before, so the copy keeps the timing.
        max_frames: stop after this many frames (a camera runs until then, Ctrl-C or its end).
        smooth: see :class:`~fer_keras.inference.tracking.FaceTracker`.
        progress: show a progress bar (a file) or a live status line (a camera) on stderr.
        stop: ends the loop before the next frame when set; ``None``: the first Ctrl-C.
        stats: a :class:`VideoStats` to count the frames in (lost ones included).

    Each face has a ``track`` id, stable from frame to frame.
    """
    camera = isinstance(source, int)
    capture = open_video(source, getattr(recognizer, "max_pixels", DEFAULT_MAX_PIXELS))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    stats = VideoStats() if stats is None else stats
    stats.declared = None if camera else int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    total = stats.declared
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    tracker, writer, faces, drawn = FaceTracker(smooth=smooth), None, [], None
    bar = tqdm(total=total, desc=f"camera {source}" if camera else Path(source).name,
               unit="frame", file=sys.stderr, disable=not progress, dynamic_ncols=True,
               mininterval=0.25, bar_format="{desc}: {n_fmt} frames [{elapsed}, {rate_fmt}]"
               "{postfix}" if camera else None)
    frames = read_frames(capture, stats, camera)
    with contextlib.ExitStack() as stack:
        if stop is None:
            stop = stack.enter_context(stop_on_sigint())
        tmp = stack.enter_context(_io.atomic_path(out_video)) if out_video else None
        try:
            while (max_frames is None or stats.frames < max_frames) and not stop.is_set():
                frame = next(frames, False)
                if frame is False:
                    break
                index = stats.frames - 1
                bar.update()
                if frame is None:  # did not decode: skipped, counted in stats.lost
                    if writer is not None:
                        writer.write(drawn)
                    continue
                analysed = index % every == 0
                if analysed:
                    faces = tracker.update(recognizer.detect(frame))
                if tmp is not None:  # before the yield: a frame the caller saw is in the video
                    if writer is None:
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                                 (frame.shape[1], frame.shape[0]))
                    drawn = draw_faces(frame, faces)
                    writer.write(drawn)
                bar.set_postfix_str(_status(faces, camera), refresh=False)
                if analysed:
                    yield index, index / fps, faces
            if stats.frames == stats.lost:
                raise ImageError("no frame could be decoded")
        except GeneratorExit:
            pass  # the caller left the loop: what was processed is kept, as on Ctrl-C
        finally:
            frames.close()
            capture.release()
            bar.close()
            if writer is not None:
                writer.release()  # writes the index that makes the video playable


def _status(faces: list[dict], camera: bool) -> str:
    text = f"{len(faces)} face{'s' * (len(faces) != 1)}"
    if camera and faces:
        text += ": " + ", ".join(f"#{f['track']} {f['emotion']} {f['probability']:.2f}"
                                 for f in faces)
    return text


def analyse_video(recognizer, source, *, every: int = 1, out_video=None, out_csv=None,
                  max_frames: int | None = None, smooth: float = 0.0, progress: bool = False,
                  stop: threading.Event | None = None, stats: VideoStats | None = None
                  ) -> list[dict]:
    """Run :func:`iter_video`, writing the per-frame CSV (one row per face; a frame without faces
    gets one row with ``faces`` 0) as the frames come; returns the frames.

    The arguments are those of :func:`iter_video`; ``out_csv`` is written atomically too, with
    every frame processed when the loop ends (or none when the video cannot be read).
    """
    frames = []
    with contextlib.ExitStack() as stack:
        table = None
        if out_csv:
            tmp = stack.enter_context(_io.atomic_path(out_csv))
            table = csv.writer(stack.enter_context(open(tmp, "w", newline="", encoding="utf-8")))
            # FER2013's seven always (blank where a run has fewer), then any class of the run's
            # beyond them (FER+'s contempt)
            names = [*CLASS_NAMES, *(n for n in recognizer.class_names if n not in CLASS_NAMES)]
            columns = [*VIDEO_CSV_COLUMNS, *names[len(CLASS_NAMES):]]
            table.writerow(columns)
        for index, seconds, faces in iter_video(recognizer, source, every=every,
                                                out_video=out_video, max_frames=max_frames,
                                                smooth=smooth, progress=progress, stop=stop,
                                                stats=stats):
            frames.append({"frame": index, "time_s": round(seconds, 3), "faces": faces})
            if table is None:
                continue
            for k, face in enumerate(faces or [None]):
                row = [index, f"{seconds:.3f}", len(faces)]
                if face is not None:
                    row += [k, face["track"], *face["box"], face["emotion"],
                            f"{face['probability']:.4f}",
                            *(f"{face['emotions'][n]:.4f}" if n in face["emotions"] else ""
                              for n in names)]
                table.writerow(row + [""] * (len(columns) - len(row)))
    return frames


def video_summary(frames: list[dict], every: int, lost: int = 0) -> str:
    """``N frames analysed (every k), M with faces, T tracks, most frequent emotion: E``, and
    ``, L frames lost (did not decode)`` when ``lost``."""
    emotions = [f["emotion"] for frame in frames for f in frame["faces"]]
    with_faces = sum(bool(frame["faces"]) for frame in frames)
    tracks = len({f.get("track") for frame in frames for f in frame["faces"]})
    top = max(set(emotions), key=emotions.count) if emotions else "none"
    return (f"{len(frames)} frames analysed (every {every}), {with_faces} with faces, "
            f"{tracks} track{'s' * (tracks != 1)}, most frequent emotion: {top}"
            + (f", {lost} frame{'s' * (lost != 1)} lost (did not decode)" if lost else ""))
