"""The model that ships inside the package, so ``EmotionRecognizer()`` works offline.

``fer_keras/pretrained/<name>/`` is a trimmed run directory: ``best.keras`` without optimizer
state, ``config.json`` (the run's config, so its preprocessing is known and the run can be
replayed) and ``metrics.json`` (its PublicTest scores). ``python -m fer_keras.pretrained RUN_DIR``
makes one from a finished run.

Example:
    >>> from fer_keras.inference.pretrained import pretrained_dir
    >>> pretrained_dir()  # doctest: +SKIP
    PosixPath('.../fer_keras/pretrained/cpu_fast')
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from fer_keras import _io
from fer_keras.models.saving import ModelFileError, load_model_file

__all__ = ["DEFAULT_NAME", "MAX_BYTES", "PRETRAINED_ROOT", "package_run", "pretrained_dir"]

PRETRAINED_ROOT = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT_NAME = "cpu_fast"
#: Size limit of a packaged model file (it is part of every install).
MAX_BYTES = 10 * 2**20


def pretrained_dir(name: str = DEFAULT_NAME) -> Path:
    """The packaged run directory ``name``; the error says how to pass a model instead."""
    path = PRETRAINED_ROOT / name
    if not (path / "best.keras").is_file():
        raise FileNotFoundError(f"No packaged model {name!r} in {PRETRAINED_ROOT}: pass a run "
                                "directory (models/<model>_<head>_<timestamp>) or a .keras file.")
    return path


def package_run(run_dir: str | os.PathLike, name: str = DEFAULT_NAME, *,
                root: str | os.PathLike = PRETRAINED_ROOT) -> Path:
    """Copy a finished softmax or L2-SVM run into ``root/name`` (replacing it atomically).

    Raises:
        ValueError: the run is not finished, has an SVC head, or its model exceeds
            :data:`MAX_BYTES`.
    """
    run_dir, target = Path(run_dir), Path(root) / name
    config = _io.read_json(run_dir / "config.json")
    if config.get("status") != "finished":
        raise ValueError(f"{run_dir}: the run is not finished (status {config.get('status')!r}).")
    if config.get("head") == "svc" or config.get("features_from"):
        raise ValueError(f"{run_dir}: only end-to-end networks (softmax, l2svm heads) are "
                         "packaged; an SVC or frozen-feature head is not a single .keras file.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _io.temp_dir(f".{name}-", target.parent)
    try:
        # compile=False drops the optimizer state: two thirds of an Adam checkpoint's size
        model = load_model_file(run_dir / "best.keras", num_classes=None, compile=False)
        model.save(tmp / "best.keras")
        size = (tmp / "best.keras").stat().st_size
        if size > MAX_BYTES:
            raise ValueError(f"{run_dir}: model is {size / 2**20:.1f} MiB, over the "
                             f"{MAX_BYTES / 2**20:.0f} MiB limit of a packaged model.")
        _io.write_json(tmp / "config.json", {**config, "packaged_from": run_dir.name})
        shutil.copy2(run_dir / "metrics.json", tmp / "metrics.json")
        if target.exists():
            old = target.with_name(f".{name}-old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer_keras.pretrained",
                                description="Package a finished run as fer_keras's default model.")
    p.add_argument("run_dir", help="a finished run directory")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"default {DEFAULT_NAME}")
    p.add_argument("--root", default=str(PRETRAINED_ROOT), help="where packaged models live")
    args = p.parse_args(argv)
    try:
        target = package_run(args.run_dir, args.name, root=args.root)
    except (OSError, ValueError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics = json.loads((target / "metrics.json").read_text())
    print(f"{target}: {(target / 'best.keras').stat().st_size / 2**20:.2f} MiB, PublicTest "
          f"accuracy {metrics['PublicTest']['accuracy']:.4f}")
    return 0

