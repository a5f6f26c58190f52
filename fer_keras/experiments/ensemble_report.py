"""An ensemble's report: one row per member and per combination, the tables and the markdown.

K-fold ensembles (``kfold_row``, ``format_table``, ``kfold_markdown``) and full-Training
families (``member_row``, ``pair_row``, ``family_table``, ``pair_table``, ``family_markdown``)."""

from __future__ import annotations

import os

import numpy as np

from fer_keras import VAL_SPLIT
from fer_keras.evaluation.metrics import classification_metrics, label_set_metrics
from fer_keras.evaluation.tables import markdown_table
from fer_keras.experiments.blend import log_loss, weighted_average


def kfold_row(name, kind, ens_dir, run_dir, oof, public, names) -> dict:
    """One k-fold row (a fold, a member's OOF, an ensemble): OOF and PublicTest metrics.

    ``oof`` and ``public`` are ``(labels, probabilities)`` over the runs' classes, ``names``.
    """
    oof_metrics = classification_metrics(*oof, names)
    return {"name": name, "kind": kind, "weight": None,
            "run_dir": os.path.relpath(run_dir, ens_dir),
            "OOF": {"n": oof_metrics["n"], "accuracy": oof_metrics["accuracy"],
                    "macro_f1": oof_metrics["macro_f1"], "log_loss": log_loss(*oof)},
            VAL_SPLIT: {**classification_metrics(*public, names), "log_loss": log_loss(*public)}}


def format_table(rows: list[dict]) -> str:
    """The rows as a markdown table: weight, OOF and PublicTest metrics, run directory."""
    header = ["model", "kind", "weight", "OOF acc.", "OOF log-loss", f"{VAL_SPLIT} acc.",
              f"{VAL_SPLIT} macro-F1", "directory"]
    return markdown_table(header, [
        [r["name"], r["kind"], "" if r["weight"] is None else f"{r['weight']:.3f}",
         f"{100 * r['OOF']['accuracy']:.2f}%", f"{r['OOF']['log_loss']:.3f}",
         f"{100 * r[VAL_SPLIT]['accuracy']:.2f}%", f"{r[VAL_SPLIT]['macro_f1']:.3f}",
         f"`{r['run_dir']}`"] for r in rows])


def kfold_markdown(spec: dict, table: str, best: dict, figure: str) -> str:
    """The ``ensemble.md`` of a k-fold ensemble."""
    members = ", ".join(f"{m['label']} ({m['model']}, {m['epochs']} epochs)"
                        for m in spec["members"])
    return "\n\n".join([
        f"# {spec['folds']}-fold ensemble: {members}",
        f"Data: `{spec['data']}`. {spec['folds']} stratified folds of Training (seed "
        f"{spec['seed']}); every fold model keeps its best epoch on {VAL_SPLIT}; test-time "
        f"augmentation: {spec['tta']}. A member's OOF row covers every Training row once, each "
        f"predicted by the fold model that never saw it; its {VAL_SPLIT} row is the mean of its "
        f"fold models. Weights: non-negative, summing to 1, minimising OOF log-loss (fitted on "
        f"Training only, so the weighted average's OOF numbers are in-sample).",
        table,
        f"## Best on {VAL_SPLIT}: {best['name']} (accuracy "
        f"{100 * best[VAL_SPLIT]['accuracy']:.2f}%, macro-F1 {best[VAL_SPLIT]['macro_f1']:.3f})",
        f"![confusion matrix]({figure})"]) + "\n"


def member_row(label, run, public, labels, ens_dir, names, ferplus=None) -> dict:
    """One full-Training member: PublicTest metrics over its own views, training time, epochs."""
    config = run.config
    phases = config.get("phases") or [{}]
    return {"name": label, "kind": "member", "run_dir": os.path.relpath(run.run_dir, ens_dir),
            "tta": run.tta_mode(), "minutes": round(config.get("fit_seconds", 0.0) / 60, 1),
            "epochs": sum(p.get("epochs_run", 0) for p in phases) or None,
            **scored_row(public, labels, names, ferplus)}


def scored_row(scores, labels, names, ferplus=None) -> dict:
    """A row's PublicTest metrics on FER2013's labels (with the log-loss) and, when ``ferplus``
    (the split's ``FerPlusSplit``) is given, on the FER+ majority (``"ferplus_majority"``)."""
    sets = label_set_metrics(scores, labels, ferplus, names)
    row = {VAL_SPLIT: {**sets["fer2013"], "log_loss": log_loss(labels, scores)}}
    if "ferplus_majority" in sets:
        row["ferplus_majority"] = {k: sets["ferplus_majority"][k]
                                   for k in ("n", "accuracy", "macro_f1", "excluded")}
    return row


def pair_row(a, b, scores_a, scores_b, labels) -> dict:
    """Two members side by side: how often they disagree, and what averaging the pair gives."""
    pred_a, pred_b = scores_a.argmax(1), scores_b.argmax(1)
    pair = weighted_average([scores_a, scores_b]).argmax(1)
    return {"members": [a, b], "disagreement": float(np.mean(pred_a != pred_b)),
            "both_wrong": float(np.mean((pred_a != labels) & (pred_b != labels))),
            "pair_accuracy": float(np.mean(pair == labels))}


def family_table(rows: list[dict]) -> str:
    """Members and the average: views, training minutes, epochs, PublicTest metrics (and on the
    FER+ majority when the rows have it), folder."""
    plus = all("ferplus_majority" in r for r in rows)
    header = ["model", "views", "training min", "epochs", f"{VAL_SPLIT} acc.",
              f"{VAL_SPLIT} macro-F1", f"{VAL_SPLIT} log-loss"] + (
        [f"{VAL_SPLIT} FER+ acc.", f"{VAL_SPLIT} FER+ macro-F1"] if plus else []) + ["directory"]
    return markdown_table(header, [
        [r["name"], r["tta"], f"{r['minutes']:.1f}", "" if r["epochs"] is None else r["epochs"],
         f"{100 * r[VAL_SPLIT]['accuracy']:.2f}%", f"{r[VAL_SPLIT]['macro_f1']:.3f}",
         f"{r[VAL_SPLIT]['log_loss']:.3f}"] + (
            [f"{100 * r['ferplus_majority']['accuracy']:.2f}%",
             f"{r['ferplus_majority']['macro_f1']:.3f}"] if plus else [])
        + [f"`{r['run_dir']}`"] for r in rows])


def pair_table(pairs: list[dict]) -> str:
    """The members two by two: disagreement, both wrong, accuracy of the pair's average."""
    return markdown_table(
        ["pair", "disagree", "both wrong", f"pair average {VAL_SPLIT} acc."],
        [[" + ".join(p["members"]), f"{100 * p['disagreement']:.2f}%",
          f"{100 * p['both_wrong']:.2f}%", f"{100 * p['pair_accuracy']:.2f}%"] for p in pairs])


def family_markdown(spec: dict, table: str, pairs: str, average: dict, figure: str) -> str:
    return "\n\n".join([
        f"# Ensemble `{spec['family']}` (seed {spec['seed']})",
        f"{spec['description']}. Data: `{spec['data']}`. Every member trained on all of "
        f"Training and kept its best epoch on {VAL_SPLIT}; the ensemble is the plain average of "
        f"the members' probabilities, each over its own test-time views (no weights: nothing is "
        f"fitted on {VAL_SPLIT}). Training minutes are each member's own on this machine.",
        table,
        "## Members two by two",
        "How often two members disagree on a PublicTest face, how often both are wrong, and the "
        "accuracy of the two averaged: the diversity each axis of the family adds.",
        pairs,
        f"## The ensemble: {VAL_SPLIT} accuracy {100 * average[VAL_SPLIT]['accuracy']:.2f}%, "
        f"macro-F1 {average[VAL_SPLIT]['macro_f1']:.3f}",
        f"![confusion matrix]({figure})"]) + "\n"
