"""A distilled run's teacher: its probabilities of every Training face, computed once and kept.

``fer_keras.train --teacher TEACHER`` (config key ``teacher``) trains a softmax student on the
labels and on the probabilities of a teacher: any softmax model ``load_run`` opens (a run
directory, a ``.keras`` file, a packaged name) or an ensemble folder, whose ``best.keras`` averages
its members (``fer_keras.ensemble --family``). The teacher scores each Training face once, with
its own test-time augmentation (e.g. the mean of ten crops), before the student's first epoch;
the student then sees random augmented views of a face with that face's one target. This is an
approximation of the teacher's output for each view, which would cost one teacher pass per view
per epoch: the teacher's cost stays a one-off, reported apart from the student's training time.

The probabilities are saved in the student's run directory (``teacher_targets.npz``, checked
against the images), so a resumed run does not recompute them, and beside the teacher (not
inside the package) for the next student of the same teacher and data.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from fer_keras import _io
from fer_keras.data import loading as data
from fer_keras.evaluation.run_dir import load_run

__all__ = ["TARGETS_FILE", "teacher_probabilities"]

#: The teacher's probabilities in a distilled run's directory.
TARGETS_FILE = "teacher_targets.npz"


def teacher_probabilities(teacher: str, images: np.ndarray, *, merge_disgust: bool = False,
                          contempt: bool = False, run_dir: str | Path | None = None
                          ) -> tuple[np.ndarray, dict]:
    """The teacher's probabilities ``(n, classes)`` of ``images`` and how they were obtained.

    Args:
        teacher: what :func:`~fer_keras.evaluation.run_dir.load_run` opens; its scores must be
            probabilities (a softmax network without an SVC or feature head).
        images: uint8 ``(n, 48, 48)`` faces, e.g. Training.
        merge_disgust: the student has six classes: a seven-class teacher's disgust is added
            to angry.
        contempt: the student has FER+'s contempt as a class: so must the teacher.
        run_dir: the student's run directory, where the probabilities are kept.

    Returns:
        ``(probabilities, info)``; ``info`` has ``teacher``, ``tta``, ``seconds`` (0 when read from
        a file) and ``source`` (``"computed"`` or the file read).

    Raises:
        FileNotFoundError, ModelFileError: the teacher cannot be opened (one-line message).
        ValueError: the teacher does not output probabilities, or has other classes.
    """
    digest = hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest()
    run = load_run(teacher, compile=False)  # it only scores: no optimizer state
    if not run.softmax:
        raise ValueError(f"{teacher}: a teacher must output probabilities (a softmax run or an "
                         f"ensemble); this one has {'an SVC' if run.svc else 'a score'} head.")
    student = data.class_names(merge_disgust, contempt)
    mergeable = merge_disgust and not contempt and run.class_names == data.class_names()
    if run.class_names != student and not mergeable:
        raise ValueError(f"{teacher}: a teacher of {len(run.class_names)} classes "
                         f"({', '.join(run.class_names)}) cannot teach a student of "
                         f"{len(student)} ({', '.join(student)}).")
    tta = run.tta_mode()
    beside = None if run.packaged else run.run_dir / f"teacher_targets_{tta}_{digest[:12]}.npz"
    places = [p for p in (Path(run_dir) / TARGETS_FILE if run_dir else None, beside) if p]
    for path in places:
        probabilities = _read(path, digest)
        if probabilities is not None:
            break
    else:
        path, start = None, time.perf_counter()
        probabilities = run.scores(images, tta=tta).astype(np.float32)
        seconds = round(time.perf_counter() - start, 1)
    for target in places:
        if target != path:
            _write(target, digest, probabilities)
    if mergeable:
        merged = np.delete(probabilities, 1, axis=1)
        merged[:, 0] += probabilities[:, 1]
        probabilities = merged
    info = {"teacher": str(teacher), "tta": tta, "source": "computed" if path is None
            else str(path), "seconds": seconds if path is None else 0.0}
    return probabilities, info


def _read(path: Path, digest: str) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as saved:
            if str(saved["digest"]) == digest:
                return saved["probabilities"]
    except (OSError, ValueError, KeyError):
        pass  # a damaged or foreign file is recomputed and replaced
    return None


def _write(path: Path, digest: str, probabilities: np.ndarray) -> None:
    try:
        with _io.atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, digest=np.array(digest), probabilities=probabilities)
    except OSError:
        if path.name != TARGETS_FILE:  # beside a read-only teacher: only the run's copy matters
            return
        raise
