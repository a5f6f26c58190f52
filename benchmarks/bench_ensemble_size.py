"""PublicTest accuracy of plain averages of k finished networks, for every k: where averaging ends.

    python benchmarks/bench_ensemble_size.py RUN_DIR... [--data dataset/fer2013.csv]
        [--target 0.72] [--json results/ensemble_size.json]

Every run scores PublicTest with its own test-time views (ten crops for a crop network, the face
and its mirror for a whole-face one), kept in the run's ``public_<tta>.npz`` as
``fer-keras ensemble`` keeps them. Then, for every size k, every subset of k runs is averaged as
``fer-keras ensemble`` averages its members (plain mean of probabilities, no weights: nothing is
fitted on the reported split). Prints, per k, the mean, lowest and highest accuracy over the
subsets and their mean summed training minutes.

The mean accuracy per k is then fitted by ``acc(k) = a - b / k`` (least squares): the usual shape
of an average of networks whose errors are partly independent, ``a`` being what averaging
infinitely many such networks would reach. From the fit: the k at which the mean subset reaches
``--target``, or that it never does (``a`` below it). It is an extrapolation from the networks
given, and says so in its output.

Nothing is timed, but the scoring takes the cores from a training on the clock: run it alone.
"""

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from fer_keras import VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.evaluation.run_dir import load_run
from fer_keras.experiments.blend import weighted_average
from fer_keras.experiments.family_ensemble import public_scores


def subset_table(scores: dict, minutes: dict, labels: np.ndarray) -> list[dict]:
    """Per size k: mean, lowest and highest accuracy of the plain averages of every k runs."""
    rows = []
    names = list(scores)
    for k in range(1, len(names) + 1):
        accuracies, spent, best = [], [], None
        for subset in itertools.combinations(names, k):
            accuracy = float(np.mean(weighted_average([scores[n] for n in subset]).argmax(1)
                                     == labels))
            accuracies.append(accuracy)
            spent.append(sum(minutes[n] for n in subset))
            if best is None or accuracy > best[0]:
                best = (accuracy, subset)
        rows.append({"k": k, "subsets": len(accuracies), "mean": float(np.mean(accuracies)),
                     "lowest": min(accuracies), "highest": best[0], "highest_runs": best[1],
                     "mean_minutes": float(np.mean(spent))})
    return rows


def fit_curve(rows: list[dict]) -> tuple[float, float]:
    """Least-squares ``a, b`` of ``mean(k) = a - b / k``."""
    k = np.array([r["k"] for r in rows], float)
    design = np.stack([np.ones_like(k), -1 / k], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, np.array([r["mean"] for r in rows]), rcond=None)
    return float(a), float(b)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished softmax run directories")
    parser.add_argument("--data", default=None, help="FER2013 CSV (default: dataset/fer2013.csv)")
    parser.add_argument("--target", type=float, default=0.72,
                        help="accuracy whose k the fit estimates (default 0.72)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    if len(args.runs) < 3:
        parser.error("give at least three runs: the fit has two parameters")
    data_path = str(args.data or data.default_data_path())
    x_public, y_public = data.load_dataset(data_path)[VAL_SPLIT]

    scores, minutes, classes = {}, {}, None
    for run_dir in args.runs:
        try:
            run = load_run(run_dir, compile=False)
        except (OSError, ValueError) as err:
            parser.error(f"{run_dir}: {err}")
        if not run.softmax:
            parser.error(f"{run_dir}: runs are averaged as probabilities; this one has an SVC or "
                         "score head")
        if classes is None:  # every run must share the first one's classes and labels
            classes, labels = run.class_names, run.labels(y_public)
        elif run.class_names != classes:
            parser.error(f"{run_dir}: {len(run.class_names)} classes, the first run {len(classes)}")
        name = str(run_dir)
        scores[name] = public_scores(run, x_public)
        minutes[name] = run.config.get("fit_seconds", 0.0) / 60
        print(f"{name}: {run.tta_mode()} views, {minutes[name]:.1f} min, PublicTest "
              f"{np.mean(scores[name].argmax(1) == labels):.2%}")

    rows = subset_table(scores, minutes, labels)
    a, b = fit_curve(rows)
    print("\n| k | subsets | mean PublicTest | lowest | highest | mean training min | "
          "fit a - b/k |\n|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['k']} | {r['subsets']} | {r['mean']:.2%} | {r['lowest']:.2%} | "
              f"{r['highest']:.2%} | {r['mean_minutes']:.1f} | {a - b / r['k']:.2%} |")
    if a <= args.target:
        verdict = (f"the fit's limit a = {a:.2%} is below {args.target:.1%}: averaging more "
                   "networks like these does not reach it")
        needed = None
    else:
        needed = int(np.ceil(b / (a - args.target)))
        verdict = (f"the fit reaches {args.target:.1%} at k = {needed} networks, about "
                   f"{needed * np.mean(list(minutes.values())):.0f} training minutes")
    print(f"\nfit (extrapolation from these {len(rows)} runs): accuracy(k) = {a:.2%} - "
          f"{b:.2%} / k; {verdict}")
    if args.json:
        _io.write_json(args.json, {"data": data_path, "split": VAL_SPLIT, "runs": list(scores),
                                   "minutes": minutes, "rows": rows, "fit": {"a": a, "b": b},
                                   "target": args.target, "networks_for_target": needed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
