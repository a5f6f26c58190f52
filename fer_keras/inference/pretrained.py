"""The models that ship inside the package, so ``EmotionRecognizer()`` works offline.

``fer_keras/pretrained/<name>/`` is a trimmed run directory: ``best.keras`` without optimizer
state, ``config.json`` (the run's config, so its preprocessing is known and the run can be
replayed) and ``metrics.json`` (its PublicTest scores). Every command takes such a NAME wherever
it takes a model (``fer-keras evaluate cpu_fast``; see
:func:`fer_keras.evaluation.packaged.resolve_model`).

``fer-keras package RUN [--name NAME] [--out ROOT] [--force]`` (or ``python -m
fer_keras.pretrained``; ``RUN`` or ``--model RUN``) makes one from a finished run, in ``--out``
(the root of packaged models, default the package's own ``fer_keras/pretrained``). A packaged
model already there is replaced only with ``--force``; under an explicit ``--out`` root it is
replaced.

Example:
    >>> from fer_keras.inference.pretrained import pretrained_dir
    >>> pretrained_dir()  # doctest: +SKIP
    PosixPath('.../fer_keras/pretrained/cpu_fast')
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fer_keras import _io
from fer_keras.evaluation import packaged, run_files
from fer_keras.models.saving import load_model_file

__all__ = ["DEFAULT_NAME", "MAX_BYTES", "package_run", "pretrained_dir"]

#: The default packaged model (``fer_keras.evaluation.packaged.DEFAULT_MODEL``).
DEFAULT_NAME = packaged.DEFAULT_MODEL
#: Size limit of a packaged model file (it is part of every install).
MAX_BYTES = 10 * 2**20


def pretrained_dir(name: str = DEFAULT_NAME) -> Path:
    """The packaged run directory ``name``; the error lists the packaged names and says how to
    pass a model instead (``fer_keras.evaluation.packaged.packaged_model``)."""
    return packaged.packaged_model(name)


def package_run(run_dir: str | os.PathLike, name: str = DEFAULT_NAME, *,
                root: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Copy a finished softmax or L2-SVM run into ``root/name`` (replacing it atomically).

    Args:
        run_dir: the run (a run directory, or a packaged name to re-package).
        name: the packaged model's name, a plain folder name.
        root: the root of packaged models; ``None``: the package's own
            (``fer_keras.evaluation.packaged.PRETRAINED_ROOT``).
        force: replace a packaged model of that name under the package's own root (one under
            an explicit ``root`` is always replaced).

    Raises:
        ValueError: the run is not finished, has an SVC head, or its model exceeds
            :data:`MAX_BYTES`; the name is not a plain folder name.
        FileExistsError: ``name`` is already packaged in the package's own root and not
            ``force``.
    """
    if Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"--name {name!r}: a packaged model's name is a plain folder name")
    run_dir = packaged.resolve_model(run_dir)
    target = Path(root if root is not None else packaged.PRETRAINED_ROOT) / name
    if root is None and target.exists() and not force:
        raise FileExistsError(f"{target}: a packaged model {name!r} is already there; pass "
                              "--force to replace it (or --out ROOT to package elsewhere)")
    config = run_files.read_config(run_dir)
    # first: compare's head runs have no status, being no training run
    if config.get("head") == "svc" or config.get("features_from"):
        raise ValueError(f"{run_dir}: only end-to-end networks (softmax, l2svm heads) are "
                         "packaged; an SVC or frozen-feature head is not a single .keras file.")
    if config.get("status") != "finished":
        raise ValueError(f"{run_dir}: the run is not finished (status {config.get('status')!r}).")
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
        run_files.write_config(tmp, {**config, "packaged_from": run_dir.name})
        run_files.write_metrics(tmp, run_files.read_metrics(run_dir))
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
