"""The main job: train one shallow CNN, then compare softmax, L2-SVM and SVC heads on its features.

``python -m fer_keras.compare`` (on the embedded sample unless ``dataset/fer2013.csv`` exists, a few
minutes on 2 CPU cores) or ``python -m fer_keras.compare --data dataset/fer2013.csv``.

What is shared, exactly: one ``shallow_cnn`` is trained once with a softmax head (augmented Training
images, checkpoint chosen on PublicTest accuracy). Its 256-d ``"features"`` layer (after the last
dense → batch norm → ReLU, before dropout), computed in inference mode on un-augmented images, is
the input of all three heads:

- **softmax**: the network's own softmax layer, trained jointly with the features;
- **L2-SVM**: a new linear layer on the frozen, standardised features, trained with the squared
    hinge
  loss and an L2 penalty (Tang 2013), epoch chosen on PublicTest accuracy;
- **SVC**: ``StandardScaler`` + ``SVC`` (RBF by default) fitted on the same frozen Training
    features.

So the softmax head alone co-adapted with the features (and saw augmentation); the two SVM heads
only see the features. Every head gets its own run directory (``evaluate`` works on each), and the
table goes to ``<out>/compare_<timestamp>/comparison.md`` with the confusion matrices.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import keras

from fer_keras import CLASS_NAMES, VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.data import pipeline
from fer_keras.evaluation.evaluate import Run, evaluate_run, load_run
from fer_keras.evaluation.run_dir import library_versions, make_run_dir
from fer_keras.models import heads
from fer_keras.training import distribute
from fer_keras.training.train import train

#: Network defaults: 20 epochs at batch 32 take the sample (1,200 Training images) to ~35-39%
#: PublicTest in a few minutes on 2 CPU cores; batch 64 gives too few updates on so few images.
DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 32
#: Network time budget on the embedded sample, so that the README's first command ends within five
#: minutes even on a slow or busy machine (an idle 2-core machine needs less).
SAMPLE_BUDGET_MINUTES = 3.5
HEAD_ORDER = ("softmax", "l2svm", "svc")
SHARED = ("All three heads read the same 256-d `features` layer of one `shallow_cnn` trained once "
          "with a softmax head (checkpoint chosen on PublicTest accuracy), computed in inference "
          "mode on un-augmented images. Softmax is the network's own layer, trained jointly with "
          "the features on augmented images; the L2-SVM (squared hinge + L2, epoch chosen on "
          "PublicTest) and the SVC (StandardScaler + SVC) are fitted on the frozen Training "
          "features only.")
_TRAINED_ON = {"softmax": "end to end with the features",
               "l2svm": "frozen features (squared hinge + L2)",
               "svc": "frozen features (StandardScaler + SVC)"}


def compare(data_path=None, *, epochs: int = DEFAULT_EPOCHS, batch_size: int = DEFAULT_BATCH_SIZE,
            out: str | os.PathLike = "models", seed: int = 0, subset: float = 1.0,
            svc_kind: str = "svc", svc_c: float = 1.0,
            l2svm_epochs: int = 100, l2: float = 1e-4, max_minutes: float | None = None,
            verbose: int = 0, dataset: dict | None = None, mixed_precision: bool = False,
            schedule: str = "plateau", strategy: str = "auto") -> dict:
    """Run the comparison; returns ``{"rows": [...], "markdown": path, "table": str}``.

    Args:
        data_path: FER2013 CSV or PNG tree (default: ``dataset/fer2013.csv``, else the sample).
        epochs: network epochs (early stopping may end sooner).
        batch_size: network batch size.
        out: parent folder of the run directories and the comparison folder.
        seed: seeds the network, the L2-SVM and the SVC.
        subset: stratified fraction of Training.
        svc_kind, svc_c: SVC head (``"svc"`` with an RBF kernel, or ``"linear_svc"``).
        l2svm_epochs, l2: frozen-feature L2-SVM training.
        max_minutes: time budget for the network training (default: ``SAMPLE_BUDGET_MINUTES``
            on the embedded sample, none otherwise).
        verbose: Keras verbosity.
        dataset: already loaded data (``data_path`` is then only recorded).
        strategy: ``tf.distribute`` strategy of the network training (see
            :mod:`fer_keras.training.distribute`); the heads are fitted on one device.
    """
    data_path = str(data_path or data.default_data_path())
    dataset = dataset if dataset is not None else data.load_dataset(data_path)
    if max_minutes is None and _is_sample(data_path):
        max_minutes = SAMPLE_BUDGET_MINUTES
    net_dir = train(model="shallow_cnn", head="softmax", data=data_path, epochs=epochs,
                    batch_size=batch_size, out=out, seed=seed, subset=subset,
                    max_minutes=max_minutes, verbose=verbose, dataset=dataset,
                    mixed_precision=mixed_precision, schedule=schedule, strategy=strategy)
    network = load_run(net_dir)
    x_train, y_train = data.subset(*data.train_split(dataset), subset, seed)
    x_val, y_val = dataset[VAL_SPLIT]
    start = time.perf_counter()
    f_train = heads.extract_features(network.model, _prepared(x_train))
    f_val = heads.extract_features(network.model, _prepared(x_val))
    extract_seconds = time.perf_counter() - start

    base = {k: network.config[k] for k in ("model", "data", "seed", "subset", "equalize")}
    base.update(features_from=None, feature_layer=heads.FEATURE_LAYER)
    runs = {"softmax": (network, _io.read_json(net_dir / "metrics.json")["fit_seconds"])}

    keras.utils.set_random_seed(seed)
    head = heads.l2svm_on_features(f_train, len(CLASS_NAMES), l2=l2)
    head.compile(optimizer="adam", loss=heads.L2SVMLoss(), metrics=heads.head_metrics())
    start = time.perf_counter()
    head.fit(f_train, y_train, validation_data=(f_val, y_val), epochs=l2svm_epochs,
             batch_size=128, verbose=0, callbacks=[keras.callbacks.EarlyStopping(
                 monitor="val_accuracy", mode="max", patience=15, restore_best_weights=True)])
    l2svm_seconds = time.perf_counter() - start
    l2svm_dir = _head_run_dir(out, net_dir, {**base, "head": "l2svm", "l2": l2,
                                             "epochs": l2svm_epochs})
    with _io.atomic_path(l2svm_dir / "head.keras") as tmp:
        head.save(tmp)
    runs["l2svm"] = (Run(l2svm_dir, _io.read_json(l2svm_dir / "config.json"), network.model,
                         feature_head=head), l2svm_seconds)

    svc = heads.make_svc(svc_kind, C=svc_c, random_state=seed)
    start = time.perf_counter()
    svc.fit(f_train, y_train)
    svc_seconds = time.perf_counter() - start
    svc_dir = _head_run_dir(out, net_dir, {**base, "head": "svc", "svc_kind": svc_kind,
                                           "svc_c": svc_c, **svc.named_steps["svc"].get_params()})
    heads.save_svc(svc, svc_dir / "svc_head.json")
    runs["svc"] = (Run(svc_dir, _io.read_json(svc_dir / "config.json"), network.model, svc=svc),
                   svc_seconds)

    rows = []
    for name in HEAD_ORDER:
        run, seconds = runs[name]
        metrics = evaluate_run(run, dataset=dataset)
        rows.append({"head": name, "trained_on": _TRAINED_ON[name],
                     "fit_seconds": round(seconds, 1), "run_dir": str(run.run_dir),
                     "metrics": metrics})
    compare_dir = make_run_dir(out, "compare", "heads")
    table = format_table(rows)
    markdown = _markdown(rows, table, compare_dir, data_path, extract_seconds)
    _io.write_text(compare_dir / "comparison.md", markdown)
    _io.write_json(compare_dir / "comparison.json",
                   {"data": data_path, "network_run": str(net_dir), "epochs": epochs,
                    "seed": seed, "feature_extraction_seconds": round(extract_seconds, 1),
                    "rows": rows, "versions": library_versions()})
    return {"rows": rows, "markdown": compare_dir / "comparison.md", "table": table}


def _is_sample(path) -> bool:
    try:
        return Path(path).resolve() == data.sample_path().resolve()
    except FileNotFoundError:
        return False


def _prepared(images):
    # Un-augmented, un-equalised batches: compare trains its network with the default preprocessing.
    return pipeline.make_dataset(images, batch_size=256)


def _head_run_dir(out, net_dir: Path, config: dict) -> Path:
    run_dir = make_run_dir(out, config["model"], config["head"])
    config["features_from"] = os.path.relpath(net_dir, run_dir)
    _io.write_json(run_dir / "config.json", {**config, "run_dir": str(run_dir),
                                             "versions": library_versions()})
    return run_dir


def format_table(rows: list[dict]) -> str:
    """The comparison as a markdown table: accuracy and macro-F1 per split, fit time, run dir."""
    splits = list(rows[0]["metrics"])
    header = ["head", "trained on"] + [f"{s} {m}" for s in splits for m in ("acc.", "macro-F1")]
    header += ["fit time (s)", "run directory"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in rows:
        cells = [row["head"], row["trained_on"]]
        for split in splits:
            m = row["metrics"][split]
            cells += [f"{100 * m['accuracy']:.2f}%", f"{m['macro_f1']:.3f}"]
        cells += [f"{row['fit_seconds']:.1f}", f"`{row['run_dir']}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _markdown(rows, table, compare_dir: Path, data_path, extract_seconds) -> str:
    parts = [f"# Softmax vs L2-SVM vs SVC on shared shallow-CNN features\n\nData: `{data_path}`. "
             f"Feature extraction (once, shared by the SVM heads): {extract_seconds:.1f} s. "
             "Fit time: the whole network for softmax, the head alone for the SVMs.", table,
             SHARED]
    for row in rows:
        for split, m in row["metrics"].items():
            figure = Path(row["run_dir"]) / f"confusion_{split}.png"
            link = os.path.relpath(figure, compare_dir)
            parts.append(f"## {row['head']} — {split} (accuracy {100 * m['accuracy']:.2f}%)\n\n"
                         f"![confusion matrix]({link})\n\n" + _matrix_table(m["confusion_matrix"]))
    return "\n\n".join(parts) + "\n"


def _matrix_table(matrix) -> str:
    lines = ["| true \\ predicted | " + " | ".join(CLASS_NAMES) + " |",
             "|---|" + "---:|" * len(CLASS_NAMES)]
    lines += [f"| {name} | " + " | ".join(str(v) for v in row) + " |"
              for name, row in zip(CLASS_NAMES, matrix)]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_keras.compare",
                                description=__doc__.split("\n")[0])
    p.add_argument("--data", help="FER2013 CSV or PNG tree (default: dataset/fer2013.csv if "
                                  "present, else the embedded sample)")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help=f"network epochs (default {DEFAULT_EPOCHS})")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"network batch size (default {DEFAULT_BATCH_SIZE})")
    p.add_argument("--out", default="models", help="parent folder of the runs (default models)")
    p.add_argument("--mixed-precision", action="store_true",
                   help="train the network in mixed_bfloat16 (faster on CPUs with AVX512-BF16)")
    p.add_argument("--schedule", choices=("plateau", "cosine"), default="plateau",
                   help="learning-rate schedule of the network (default plateau)")
    p.add_argument("--seed", type=int, default=0, help="seed for everything (default 0)")
    p.add_argument("--subset", type=float, default=1.0, help="fraction of Training (default 1)")
    p.add_argument("--svc-kind", choices=heads.SVC_KINDS, default="svc",
                   help="RBF SVC or LinearSVC (default svc)")
    p.add_argument("--svc-c", type=float, default=1.0, help="SVC C (default 1.0)")
    p.add_argument("--max-minutes", type=float,
                   help=f"time budget for the network training (default {SAMPLE_BUDGET_MINUTES} "
                        "on the embedded sample, none otherwise)")
    p.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2],
                   help="Keras fit verbosity (default 2: one line per epoch)")
    p.add_argument("--strategy", choices=distribute.STRATEGIES, default="auto",
                   help="network training on several GPUs or machines (default auto)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    result = compare(args.data, epochs=args.epochs, batch_size=args.batch_size, out=args.out,
                     seed=args.seed, subset=args.subset, svc_kind=args.svc_kind, svc_c=args.svc_c,
                     max_minutes=args.max_minutes, verbose=args.verbose,
                     mixed_precision=args.mixed_precision, schedule=args.schedule,
                     strategy=args.strategy)
    print(result["table"])
    print(f"\nWritten: {result['markdown']}")
    return 0

