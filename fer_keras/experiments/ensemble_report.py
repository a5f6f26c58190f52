"""An ensemble's report: one row per member and per combination, the table and the markdown."""

from __future__ import annotations

import os

from fer_keras import VAL_SPLIT
from fer_keras.evaluation.metrics import classification_metrics
from fer_keras.evaluation.tables import markdown_table
from fer_keras.experiments.blend import log_loss


def _row(name, kind, ens_dir, run_dir, oof, public) -> dict:
    oof_metrics = classification_metrics(*oof)
    return {"name": name, "kind": kind, "weight": None,
            "run_dir": os.path.relpath(run_dir, ens_dir),
            "OOF": {"n": oof_metrics["n"], "accuracy": oof_metrics["accuracy"],
                    "macro_f1": oof_metrics["macro_f1"], "log_loss": log_loss(*oof)},
            VAL_SPLIT: {**classification_metrics(*public), "log_loss": log_loss(*public)}}


def format_table(rows: list[dict]) -> str:
    """The rows as a markdown table: weight, OOF and PublicTest metrics, run directory."""
    header = ["model", "kind", "weight", "OOF acc.", "OOF log-loss", f"{VAL_SPLIT} acc.",
              f"{VAL_SPLIT} macro-F1", "directory"]
    return markdown_table(header, [
        [r["name"], r["kind"], "" if r["weight"] is None else f"{r['weight']:.3f}",
         f"{100 * r['OOF']['accuracy']:.2f}%", f"{r['OOF']['log_loss']:.3f}",
         f"{100 * r[VAL_SPLIT]['accuracy']:.2f}%", f"{r[VAL_SPLIT]['macro_f1']:.3f}",
         f"`{r['run_dir']}`"] for r in rows])


def _markdown(spec: dict, table: str, best: dict, figure: str) -> str:
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
