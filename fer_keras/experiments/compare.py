"""The main job: one network, then softmax, L2-SVM, RBF SVC and LinearSVC heads on its features.

``fer-keras compare`` (= ``python -m fer_keras.compare``) trains one network from a base config —
the ``cpu_fast`` recipe unless ``--recipe``/``--config`` say otherwise (``--set`` changes single
keys) — on ``dataset/fer2013.csv`` when present, else on the embedded sample (where the network
gets batch 32 and a ``SAMPLE_BUDGET_MINUTES`` budget, so the whole job ends within five minutes on
2 CPU cores).
``--model MODEL`` (the ``backbone`` argument) skips the training and uses a finished softmax run
or a packaged model.

What is shared, exactly: the network's 256-d ``"features"`` layer (after the last dense → batch
norm → ReLU, before dropout), computed in inference mode on un-augmented center views, is the
input of every SVM head; the softmax head is the network's own layer, trained jointly with the
features on augmented images. The L2-SVM (squared hinge + L2, Tang 2013; epoch chosen on
PublicTest), the RBF SVC and the LinearSVC (both after ``StandardScaler``) are fitted on the
frozen Training features. Every head is reported without test-time augmentation and with the
network's own (a flip for ``cpu_fast``): an SVM averages its decision values over the views as
the softmax averages probabilities. Each head gets a run directory (``fer-keras evaluate`` gives
the same figures), and the table goes to ``<out>/compare_heads_<timestamp>/comparison.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fer_keras import TRAIN_SPLIT, VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.data.ferplus import default_ferplus_path, ferplus_labels
from fer_keras.evaluation.evaluate import EVALUATION_SPLITS
from fer_keras.evaluation.metrics import label_set_metrics, own_label_set, save_confusion_figure
from fer_keras.evaluation.run_dir import load_run
from fer_keras.evaluation.run_files import library_versions, make_run_dir, write_config
from fer_keras.evaluation.tables import confusion_table, markdown_table
from fer_keras.experiments import compare_heads as ch
from fer_keras.experiments.compare_settings import HEADS, TRAINED_ON
from fer_keras.models.heads import save_svc
from fer_keras.models.names import FEATURE_LAYER
from fer_keras.training.recipes import recipe_config
from fer_keras.training.train import resolve_config, train

#: The base config when none is given: the recipe of the packaged model.
DEFAULT_RECIPE = "cpu_fast"
#: The network's time budget on the embedded sample, unless one is given: the README's first
#: command ends within five minutes even on a slow machine. The one-cycle schedule runs on this
#: clock and early stopping is off in ``cpu_fast``, so the network anneals fully in the budget.
SAMPLE_BUDGET_MINUTES = 3.5
#: The default recipe's changes on the embedded sample (1,200 Training faces): batch 32 gives its
#: one-cycle schedule twice the updates per minute, which matters where the clock allows few
#: epochs. Softmax head, sample PublicTest, one run each alone on 2 cores (2026-12-03): with the
#: 3.5-minute budget 51.6% at batch 32 and 51.6% at 64 (macro-F1 0.48, 0.42); with 1.5 minutes,
#: as on a machine 2.3x slower, 44.1% against 36.7% (macro-F1 0.34, 0.24).
SAMPLE_SETTINGS = {"batch_size": 32}
#: Keys of the network's config a head's run directory repeats (evaluate reads them).
_INHERITED = ("model", "data", "seed", "subset", "equalize", "crop", "tta", "merge_disgust",
              "contempt", "feature_layer", "recipe", "labels", "ferplus")


def compare(data_path=None, *, config: dict | None = None, backbone=None,
            out: str | os.PathLike = "models", heads: tuple = HEADS, tta: str | None = None,
            max_minutes: float | None = None, svc_c: float = 1.0, l2: float = 1e-4,
            l2svm_epochs: int = 100, dataset: dict | None = None) -> dict:
    """Train (or take) one network, fit the heads on its features, score every head.

    Args:
        data_path: FER2013 CSV or PNG tree (default ``dataset/fer2013.csv``, else the sample).
        config: the network's base train config, partial (default the ``cpu_fast`` recipe);
            its head is softmax whatever it says, its ``seed`` seeds the heads too.
        backbone: a finished softmax run directory or packaged model name instead of training.
        out: parent folder of the run directories and of the comparison folder.
        heads: the heads to fit, from :data:`~fer_keras.experiments.compare_settings.HEADS`.
        tta: test-time augmentation reported besides none (default the network's own).
        max_minutes: the network's time budget (default: the config's;
            :data:`SAMPLE_BUDGET_MINUTES` on the embedded sample).
        svc_c: ``C`` of the RBF SVC and the LinearSVC.
        l2, l2svm_epochs: the L2-SVM's penalty and epoch cap.
        dataset: already loaded data (``data_path`` is then only recorded).

    Returns:
        ``{"rows", "table", "markdown", "network_run"}``; one row per head and TTA mode.
    """
    unknown = [h for h in heads if h not in HEADS]
    if unknown or not heads:
        raise ValueError(f"Unknown heads {unknown}. Accepted values: {', '.join(HEADS)}.")
    data_path = str(data_path or data.default_data_path())
    dataset = dataset if dataset is not None else data.load_dataset(data_path)
    if VAL_SPLIT not in dataset:
        raise ValueError(f"{data_path}: compare selects on {VAL_SPLIT}; the data has only "
                         f"{', '.join(dataset)}.")
    if backbone is None:
        net_dir = train(network_config(config, data_path, max_minutes, out), dataset=dataset)
    else:
        net_dir = Path(backbone)
    network = load_run(net_dir)
    net_dir = network.run_dir
    if not network.softmax:
        raise ValueError(f"{net_dir}: compare needs a softmax network; this run has the "
                         f"{network.config.get('head')} head.")
    cfg = network.config
    own = network.tta_mode(tta)
    modes = ["none"] + ([own] if own != "none" else [])
    names = network.class_names
    k, seed = len(names), cfg.get("seed", 0)
    own_set = own_label_set(network.label_set)
    fp = ferplus_labels(dataset, data_path, None if network.packaged else cfg.get("ferplus"),
                        required=own_set != "fer2013", merge_disgust=network.merge_disgust,
                        contempt=network.contempt)
    x_all, y_all = data.train_split(dataset)
    keep = data.subset(np.arange(len(y_all)), y_all, cfg.get("subset", 1.0), seed)[0]
    y_all = network.labels(y_all)
    if own_set == "fer2013":
        x_train, y_train = x_all[keep], y_all[keep]
    else:  # an SVM head fits the label the network's FER+ rows have (most voted / majority)
        fp_rows = fp[TRAIN_SPLIT].rows(network.label_set)
        chosen = np.isin(fp_rows, keep)
        x_train = x_all[fp_rows[chosen]]
        y_train = fp[TRAIN_SPLIT].targets(network.label_set, y_all, soft=False)[chosen]
    splits = [s for s in EVALUATION_SPLITS if s in dataset]
    layer = cfg.get("feature_layer", FEATURE_LAYER)

    def outputs(images, mode):
        return ch.view_outputs(network.model, images, mode, equalize=cfg.get("equalize"),
                               layer=layer)

    f_train = outputs(x_train, "none")[0][1]
    val_rows = (np.arange(len(dataset[VAL_SPLIT][1])) if own_set == "fer2013"
                else fp[VAL_SPLIT].rows("ferplus_majority"))
    y_val = (network.labels(dataset[VAL_SPLIT][1]) if own_set == "fer2013"
             else fp[VAL_SPLIT].majority)[val_rows]
    f_val = outputs(dataset[VAL_SPLIT][0][val_rows], "none")[0][1]

    fitted = {"softmax": (None, network.metrics.get("fit_seconds"))}
    if "l2svm" in heads:
        fitted["l2svm"] = ch.fit_l2svm((f_train, y_train), (f_val, y_val), k, l2=l2,
                                       epochs=l2svm_epochs, seed=seed)
    for kind in ("svc", "linear_svc"):
        if kind in heads:
            fitted[kind] = ch.fit_svm(kind, f_train, y_train, C=svc_c, seed=seed)

    compare_dir = make_run_dir(out, "compare", "heads")
    rows = []
    for name in heads:
        head, seconds = fitted[name]
        run_dir = net_dir if name == "softmax" else _save_head(
            out, net_dir, cfg, name, head, {"svc_c": svc_c, "l2": l2, "l2svm_epochs": l2svm_epochs})
        # each head scored by its own run, as evaluate and predict score it
        head_run = network if name == "softmax" else load_run(run_dir, compile=False)
        for mode in modes:
            sets = {s: label_set_metrics(
                head_run.scores(dataset[s][0], tta=mode),
                network.labels(dataset[s][1]), fp[s] if fp else None, names) for s in splits}
            metrics = {s: sets[s][own_set] for s in splits}
            row = {"head": name, "tta": mode, "trained_on": TRAINED_ON[name],
                   "fit_seconds": None if seconds is None else round(seconds, 1),
                   "run_dir": str(run_dir), "metrics": metrics, "labels": own_set,
                   "label_sets": {s: {key: {m: v[m] for m in ("n", "accuracy", "macro_f1")}
                                      for key, v in sets[s].items()} for s in splits}}
            rows.append(row)
            for split, m in metrics.items():
                title = f"{name}, {split}, TTA {mode}: accuracy {m['accuracy']:.3f}"
                save_confusion_figure(m["confusion_matrix"], compare_dir / _figure_name(row, split),
                                      names, title=title)
    table = format_table(rows)
    _io.write_text(compare_dir / "comparison.md",
                   _markdown(rows, table, data_path, net_dir, names))
    _io.write_json(compare_dir / "comparison.json",
                   {"data": data_path, "network_run": str(net_dir), "network_config": cfg,
                    "heads": list(heads), "tta": modes, "rows": rows,
                    "versions": library_versions()})
    return {"rows": rows, "table": table, "markdown": compare_dir / "comparison.md",
            "network_run": net_dir}


def default_config(data_path) -> dict:
    """The base config when none is given: the ``cpu_fast`` recipe, with
    :data:`SAMPLE_SETTINGS` on the embedded sample."""
    return {**recipe_config(DEFAULT_RECIPE), **(SAMPLE_SETTINGS if is_sample(data_path) else {})}


def network_config(config, data_path: str, max_minutes: float | None, out="models"):
    """The network's train config: ``config`` (default :func:`default_config`) with a softmax
    head, the budget of :func:`compare`'s ``max_minutes`` (on the sample, unless given,
    :data:`SAMPLE_BUDGET_MINUTES`), training into ``out``."""
    base = dict(config) if config else default_config(data_path)
    if base.get("ferplus") is None and default_ferplus_path(data_path) is not None:
        base["ferplus"] = str(default_ferplus_path(data_path))  # the whole data: its rows match
    if max_minutes is None and is_sample(data_path):
        max_minutes = SAMPLE_BUDGET_MINUTES
    if max_minutes is not None:
        base["max_minutes"] = max_minutes
    return resolve_config(base, head="softmax", data=data_path, out=str(out))


def is_sample(path) -> bool:
    """Whether ``path`` is the embedded sample."""
    try:
        return Path(path).resolve() == data.sample_path().resolve()
    except FileNotFoundError:
        return False


def _save_head(out, net_dir: Path, net_config: dict, name: str, head, settings: dict) -> Path:
    run_dir = make_run_dir(out, net_config["model"], name)
    config = {k: net_config.get(k) for k in _INHERITED}
    config.update(head="l2svm" if name == "l2svm" else "svc",
                  features_from=os.path.relpath(net_dir, run_dir))
    if name == "l2svm":
        config.update(l2=settings["l2"], epochs=settings["l2svm_epochs"])
        with _io.atomic_path(run_dir / "head.keras") as tmp:
            head.save(tmp)
    else:
        config.update(svc_kind=name, svc_c=settings["svc_c"])
        save_svc(head, run_dir / "svc_head.json")
    write_config(run_dir, {**config, "run_dir": str(run_dir), "versions": library_versions()})
    return run_dir


def _figure_name(row: dict, split: str) -> str:
    return f"confusion_{row['head']}_{split}_tta-{row['tta']}.png"


def format_table(rows: list[dict]) -> str:
    """The comparison as a markdown table: accuracy and macro-F1 per split and label set (FER+
    majority beside FER2013's labels when the data has FER+ labels), fit time, run dir."""
    # A row written before FER+ scoring has its metrics only: FER2013's labels.
    sets_of = [row.get("label_sets") or {s: {"fer2013": m} for s, m in row["metrics"].items()}
               for row in rows]
    columns = [(s, key) for s, sets in sets_of[0].items() for key in sets]
    header = ["head", "trained on", "TTA"] + [
        f"{s}{'' if key == 'fer2013' else ' FER+'} {m}" for s, key in columns
        for m in ("acc.", "macro-F1")]
    cells = []
    for row, sets in zip(rows, sets_of):
        scores = [v for s, key in columns for v in (
            f"{100 * sets[s][key]['accuracy']:.2f}%", f"{sets[s][key]['macro_f1']:.3f}")]
        fit = "–" if row["fit_seconds"] is None else f"{row['fit_seconds']:.1f}"
        cells.append([row["head"], row["trained_on"], row["tta"], *scores, fit,
                      f"`{row['run_dir']}`"])
    return markdown_table(header + ["fit time (s)", "run directory"], cells,
                          "lll" + "rr" * len(columns) + "rl")


def _markdown(rows, table, data_path, net_dir, names) -> str:
    parts = [f"# Softmax vs L2-SVM vs SVC vs LinearSVC on one network's features\n\nData: "
             f"`{data_path}`. Network: `{net_dir}`. Fit time: the whole network for softmax, the "
             "head alone for the others.", table, __doc__.split("\n\n")[2].replace("\n", " ")]
    for row in rows:
        for split, m in row["metrics"].items():
            parts.append(f"## {row['head']}, TTA {row['tta']} — {split} (accuracy "
                         f"{100 * m['accuracy']:.2f}%)\n\n![confusion matrix]"
                         f"({_figure_name(row, split)})\n\n"
                         + confusion_table(m["confusion_matrix"], names))
    return "\n\n".join(parts) + "\n"
