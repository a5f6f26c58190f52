"""FER+ re-labels: ten annotators' votes per FER2013 image, as training targets and as test labels.

Microsoft's FER+ (Barsoum et al., Training Deep Networks for Facial Expression Recognition with
Crowd-Sourced Label Distribution, ICMI 2016, arXiv:1608.01041) re-labelled every FER2013 image
with 10 annotators' votes over neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown and not-a-face (``fer2013new.csv``; row i is row i of ``fer2013.csv``).

A run's **label set** (:data:`LABEL_SETS`) says what it learns from:

- ``fer2013``: the original single label of each row;
- ``ferplus_majority``: the FER+ majority, one of the seven FER2013 emotions (rows without one
  -- ties, a contempt, unknown or not-a-face majority, no image -- are left out);
- ``ferplus_votes``: the vote distribution over the seven emotions as a soft target (unknown,
  not-a-face and contempt votes dropped; rows whose majority is one of those, or with no vote
  for the seven, are left out).

A run's **class set** is FER2013's seven emotions (six with ``merge_disgust``), or with
``contempt`` eight: FER+'s contempt becomes a class of its own after them (label 7), its votes
kept and its majority rows learnt and scored. Only the FER+ label sets know contempt.

Test scores on FER+ always use the strict majority (:attr:`FerPlusSplit.majority`), rows without
one excluded and counted.

Example:
    >>> fp = ferplus_for_dataset("dataset/fer2013new.csv", dataset)   # doctest: +SKIP
    >>> fp["PublicTest"].majority[:5]                                 # doctest: +SKIP
    array([0, 6, 6, 3, 4])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_keras import CLASS_NAMES
from fer_keras.data import loading
from fer_keras.data.parse import FER2013Error

__all__ = ["FERPLUS_COLUMNS", "FERPLUS_NAMES", "LABEL_SETS", "FerPlusSplit", "default_ferplus_path",
           "ferplus_for_dataset", "ferplus_labels", "load_ferplus"]

#: What a run learns from (the config's ``labels``).
LABEL_SETS = ("fer2013", "ferplus_majority", "ferplus_votes")
#: File names looked for beside the FER2013 CSV when no FER+ path is given (the last: the
#: embedded sample's rows, beside it in the package).
FERPLUS_NAMES = ("fer2013new.csv", "ferplus_fer2013new.csv", "fer2013new_sample.csv")

# FER+ columns, in the file's order, and the FER2013 label each maps to (-1: no FER2013 class).
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                   "contempt", "unknown", "NF")
_FERPLUS_TO_FER = np.array([6, 3, 5, 4, 0, 1, 2, -1, -1, -1])
# The FER+ column of each FER2013 class, in FER2013 label order.
_FER_COLUMNS = np.array([list(_FERPLUS_TO_FER).index(i) for i in range(len(CLASS_NAMES))])
_CONTEMPT_COLUMN = FERPLUS_COLUMNS.index("contempt")


def load_ferplus(path):
    """FER+ re-labels (`fer2013new.csv`, row i = row i of fer2013.csv).

    Returns:
        dict with `votes` int `(n, 10)` in `FERPLUS_COLUMNS` order; `labels` int64 `(n,)`, the
        FER2013 label of the majority vote (-1 where the majority is contempt, unknown or
        not-a-face, where votes tie, or where the row has no image); `usage`, the Usage strings;
        `has_image`, bool; `top`, the column of the strict majority (-1 where none).
    """
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"Image name": "string"})
    except (OSError, ValueError) as e:
        raise FER2013Error(path, None, f"cannot read FER+ file: {e}") from None
    missing = [c for c in ("Usage", "Image name", *FERPLUS_COLUMNS) if c not in df.columns]
    if missing:
        raise FER2013Error(path, 1, f"missing FER+ column(s): {', '.join(missing)}")
    try:
        votes = df[list(FERPLUS_COLUMNS)].to_numpy(np.int64)
    except (ValueError, TypeError):
        bad = df[list(FERPLUS_COLUMNS)].apply(pd.to_numeric, errors="coerce").isna().any(axis=1)
        raise FER2013Error(path, int(np.argmax(bad.to_numpy())) + 2,
                           "vote counts must be whole numbers") from None
    if (votes < 0).any():
        raise FER2013Error(path, int(np.argmax((votes < 0).any(1))) + 2,
                           "vote counts must not be negative")
    has_image = df["Image name"].notna().to_numpy() & (df["Image name"].str.strip() != "")
    has_image = np.asarray(has_image.fillna(False), bool)
    top = votes.argmax(1)
    tie = (votes == votes.max(1, keepdims=True)).sum(1) > 1
    top[tie | ~has_image | (votes.sum(1) == 0)] = -1
    labels = np.where(top >= 0, _FERPLUS_TO_FER[top.clip(0)], -1)
    return {"votes": votes, "labels": labels.astype(np.int64), "top": top.astype(np.int64),
            "usage": df["Usage"].to_numpy(str), "has_image": has_image, "path": str(path)}


@dataclass(frozen=True)
class FerPlusSplit:
    """The FER+ labels of one split, row for row with the FER2013 arrays of that split.

    Attributes:
        majority: int64 ``(n,)``, the strict FER+ majority as a FER2013 label, -1 where none.
        votes: float32 ``(n, k)``, the votes over the k classes, normalised (zeros where none).
        trainable: bool ``(n,)``, the rows a ``ferplus_votes`` run learns from.
    """

    majority: np.ndarray
    votes: np.ndarray
    trainable: np.ndarray

    def rows(self, label_set: str) -> np.ndarray:
        """Indices of the rows a run on ``label_set`` learns from (every row for ``fer2013``)."""
        if label_set == "ferplus_votes":
            return np.flatnonzero(self.trainable)
        if label_set == "ferplus_majority":
            return np.flatnonzero(self.majority >= 0)
        return np.arange(len(self.majority))

    def targets(self, label_set: str, fer2013_labels, *, soft: bool = True) -> np.ndarray:
        """The training targets of :meth:`rows`: int labels, or for ``ferplus_votes`` with
        ``soft`` the ``(n, 1 + k)`` float32 targets of ``fer_keras.models.distillation`` (column
        0 the most-voted class, for the accuracy metrics; then the vote distribution)."""
        rows = self.rows(label_set)
        if label_set == "fer2013":
            return np.asarray(fer2013_labels)[rows]
        if label_set == "ferplus_majority":
            return self.majority[rows]
        top = self.votes[rows].argmax(1).astype(np.int64)
        if not soft:
            return top
        return np.concatenate([top.astype(np.float32)[:, None], self.votes[rows]], axis=1)


def default_ferplus_path(data_path) -> Path | None:
    """A FER+ file (:data:`FERPLUS_NAMES`) beside the FER2013 CSV or inside its PNG tree."""
    if data_path is None:
        return None
    data_path = Path(data_path)
    folder = data_path if data_path.is_dir() else data_path.parent
    return next((folder / n for n in FERPLUS_NAMES if (folder / n).is_file()), None)


def ferplus_for_dataset(ferplus, dataset: dict, *, merge_disgust: bool = False,
                        contempt: bool = False) -> dict[str, FerPlusSplit]:
    """:class:`FerPlusSplit` of every split of ``dataset`` (``load_dataset`` output).

    The rows of each Usage in the FER+ file are matched in order with the rows of that split; a
    FER+ file may hold splits the data lacks (e.g. PrivateTest held back).

    Args:
        ferplus: a ``fer2013new.csv`` path or :func:`load_ferplus` output.
        dataset: ``{split: (images, labels)}``.
        merge_disgust: six classes, disgust's votes counted as angry's.
        contempt: contempt as one more class after the others (its votes kept, its majority
            rows labelled ``len(classes) - 1``).

    Raises:
        FER2013Error: the FER+ file's rows of a split are not as many as the data's.
    """
    fp = ferplus if isinstance(ferplus, dict) else load_ferplus(ferplus)
    out = {}
    for split, (_, labels) in dataset.items():
        rows = np.flatnonzero(fp["usage"] == split)
        if len(rows) != len(labels):
            raise FER2013Error(fp.get("path", "FER+ file"), None,
                               f"{len(rows)} FER+ rows have Usage {split}, the data has "
                               f"{len(labels)}: its rows do not match the FER2013 CSV's (row i "
                               "of fer2013new.csv is row i of fer2013.csv)")
        votes, majority = fp["votes"][rows], fp["labels"][rows].copy()
        kept = [*_FER_COLUMNS, _CONTEMPT_COLUMN] if contempt else list(_FER_COLUMNS)
        dropped = [i for i in range(len(FERPLUS_COLUMNS)) if i not in kept]
        trainable = (fp["has_image"][rows] & (votes[:, kept].sum(1) > 0)
                     & (votes[:, kept].max(1) >= votes[:, dropped].max(1)))
        fer_votes = votes[:, _FER_COLUMNS].astype(np.float32)
        if merge_disgust:
            fer_votes = np.concatenate([fer_votes[:, :1] + fer_votes[:, 1:2], fer_votes[:, 2:]],
                                       axis=1)
            majority = loading.merge_disgust(majority)
        if contempt:  # one more class after the others
            majority[fp["top"][rows] == _CONTEMPT_COLUMN] = fer_votes.shape[1]
            fer_votes = np.concatenate([fer_votes, votes[:, [_CONTEMPT_COLUMN]]], axis=1)
        totals = fer_votes.sum(1, keepdims=True)
        fer_votes = np.divide(fer_votes, totals, out=np.zeros_like(fer_votes), where=totals > 0)
        out[split] = FerPlusSplit(majority, fer_votes, trainable)
    return out


def ferplus_labels(dataset: dict, data_path=None, ferplus=None, *, required: bool = False,
                   merge_disgust: bool = False, contempt: bool = False
                   ) -> dict[str, FerPlusSplit] | None:
    """:func:`ferplus_for_dataset` of ``ferplus``, else of the FER+ file beside ``data_path``.

    Returns ``None`` when no path is given and none lies beside the data, unless ``required``.
    When the FER+ labels are only scored beside FER2013's (not ``required``), a missing or
    mismatched file is a warning and ``None``: it never stops a run on FER2013's labels.

    Raises:
        FER2013Error: ``required`` and no FER+ file was found, or the file does not match.
    """
    path = ferplus or default_ferplus_path(data_path)
    if path is None:
        if not required:
            return None
        where = Path(data_path).parent if data_path and not Path(data_path).is_dir() else (
            data_path or "the data")
        raise FER2013Error(where, None, "FER+ labels are needed and none was found: give "
                           f"--ferplus FILE or put {FERPLUS_NAMES[0]} beside the CSV")
    try:
        if not Path(path).is_file():
            raise FER2013Error(path, None, "no such FER+ file")
        return ferplus_for_dataset(path, dataset, merge_disgust=merge_disgust, contempt=contempt)
    except FER2013Error as error:
        if required:
            raise
        warnings.warn(f"FER+ scores left out: {error}", stacklevel=2)
        return None
