"""PublicTest accuracy against CPU minutes of training, for finished run directories.

    python benchmarks/bench_time_to_accuracy.py RUN_DIR... [--out time_to_accuracy.png]
        [--thresholds 0.60,0.64,0.66,0.68]

For every run: its PublicTest accuracy after each epoch against the training minutes spent so far
(``fit_minutes`` in ``history.csv``; runs written before that column existed get their
``fit_seconds`` spread evenly over their epochs, marked "≈" in the table), its final reported
accuracy (``metrics.json``, with the run's own TTA; flip TTA when only
``metrics_PublicTest_tta-flip.json`` has it), and the minutes it took to first reach each
threshold. An ensemble folder is one point at its members' cumulative training minutes; a
distilled run's label names its teacher (whose one-off scoring is not in its minutes). Prints a
Markdown table, saves the figure.
The runs themselves come from the commands in the README (each run's ``config.json`` replays it).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fer_keras.evaluation import is_run, read_run


def run_curve(run_dir: Path) -> dict:
    run = read_run(run_dir)
    config = run.config
    if config.get("kind") == "ensemble":
        return ensemble_point(run)
    history = run.history
    accuracy = np.asarray(history["val_accuracy"])
    if "fit_minutes" in history:
        minutes, exact = np.asarray(history["fit_minutes"]), True
    else:
        minutes = config["fit_seconds"] / 60 * np.arange(1, len(accuracy) + 1) / len(accuracy)
        exact = False
    metrics = run.metrics
    flip = run_dir / "metrics_PublicTest_tta-flip.json"
    label = config.get("recipe") or config["model"]
    filters = config.get("model_options", {}).get("filters")
    if filters:  # a wider or narrower network than the recipe's
        label += f" {filters[0]}→{filters[-1]} filters"
    parent = run_dir.resolve().parent
    if is_run(parent.parent):  # a family member: <ensemble>/<label>/<run>
        label += f" {parent.name}"
    if config.get("teacher"):
        label += (f" + teacher {Path(config['teacher']).name}, "
                  f"T={config.get('teacher_temperature', 4.0):g}")
    tta = metrics.get("tta", "none")  # the reported accuracy is with the run's own TTA
    if tta == "none" and flip.exists():  # runs that were scored with flip TTA afterwards
        tta, metrics = "flip", {"PublicTest": json.loads(flip.read_text())}
    return {"run": run_dir.name, "label": label, "minutes": minutes, "accuracy": accuracy,
            "exact": exact, "final": metrics["PublicTest"]["accuracy"], "tta": tta,
            "total_minutes": config["fit_seconds"] / 60}


def ensemble_point(ensemble) -> dict:
    """An ensemble folder's record (``fer_keras.ensemble --family``): one point at its members'
    summed training minutes (trained one after another on the same cores), at its reported
    accuracy."""
    minutes = ensemble.config["fit_seconds"] / 60
    final = ensemble.metrics["PublicTest"]["accuracy"]
    family = ensemble.config.get("family", "")
    return {"run": ensemble.run_dir.name, "label": f"ensemble {family}".strip(),
            "minutes": np.array([minutes]), "accuracy": np.array([final]), "exact": True,
            "final": final, "tta": "members'", "total_minutes": minutes}


def first_reach(curve: dict, threshold: float) -> float | None:
    hit = np.flatnonzero(curve["accuracy"] >= threshold)
    return float(curve["minutes"][hit[0]]) if len(hit) else None


def plot(curves, thresholds) -> Figure:
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    starred = False
    for c in curves:
        if c["tta"] == "members'":  # an ensemble: one point, at its members' summed minutes
            ax.scatter(c["minutes"], c["accuracy"], marker="D", s=50, zorder=3, color="black",
                       label=f"{c['label']} ({c['run']})")
            continue
        (line,) = ax.plot(c["minutes"], c["accuracy"], marker=".", ms=3, lw=1,
                          label=f"{c['label']} ({c['run']})")
        if c["tta"] != "none":  # the reported accuracy, in the curve's colour
            ax.scatter([c["minutes"][-1]], [c["final"]], marker="*", s=80, zorder=3,
                       color=line.get_color(),
                       label=None if starred else "reported, with TTA (the curve's colour)")
            starred = True
    for t in thresholds:
        ax.axhline(t, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("training minutes, 2 CPU cores")
    ax.set_ylabel("PublicTest accuracy")
    ax.set_title("FER2013: accuracy against CPU time")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("time_to_accuracy.png"))
    p.add_argument("--thresholds", default="0.60,0.64,0.66,0.68")
    args = p.parse_args(argv)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    curves = [run_curve(r) for r in args.runs]
    head = ["run", "label", "minutes", "PublicTest (curve's best)", "reported (TTA)"] + [
        f"min to {t:.0%}" for t in thresholds]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for c in curves:
        approx = "" if c["exact"] else "≈"
        reach = [first_reach(c, t) for t in thresholds]
        cells = [c["run"], c["label"], f"{c['total_minutes']:.1f}",
                 f"{c['accuracy'].max():.4f}", f"{c['final']:.4f} ({c['tta']})"]
        cells += ["—" if m is None else f"{approx}{m:.1f}" for m in reach]
        print("| " + " | ".join(cells) + " |")
    plot(curves, thresholds).savefig(args.out, dpi=120)
    print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
