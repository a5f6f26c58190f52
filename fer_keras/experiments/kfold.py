"""K-fold training of one model: seeded folds, one resumable run per fold, out-of-fold predictions.

:func:`cross_fit` trains a ``fer_keras.train`` config K times under ``ROOT/fold<k>/``: fold model k
trains on the other K-1 folds of Training and, like every run, keeps its best epoch on PublicTest.
It then predicts its held-out fold (out-of-fold, OOF) and PublicTest, and saves both into its run
directory as ``predictions_<tta>.npz`` (``fold_index``, ``oof``, ``public``). The OOF predictions
cover every Training row exactly once, each by the one fold model that never saw it.

Calling it again finds what is done: a finished run and its saved predictions are reused, a run
killed or failed half-way continues from its last finished epoch
(``fer_keras.training.train.resume``), and
a run trained with other settings raises :class:`StaleRunError` instead of being mixed in.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fer_keras import TRAIN_SPLIT, VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.evaluation.run_dir import load_run
from fer_keras.evaluation.run_files import find_runs, read_config, read_run
from fer_keras.training.resume import RunBackup
from fer_keras.training.train import resolve_config, resume, train

__all__ = ["StaleRunError", "assign_folds", "cross_fit", "fold_predictions", "fold_run"]

#: Config keys that may differ between a fold run and the call that finds it again.
NOT_COMPARED = ("data", "out", "max_minutes", "verbose", "strategy", "ferplus")


class StaleRunError(ValueError):
    """A fold file or run made with other data or settings than the call that finds it."""


def assign_folds(labels: np.ndarray, folds: int, seed: int,
                 path: str | os.PathLike | None = None) -> np.ndarray:
    """The fold (1..``folds``) of every row: ``data.stratified_kfold``'s held-out parts.

    With ``path`` (an ``.npz``), the assignment is saved there the first time and must equal the
    saved one afterwards (otherwise :class:`StaleRunError`): fold runs are only reusable on the
    rows they were trained on.
    """
    fold_of = np.zeros(len(labels), np.int64)
    for k, (_, held_out) in enumerate(data.stratified_kfold(labels, folds, seed), start=1):
        fold_of[held_out] = k
    if path is None:
        return fold_of
    path = Path(path)
    if path.is_file():
        with np.load(path) as saved:
            if not np.array_equal(saved["fold"], fold_of):
                raise StaleRunError(f"{path}: the Training rows or their folds differ from this "
                                    "call's (other data, folds or seed).")
    else:
        with _io.atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, fold=fold_of)
    return fold_of


def fold_run(fold_dir: str | os.PathLike, config: dict, dataset: dict) -> Path:
    """Train ``config`` into ``fold_dir`` unless it is there: the newest run directory found is
    returned if finished, resumed otherwise, and checked against ``config`` either way."""
    fold_dir = Path(fold_dir)
    runs = find_runs(fold_dir)
    if not runs:
        run_dir = train({**config, "out": str(fold_dir)}, dataset=dataset)
        print(f"{fold_dir}: trained {run_dir.name}", flush=True)
        return run_dir
    run_dir = runs[-1]
    saved = read_config(run_dir)
    wanted, found = resolve_config(config), resolve_config(saved)
    changed = [k for k in wanted if k not in NOT_COMPARED and wanted[k] != found[k]]
    if changed:
        raise StaleRunError(f"{run_dir} was trained with other settings: " + "; ".join(
            f"{k}={found[k]!r} there, {wanted[k]!r} here" for k in changed) + ".")
    if saved.get("status") == "finished":
        print(f"{fold_dir}: {run_dir.name} already finished", flush=True)
        return run_dir
    state = RunBackup(run_dir).load()
    print(f"{fold_dir}: resuming {run_dir.name} after epoch {state['epoch'] if state else 0}",
          flush=True)
    return resume(run_dir, dataset=dataset)


def fold_predictions(run_dir: str | os.PathLike, held_out: np.ndarray, x_held_out: np.ndarray,
                     x_public: np.ndarray, tta: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """(OOF, PublicTest) probabilities of a fold run, saved in ``predictions_<tta>.npz``.

    Args:
        run_dir: a finished fold run.
        held_out: indices of its held-out Training rows (recorded, and checked on reuse).
        x_held_out, x_public: their images, and PublicTest's.
        tta: test-time views averaged by ``fer_keras.evaluation.evaluate.Run.scores`` (``"none"``,
            ``"flip"``, ``"tencrop"``).
    """
    path = Path(run_dir) / f"predictions_{tta}.npz"
    if path.is_file():
        with np.load(path) as saved:
            if np.array_equal(saved["fold_index"], held_out):
                return saved["oof"], saved["public"]
    run = load_run(run_dir)
    oof, public = (run.scores(x, tta=tta).astype(np.float32) for x in (x_held_out, x_public))
    with _io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, fold_index=held_out, oof=oof, public=public)
    return oof, public


def cross_fit(config: dict, root: str | os.PathLike, dataset: dict, fold_of: np.ndarray,
              tta: str = "none") -> dict:
    """Train (or find) the K fold runs of ``config`` under ``root`` and gather their predictions.

    Args:
        config: a ``fer_keras.train`` config (``out`` is set per fold).
        root: the folder of the ``fold<k>`` folders.
        dataset: ``load_dataset`` output with Training and PublicTest (PrivateTest is not read).
        fold_of: :func:`assign_folds` of the Training labels.
        tta: test-time augmentation of the predictions.

    Returns:
        ``{"oof": (n_train, k), "public": (n_public, k) mean of the fold models, "folds": [{"fold",
        "run_dir", "held_out", "oof", "public"}, ...], "class_names", "train_labels",
        "public_labels"}``: k the runs' classes (seven, six with ``merge_disgust``), the labels
        Training's and PublicTest's as those classes (:meth:`RunRecord.labels
        <fer_keras.evaluation.run_files.RunRecord.labels>`).
    """
    x_train, y_train = data.train_split(dataset)
    x_public, y_public = dataset[VAL_SPLIT]
    oof = None
    folds = []
    for k in range(1, int(fold_of.max()) + 1):
        held_out = np.flatnonzero(fold_of == k)
        fold_data = {TRAIN_SPLIT: (x_train[fold_of != k], y_train[fold_of != k]),
                     VAL_SPLIT: (x_public, y_public)}
        run_dir = fold_run(Path(root) / f"fold{k}", config, fold_data)
        fold_oof, fold_public = fold_predictions(run_dir, held_out, x_train[held_out], x_public,
                                                 tta)
        if oof is None:  # one column per class of the runs
            oof = np.full((len(y_train), fold_oof.shape[1]), np.nan, np.float32)
        oof[held_out] = fold_oof
        folds.append({"fold": k, "run_dir": run_dir, "held_out": held_out, "oof": fold_oof,
                      "public": fold_public})
    run = read_run(folds[0]["run_dir"])  # every fold run has the classes of ``config``
    return {"oof": oof, "public": np.mean([f["public"] for f in folds], axis=0), "folds": folds,
            "class_names": run.class_names, "train_labels": run.labels(y_train),
            "public_labels": run.labels(y_public)}
