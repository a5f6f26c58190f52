"""Full-Training ensembles: train (or find, or resume) a family's members, average them, report.

``python -m fer_keras.ensemble --family cpu_fast3`` trains every member of the family
(:mod:`fer_keras.experiments.families`) on all of Training, one ``fer_keras.train`` run each, into
``<out>/<name>/<label>/<run>/`` (``--name`` defaults to ``ensemble_<family>_seed<seed>``, so the
same command finds the same folder). Re-running it skips finished members, continues a killed one
from its last finished epoch and refuses a member folder trained with other settings: a family
longer than a sitting is built in several. A finished run of the same settings copied into a
member's folder counts as that member.

Then every member scores PublicTest with its own test-time views (kept in the member's
``public_<tta>.npz``), and the ensemble is their plain average: no weights, so nothing is fitted on
the reported split (a member's own best epoch is chosen on PublicTest, as in every run). The folder
becomes a run itself: ``best.keras`` is the averaged graph of whole faces
(:func:`fer_keras.evaluation.averaging.average_model`), with ``config.json`` and ``metrics.json``
(scored through that graph), so every command that takes a model takes the ensemble folder, and
``fer_keras.train --teacher`` distils it. ``ensemble.md`` / ``ensemble.json`` hold the table (every
member and the average: PublicTest accuracy, macro-F1, log-loss, training minutes) and the
members' pairwise disagreement, which measures what each axis of the family adds.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from fer_keras import TRAIN_SPLIT, VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.data.ferplus import default_ferplus_path, ferplus_labels
from fer_keras.evaluation.averaging import EnsembleMemberError, average_model, ensemble_config
from fer_keras.evaluation.metrics import classification_metrics, save_confusion_figure
from fer_keras.evaluation.run_dir import load_run
from fer_keras.evaluation.run_files import library_versions, write_config, write_metrics
from fer_keras.experiments import ensemble_report, families, kfold
from fer_keras.experiments.blend import weighted_average
from fer_keras.training.train import resolve_config

__all__ = ["default_name", "family_ensemble", "public_scores"]


def default_name(family: str, seed: int = 0) -> str:
    """``ensemble_<family>_seed<seed>``."""
    return f"ensemble_{family}_seed{seed}"


def family_ensemble(family: str, *, changes: dict | None = None, data_path=None,
                    dataset: dict | None = None, out: str | os.PathLike = "models",
                    name: str | None = None, seed: int = 0, verbose: int = 2) -> dict:
    """Train or find every member of ``family``, then write the averaged ensemble and its table.

    Args:
        family: a name of :data:`fer_keras.experiments.families.FAMILIES`.
        changes: config keys for every member (e.g. ``{"max_minutes": 1}`` for a smoke test).
        data_path: FER2013 CSV or PNG tree (default: ``dataset/fer2013.csv``, else the sample).
        dataset: already loaded data (``data_path`` is then only recorded).
        out: parent folder of the ensemble folder.
        name: the ensemble folder (default :func:`default_name`).
        seed: added to every member's seed.
        verbose: Keras fit verbosity.

    Returns:
        ``{"dir", "rows", "pairs", "table", "markdown"}``.

    Raises:
        ValueError: an unknown family or a bad change, found before anything trains.
        EnsembleMemberError: members that cannot be averaged (other classes or equalisation).
        fer_keras.experiments.kfold.StaleRunError: a member folder trained with other settings.
    """
    data_path = str(data_path or data.default_data_path())
    configs = {}
    for label, config in families.member_configs(family, changes, seed=seed).items():
        try:
            configs[label] = resolve_config(config, data=data_path, verbose=verbose)
            beside = default_ferplus_path(data_path)
            if configs[label]["labels"] != "fer2013" and not configs[label]["ferplus"] and beside:
                configs[label] = configs[label].replace(ferplus=str(beside))
        except ValueError as err:
            raise ValueError(f"member {label}: {err}") from None
    _check_members(configs)
    ens_dir = Path(out) / (name or default_name(family, seed))
    dataset = dataset if dataset is not None else data.load_dataset(data_path)
    if VAL_SPLIT not in dataset:
        raise ValueError(f"The ensemble needs {VAL_SPLIT} rows; the data has only "
                         f"{', '.join(dataset)}.")
    train_data = {TRAIN_SPLIT: data.train_split(dataset), VAL_SPLIT: dataset[VAL_SPLIT]}
    run_dirs = {label: kfold.fold_run(ens_dir / label, config, train_data)
                for label, config in configs.items()}

    x_public, y_public = dataset[VAL_SPLIT]
    # Without their optimizers: the averaged graph saved below is for inference only.
    runs = {label: load_run(run_dir, compile=False) for label, run_dir in run_dirs.items()}
    public = {label: public_scores(run, x_public) for label, run in runs.items()}
    y_public = next(iter(runs.values())).labels(y_public)
    first = next(iter(runs.values()))
    names = first.class_names
    fp = ferplus_labels(dataset, data_path, None, merge_disgust=first.merge_disgust,
                        contempt=first.contempt)
    fp_public = fp[VAL_SPLIT] if fp else None
    average = weighted_average(list(public.values()))
    rows = [ensemble_report.member_row(label, run, public[label], y_public, ens_dir, names,
                                       fp_public) for label, run in runs.items()]
    minutes = sum(row["minutes"] for row in rows)
    rows.append({"name": "average", "kind": "ensemble", "run_dir": ".", "tta": "members'",
                 "minutes": minutes, "epochs": None,
                 **ensemble_report.scored_row(average, y_public, names, fp_public)})
    pairs = [ensemble_report.pair_row(a, b, public[a], public[b], y_public)
             for a, b in itertools.combinations(public, 2)]

    graph_metrics = _write_graph(ens_dir, runs, x_public, y_public, average, names, {
        "family": family, "seed": seed, "data": data_path, "fit_seconds": round(60 * minutes, 1),
        "versions": library_versions()})
    spec = {"family": family, "description": families.FAMILIES[family].description,
            "seed": seed, "data": data_path, "changes": dict(changes or {}),
            "members": {label: {**config} for label, config in configs.items()}}
    _io.write_json(ens_dir / "ensemble.json", {**spec, "rows": rows, "pairs": pairs,
                                               "graph": graph_metrics,
                                               "versions": library_versions()})
    table = ensemble_report.family_table(rows)
    _io.write_text(ens_dir / "ensemble.md", ensemble_report.family_markdown(
        spec, table, ensemble_report.pair_table(pairs), rows[-1], "confusion_matrix.png"))
    return {"dir": ens_dir, "rows": rows, "pairs": pairs, "table": table,
            "markdown": ens_dir / "ensemble.md"}


def _check_members(configs: dict) -> None:
    first_label, first = next(iter(configs.items()))
    for label, config in configs.items():
        if config["head"] != "softmax":
            raise EnsembleMemberError(f"member {label}: members are averaged as probabilities; "
                                      f"head={config['head']!r}.")
        for key in ("equalize", "merge_disgust", "contempt"):
            if config.get(key) != first.get(key):
                raise EnsembleMemberError(f"member {label}: {key}={config.get(key)!r}, member "
                                          f"{first_label} {first.get(key)!r}; members share it.")


def public_scores(run, x_public) -> np.ndarray:
    """A member's PublicTest probabilities over its own views, kept in its run directory."""
    tta = run.tta_mode()
    path = run.run_dir / f"public_{tta}.npz"
    if path.is_file():
        with np.load(path) as saved:
            if len(saved["public"]) == len(x_public):
                return saved["public"]
    scores = run.scores(x_public, tta=tta).astype(np.float32)
    with _io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, public=scores)
    return scores


def _write_graph(ens_dir, runs, x_public, y_public, average, names, extra) -> dict:
    """Save the averaged graph as the folder's ``best.keras`` and score PublicTest through it."""
    model = average_model(list(runs.values()), list(runs), name=ens_dir.name)
    with _io.atomic_path(ens_dir / "best.keras") as tmp:
        model.save(tmp)
    write_config(ens_dir, ensemble_config(list(runs.values()), list(runs), **extra,
                                          status="finished"))
    scores = load_run(ens_dir).scores(x_public)
    metrics = classification_metrics(y_public, scores, names)
    difference = float(np.abs(scores - average).max())
    write_metrics(ens_dir, {
        "selection_split": VAL_SPLIT, "tta": "none", "views": "each member's own, in the graph",
        VAL_SPLIT: metrics, "fit_seconds": extra["fit_seconds"],
        "max_difference_from_numpy_average": difference})
    title = f"{ens_dir.name}: {VAL_SPLIT} accuracy {metrics['accuracy']:.3f}"
    save_confusion_figure(metrics["confusion_matrix"], ens_dir / "confusion_matrix.png", names,
                          title=title)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "max_difference_from_numpy_average": difference}
