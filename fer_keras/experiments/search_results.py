"""The results of an optimiser x schedule search: the trials' rows, the table and the figure."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from fer_keras import VAL_SPLIT, _io
from fer_keras.data.figures import plot_search_heatmap
from fer_keras.evaluation.metrics import save_figure
from fer_keras.evaluation.run_files import find_runs, read_run
from fer_keras.evaluation.tables import markdown_table
from fer_keras.experiments.search_settings import COLUMNS


def read_results(search_dir: str | os.PathLike, settings: dict | None = None) -> list[dict]:
    """One row per trial run under ``search_dir``, best PublicTest accuracy first.

    Each row holds :data:`COLUMNS`: ``best_epoch`` counts from 1, ``seconds`` is the training
    time, ``epochs`` the epochs trained; ``PublicTest_accuracy``, ``best_epoch`` and ``seconds``
    are ``None`` for a run that did not finish (``status`` says why).
    """
    search_dir = Path(search_dir)
    settings = settings or _io.read_json(search_dir / "search.json")["settings"]
    grid = [(o, s) for o in settings["optimizers"] for s in settings["schedules"]]
    runs = {}
    for run in map(read_run, find_runs(search_dir, "trial_*/*")):
        runs[(run.config["optimizer"], run.config["schedule"])] = run
    rows = []
    for key in grid:
        if key not in runs:
            continue
        run_dir, config = runs[key].run_dir, runs[key].config
        metrics = (runs[key].metrics or None) if config.get("status") == "finished" else None
        rows.append({
            "optimizer": key[0], "schedule": key[1], "learning_rate": config["learning_rate"],
            "PublicTest_accuracy": metrics[VAL_SPLIT]["accuracy"] if metrics else None,
            "best_epoch": metrics["best_epoch"] + 1 if metrics else None,
            "epochs": sum(p["epochs_run"] for p in config.get("phases", [])) if metrics else None,
            "seconds": metrics["fit_seconds"] if metrics else None,
            "status": config.get("status", "unknown"), "run_dir": str(run_dir)})
    return sorted(rows, key=lambda r: -r["PublicTest_accuracy"] if r["PublicTest_accuracy"]
                  is not None else math.inf)


def write_results(search_dir: Path, settings: dict):
    """Write ``results.csv``, ``results.md`` and ``heatmap.png``; returns ``(rows, figure)``."""
    rows = read_results(search_dir, settings)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _io.write_text(search_dir / "results.csv", buffer.getvalue())
    optimizers, schedules = settings["optimizers"], settings["schedules"]
    grid = {(r["optimizer"], r["schedule"]): r["PublicTest_accuracy"] for r in rows}
    accuracy = [[math.nan if grid.get((o, s)) is None else grid[(o, s)] for s in schedules]
                for o in optimizers]
    epochs = f"{settings['epochs_per_trial']} epoch" + "s" * (settings["epochs_per_trial"] > 1)
    figure = plot_search_heatmap(accuracy, optimizers, schedules, title=(
        f"{settings['model']}: {VAL_SPLIT} accuracy, {epochs} per trial"))
    save_figure(figure, search_dir / "heatmap.png")
    done = sum(r["status"] == "finished" for r in rows)
    text = (f"# Optimizer x schedule search: {settings['model']}\n\n"
            f"{done} of {len(optimizers) * len(schedules)} trials finished; "
            f"{epochs} per trial"
            + (f" (at most {settings['minutes_per_trial']:g} minutes)"
               if settings["minutes_per_trial"] else "")
            + f", seed {settings['seed']}, subset {settings['subset']:g} of Training, data "
              f"`{settings['data']}`. Each trial's best epoch is chosen on {VAL_SPLIT}.\n\n"
            + format_table(rows) + f"\n\n![{VAL_SPLIT} accuracy per optimizer and schedule]"
              "(heatmap.png)\n")
    _io.write_text(search_dir / "results.md", text)
    return rows, figure


def format_table(rows: list[dict]) -> str:
    """The rows as a markdown table, in their order."""
    header = ["optimizer", "schedule", "learning rate", f"{VAL_SPLIT} acc.", "best epoch",
              "epochs", "seconds", "status", "run directory"]
    cells = []
    for r in rows:
        done = r["PublicTest_accuracy"] is not None
        cells.append([r["optimizer"], r["schedule"], f"{r['learning_rate']:g}",
                      f"{100 * r['PublicTest_accuracy']:.2f}%" if done else "–",
                      str(r["best_epoch"]) if done else "–", str(r["epochs"]) if done else "–",
                      f"{r['seconds']:.1f}" if done else "–", r["status"], f"`{r['run_dir']}`"])
    return markdown_table(header, cells)
