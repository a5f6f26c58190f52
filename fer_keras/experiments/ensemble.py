"""K-fold ensembles: each member model trained on K folds of Training, combined on PublicTest.

(``--family NAME`` builds the other kind, members trained on all of Training: see
:mod:`fer_keras.experiments.family_ensemble`.)

``python -m fer_keras.ensemble --folds 4 --members susa_cnn:8,resnet18:8`` splits Training into K
stratified folds (``data.stratified_kfold``, seeded) and trains every member K times with
``fer_keras.train`` (softmax head; see :mod:`fer_keras.experiments.kfold`): fold model k trains on
the other
K-1 folds and, like every run, keeps its best epoch on PublicTest. Each fold model predicts its
held-out fold (out-of-fold, OOF) and PublicTest, so a member's OOF probabilities cover every
Training row exactly once, predicted by the one fold model that never saw it; its PublicTest
probabilities are the mean of its K fold models. Two ensembles combine the members:

- **plain average** of the members' probabilities;
- **weighted average**, with non-negative weights summing to 1 that minimise the log-loss of the
  members' OOF probabilities (:func:`fer_keras.experiments.blend.fit_weights`). The weights are
  fitted on Training only, never on PublicTest; PrivateTest is not read at all.

Members are ``[LABEL=]ARCH:EPOCHS`` (the label, by default the architecture's name, names the
member's folder and row; give two labels to have one architecture twice). Every member starts
from the same base config, given as to every training command (``--recipe``, ``--cpu``,
``--config``, ``--set KEY=VALUE``; see :mod:`fer_keras.training.options`);
``--member-options LABEL=JSON`` (repeatable) adds one member's builder options, and
``--max-minutes`` is each fold run's budget.

Everything goes to ``<out>/<name>/`` (``--name`` defaults to one made of the members, folds and
seed, so the same command finds the same folder):

- ``folds.npz``: the fold (1..K) of each Training row, checked on every re-run;
- ``<label>/fold<k>/<model>_softmax_<timestamp>/``: a ``fer_keras.train`` run directory, plus its
  ``predictions_<tta>.npz`` (``fold_index``, ``oof``, ``public``);
- ``ensemble.md`` / ``ensemble.json`` (the table: every fold model, every member, both averages,
  with PublicTest accuracy and macro-F1), ``predictions.npz`` (every member's OOF and PublicTest
  probabilities, the weights, both averages) and ``confusion_matrix.png`` of the best row on
  PublicTest; with ``--tta flip`` or ``tencrop`` these names end in ``_<tta>``.

Re-running the same command skips finished fold runs and their saved predictions, continues a
killed one from its last finished epoch (``fer_keras.training.train.resume``) and refuses a fold
run trained with other settings (use another ``--name``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_keras import VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.evaluation.metrics import save_confusion_figure
from fer_keras.evaluation.run_files import library_versions
from fer_keras.evaluation.tta import check_mode
from fer_keras.experiments import kfold
from fer_keras.experiments.blend import fit_weights, weighted_average
from fer_keras.experiments.ensemble_report import format_table, kfold_markdown, kfold_row
from fer_keras.models import list_models
from fer_keras.training.train import resolve_config

__all__ = ["Member", "EnsembleError", "default_name", "ensemble", "parse_members"]

#: Config keys every member gets from the ensemble, whatever the base config says.
RESERVED = ("model", "epochs", "data", "out")
_MEMBER = re.compile(r"^(?:(?P<label>\w[\w.-]*)=)?(?P<model>\w+):(?P<epochs>\d+)$", re.ASCII)


class EnsembleError(ValueError):
    """A bad member, option or value of an ensemble, found before anything trains.

    The message says what is wrong in one line, so the CLI prints it as is.
    """


@dataclass
class Member:
    """One ensemble member: a registered model, its epochs and builder options, and its label."""

    model: str
    epochs: int
    label: str = ""
    model_options: dict = field(default_factory=dict)

    def __post_init__(self):
        self.label = self.label or self.model


def parse_members(text: str) -> list[Member]:
    """``"susa_cnn:8,small=shallow_cnn:2"`` → members; labels must be unique, models registered."""
    members = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        match = _MEMBER.match(item)
        if match is None:
            raise EnsembleError(f"Members are [LABEL=]ARCH:EPOCHS separated by commas. "
                                f"Received: {item!r}")
        if match["model"] not in list_models():
            raise EnsembleError(f"Unknown model {match['model']!r}. Accepted values: "
                                f"{', '.join(list_models())}.")
        members.append(Member(match["model"], int(match["epochs"]), match["label"] or ""))
    labels = [m.label for m in members]
    if not members or len(set(labels)) < len(labels):
        raise EnsembleError(f"Give at least one member and each label once (LABEL=ARCH:EPOCHS "
                            f"for an architecture used twice). Received: {text!r}")
    return members


def default_name(members, folds: int, seed: int, quick: bool = False) -> str:
    """``ensemble_<label>-<epochs>_..._k<folds>_seed<seed>[_quick]``."""
    parts = "_".join(f"{m.label}-{m.epochs}" for m in members)
    return f"ensemble_{parts}_k{folds}_seed{seed}{'_quick' if quick else ''}"


def ensemble(members, *, config: dict | None = None, folds: int = 4, data_path=None,
             dataset: dict | None = None, out: str | os.PathLike = "models",
             name: str | None = None, seed: int = 0, tta: str | None = None,
             model_options: dict | None = None, max_minutes: float | None = None,
             quick: bool = False, verbose: int = 2) -> dict:
    """Train (or find) every fold model, combine the members and write the table.

    Args:
        members: ``"ARCH:EPOCHS,..."`` (see :func:`parse_members`) or a list of :class:`Member`.
        config: the base ``fer_keras.train`` config of every member, partial (e.g. a recipe's);
            its model and epochs are the member's, its head must be softmax.
        folds: K, the number of stratified folds of Training (at least 2).
        data_path: FER2013 CSV or PNG tree (default: ``dataset/fer2013.csv``, else the sample).
        dataset: already loaded data (``data_path`` is then only recorded).
        out: parent folder of the ensemble folder.
        name: the ensemble folder (default :func:`default_name`).
        seed: seeds the folds and every training run.
        tta: test-time augmentation of the predictions, one of
            :data:`fer_keras.evaluation.tta.TTA_MODES` (default the base config's own).
        model_options: ``{label: builder options}``, merged into the members' own.
        max_minutes: time budget of each fold run (default the base config's).
        quick: one epoch per fold run, in a folder whose name ends in ``_quick``.
        verbose: Keras fit verbosity.

    Returns:
        ``{"dir", "rows", "weights", "best", "table", "markdown"}``; ``rows`` as in
        ``ensemble.json``, ``best`` the member or ensemble row best on PublicTest accuracy.

    Raises:
        EnsembleError: a bad member, option or value (raised before anything trains).
        fer_keras.experiments.kfold.StaleRunError: the folder has folds or runs made with other
        data or
            settings.
        RunBusyError: another process is training one of the fold runs.
    """
    members = parse_members(members) if isinstance(members, str) else list(members)
    if folds < 2:
        raise EnsembleError(f"folds must be at least 2. Received: folds={folds}")
    data_path = str(data_path or data.default_data_path())
    ens_dir = Path(out) / (name or default_name(members, folds, seed, quick))
    base = {**(config or {}), "seed": seed, "verbose": verbose}
    if max_minutes is not None:
        base["max_minutes"] = max_minutes
    configs = _member_configs(members, model_options or {}, base, data_path=data_path,
                              quick=quick)
    try:
        tta = check_mode(tta or next(iter(configs.values()))["tta"])
    except ValueError as err:
        raise EnsembleError(str(err)) from None
    dataset = dataset if dataset is not None else data.load_dataset(data_path)
    if VAL_SPLIT not in dataset:
        raise EnsembleError(f"The ensemble needs {VAL_SPLIT} rows; the data has only "
                            f"{', '.join(dataset)}.")
    y_train, y_public = data.train_split(dataset)[1], dataset[VAL_SPLIT][1]
    fold_of = kfold.assign_folds(y_train, folds, seed, ens_dir / "folds.npz")

    rows, oof, public = [], {}, {}
    for m in members:
        fits = kfold.cross_fit(configs[m.label], ens_dir / m.label, dataset, fold_of, tta)
        # the labels as the runs' classes (disgust merged into angry in a six-class ensemble);
        # every member has the base config's classes
        y_train, y_public = fits["train_labels"], fits["public_labels"]
        names = fits["class_names"]
        rows += [kfold_row(f"{m.label} fold {f['fold']}", "fold", ens_dir, f["run_dir"],
                           (y_train[f["held_out"]], f["oof"]), (y_public, f["public"]), names)
                 for f in fits["folds"]]
        oof[m.label], public[m.label] = fits["oof"], fits["public"]
        rows.append(kfold_row(m.label, "member", ens_dir, ens_dir / m.label,
                              (y_train, fits["oof"]), (y_public, fits["public"]), names))
    labels = list(oof)
    weights = fit_weights(list(oof.values()), y_train)
    for row in rows:
        if row["kind"] == "member":
            row["weight"] = float(weights[labels.index(row["name"])])
    averages = {}
    for row_name, w in (("plain average", None), ("weighted average", weights)):
        averages[row_name] = (weighted_average(list(oof.values()), w),
                              weighted_average(list(public.values()), w))
        rows.append(kfold_row(row_name, "ensemble", ens_dir, ens_dir,
                              (y_train, averages[row_name][0]), (y_public, averages[row_name][1]),
                              names))

    suffix = "" if tta == "none" else f"_{tta}"
    best = max((r for r in rows if r["kind"] != "fold"), key=lambda r: r[VAL_SPLIT]["accuracy"])
    title = f"{best['name']}: {VAL_SPLIT} accuracy {best[VAL_SPLIT]['accuracy']:.3f}"
    save_confusion_figure(best[VAL_SPLIT]["confusion_matrix"],
                          ens_dir / f"confusion_matrix{suffix}.png", names, title=title)
    with _io.atomic_path(ens_dir / f"predictions{suffix}.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, members=np.array(labels), weights=weights, fold=fold_of,
                 train_labels=y_train, public_labels=y_public, oof=np.stack(list(oof.values())),
                 public=np.stack(list(public.values())), plain=averages["plain average"][1],
                 weighted=averages["weighted average"][1])
    spec = {"members": [{**vars(m), "model_options": configs[m.label]["model_options"]}
                        for m in members],
            "folds": folds, "seed": seed, "tta": tta, "data": data_path, "quick": quick,
            "config": dict(config or {}), "max_minutes": max_minutes}
    weights = dict(zip(labels, weights.tolist()))
    _io.write_json(ens_dir / f"ensemble{suffix}.json",
                   {**spec, "weights": weights, "best": best["name"], "rows": rows,
                    "versions": library_versions()})
    table = format_table(rows)
    _io.write_text(ens_dir / f"ensemble{suffix}.md",
                   kfold_markdown(spec, table, best, f"confusion_matrix{suffix}.png"))
    return {"dir": ens_dir, "rows": rows, "weights": weights, "best": best, "table": table,
            "markdown": ens_dir / f"ensemble{suffix}.md"}


def _member_configs(members, model_options, base, *, data_path, quick) -> dict[str, dict]:
    # Every member's config is resolved (and so validated) before anything trains.
    if base.get("head", "softmax") != "softmax":
        raise EnsembleError(f"Members have the softmax head (their probabilities are averaged)."
                            f" Received: head={base['head']!r}")
    unknown = sorted(set(model_options) - {m.label for m in members})
    if unknown:
        raise EnsembleError(f"Model options for unknown members {unknown}; the members are "
                            f"{', '.join(m.label for m in members)}.")
    configs = {}
    for m in members:
        try:
            options = {**base.get("model_options", {}), **m.model_options,
                       **model_options.get(m.label, {})}
            configs[m.label] = resolve_config(
                {k: v for k, v in base.items() if k not in RESERVED}, model=m.model,
                epochs=1 if quick else m.epochs, data=data_path, model_options=options)
        except ValueError as err:
            raise EnsembleError(f"member {m.label}: {err}") from None
    return configs
