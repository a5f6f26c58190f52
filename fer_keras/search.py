"""Optimizer x learning-rate schedule grid search (Khaireddin & Chen 2021), driven by KerasTuner.

``python -m fer_keras.search --model vgg_fer --epochs-per-trial 20`` trains one whole
:func:`fer_keras.train.train` run per optimizer x schedule pair and writes, under
``models/search_vgg_fer/`` (``--out``/``--name``):

- ``trial_NN/<model>_<head>_<timestamp>/``: each trial's own run directory (config, history,
  ``best.keras`` chosen on PublicTest, ``metrics.json``), which ``python -m fer_keras.evaluate``
  reads like any run;
- ``results.csv``, ``results.md`` (best PublicTest accuracy first) and ``heatmap.png`` (optimizer
  rows x schedule columns), rewritten after every trial;
- ``search.json`` (the search's settings) and KerasTuner's own state (``oracle.json``,
  ``tuner0.json``, ``trial_NN/trial.json``).

Every trial starts from the same config and seed (:data:`fer_keras.train.DEFAULTS`, or a recipe's
settings with ``--recipe``) and differs only in optimizer, schedule and that optimizer's learning
rate (:data:`LEARNING_RATES`, ``--learning-rates``). Early stopping is off (patience = epochs), so
each schedule runs its whole length; ``--minutes-per-trial`` caps a trial's training time.

Resuming: rerun the same command. KerasTuner reloads the project (``overwrite=False``), so
finished trials are not trained again, and a trial whose process was killed is run again under
the same trial id: its run directory continues from its last finished epoch through
:func:`fer_keras.train.resume` (a run directory killed before it wrote ``config.json`` holds
nothing; it is deleted and the trial starts a new run). A trial whose training raised an error is
recorded as failed and not retried. The same ``--name`` with other settings is refused.

Reference:
    Y. Khaireddin, Z. Chen, "Facial Emotion Recognition: State of the Art Performance on
    FER2013", arXiv:2105.03588, 2021 (section 4: optimizers and learning-rate schedulers).
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import math
import os
import shutil
from functools import cmp_to_key
from pathlib import Path

import keras
import keras_tuner

from fer_keras import VAL_SPLIT, _io, data, recipes, train
from fer_keras.fitting import OPTIMIZERS
from fer_keras.metrics import save_figure
from fer_keras.models import list_models
from fer_keras.plots import plot_search_heatmap
from fer_keras.resume import RunBusyError
from fer_keras.runs import library_versions
from fer_keras.schedules import SCHEDULES

__all__ = ["COLUMNS", "DEFAULT_OPTIMIZERS", "DEFAULT_SCHEDULES", "LEARNING_RATES",
           "SearchSettingsError", "build_parser", "default_name", "format_table", "main",
           "make_settings", "read_results", "search", "trial_config", "write_results"]

DEFAULT_OPTIMIZERS = ("sgd", "sgd_nesterov", "adam", "adamw", "adagrad", "rmsprop")
DEFAULT_SCHEDULES = ("constant", "step", "plateau", "cosine", "onecycle")
#: Learning rate of each optimizer: the usual starting points (SGD with momentum 0.9 at 0.01, the
#: ``vgg_fer`` recipe's rate; the Adam family and RMSprop at Keras's 1e-3; Adagrad at 0.01, since
#: its effective rate only ever decays).
LEARNING_RATES = {"sgd": 0.01, "sgd_nesterov": 0.01, "adam": 1e-3, "adamw": 1e-3,
                  "adagrad": 0.01, "rmsprop": 1e-3}
DEFAULT_MODEL = "vgg_fer"
DEFAULT_EPOCHS = 20
#: ``--quick``: one epoch of a tiny model on a tenth of Training, for notebooks and tests.
QUICK_EPOCHS = 1
QUICK_SUBSET = 0.1
QUICK_MODEL_OPTIONS = {"vgg_fer": {"stackwise_num_filters": [8, 16], "fc_units": 32},
                       "shallow_cnn": {"filters": [8, 16], "dense_units": 16}}
OBJECTIVE = keras_tuner.Objective("val_accuracy", direction="max")
COLUMNS = ("optimizer", "schedule", "learning_rate", "PublicTest_accuracy", "best_epoch",
           "epochs", "seconds", "status", "run_dir")


class SearchSettingsError(ValueError):
    """Settings that cannot run: an unknown name, a bad value, or another search's directory."""


def make_settings(model: str | None = None, optimizers=DEFAULT_OPTIMIZERS,
                  schedules=DEFAULT_SCHEDULES, *, epochs_per_trial: int | None = None,
                  minutes_per_trial: float | None = None, learning_rates: dict | None = None,
                  data_path=None, seed: int = 0, subset: float | None = None,
                  model_options: dict | None = None, recipe: str | None = None,
                  cpu: bool = False, quick: bool = False) -> dict:
    """The validated, JSON-ready settings of a search (see :func:`search` for the arguments).

    Raises:
        SearchSettingsError: an unknown optimizer, schedule, model, recipe or model option, a
            repeated name, or a learning rate that is not a positive number.
    """
    optimizers, schedules = _names(optimizers, OPTIMIZERS, "optimizer"), _names(
        schedules, SCHEDULES, "schedule")
    rates = {**LEARNING_RATES, **(learning_rates or {})}
    unknown = sorted(set(rates) - set(OPTIMIZERS))
    if unknown:
        raise SearchSettingsError(f"Unknown optimizer {unknown[0]!r} in the learning rates. "
                                  f"Accepted values: {', '.join(OPTIMIZERS)}.")
    for name, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise SearchSettingsError(f"The learning rate of {name} must be a positive number. "
                                      f"Received: {rate!r}")
    try:
        base = recipes.recipe_config(recipe, cpu=cpu) if recipe else {}
    except ValueError as err:
        raise SearchSettingsError(str(err)) from None
    model = model or base.get("model", DEFAULT_MODEL)
    options = {**(base.get("model_options") or {}),
               **(QUICK_MODEL_OPTIONS.get(model, {}) if quick else {}), **(model_options or {})}
    settings = {
        "model": model, "optimizers": optimizers, "schedules": schedules,
        "learning_rates": {name: float(rates[name]) for name in optimizers},
        "epochs_per_trial": (QUICK_EPOCHS if quick else DEFAULT_EPOCHS) if epochs_per_trial is None
        else epochs_per_trial,
        "minutes_per_trial": minutes_per_trial,
        "data": str(Path(data_path or data.default_data_path()).resolve()), "seed": seed,
        "subset": (QUICK_SUBSET if quick else 1.0) if subset is None else subset,
        "model_options": options,
        "recipe": recipe, "cpu": cpu, "quick": quick}
    try:  # every trial's config must resolve before the first one trains
        for optimizer in optimizers:
            train.resolve_config(trial_config(settings, optimizer, schedules[0]))
    except ValueError as err:
        raise SearchSettingsError(str(err)) from None
    return json.loads(json.dumps(settings))  # as search.json holds it: lists, not tuples


def trial_config(settings: dict, optimizer: str, schedule: str, **overrides) -> dict:
    """The :func:`fer_keras.train.train` config of one trial of the search ``settings``."""
    base = recipes.recipe_config(settings["recipe"], cpu=settings["cpu"]) if (
        settings["recipe"]) else {}
    epochs = settings["epochs_per_trial"]
    return {**base, "model": settings["model"], "data": settings["data"],
            "seed": settings["seed"], "subset": settings["subset"],
            "model_options": settings["model_options"], "epochs": epochs,
            "max_minutes": settings["minutes_per_trial"], "early_stopping_patience": epochs,
            "optimizer": optimizer, "schedule": schedule,
            # SGD trials keep the default momentum whatever the recipe says (vgg16_nin's is 0)
            "momentum": train.DEFAULTS["momentum"],
            "learning_rate": settings["learning_rates"][optimizer], **overrides}


def _names(names, accepted, kind) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if name not in accepted:
            raise SearchSettingsError(f"Unknown {kind} {name!r}. Accepted values: "
                                      f"{', '.join(accepted)}.")
    if not names or len(set(names)) < len(names):
        raise SearchSettingsError(f"Give each {kind} once, at least one. Received: {names}")
    return names


def default_name(settings: dict) -> str:
    """``search_<model>``, with ``_quick`` for a quick search."""
    return f"search_{settings['model']}" + ("_quick" if settings["quick"] else "")


class _GridTuner(keras_tuner.GridSearch):
    """GridSearch whose trial is a whole fer_keras training run, scored on PublicTest."""

    def __init__(self, settings: dict, verbose: int, **kwargs):
        space = keras_tuner.HyperParameters()
        space.Choice("optimizer", settings["optimizers"])
        space.Choice("schedule", settings["schedules"])
        self.settings, self.verbose = settings, verbose
        super().__init__(objective=OBJECTIVE, hyperparameters=space, allow_new_entries=False,
                         tune_new_entries=False, seed=settings["seed"],
                         max_trials=len(settings["optimizers"]) * len(settings["schedules"]),
                         overwrite=False, **kwargs)
        self.oracle.verbose = 0  # its display clears notebook cells; run_trial prints a line

    def reload(self):
        super().reload()
        _restore_grid_order(self.oracle)

    def on_search_begin(self):
        # Saved now, not only after the first trial, so that a kill during the first trial is
        # reloaded (and its run resumed) like any other.
        self.save()

    def run_trial(self, trial, dataset):
        hp = trial.hyperparameters
        optimizer, schedule = hp.get("optimizer"), hp.get("schedule")
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        print(f"trial {trial.trial_id}: {optimizer} (learning rate "
              f"{self.settings['learning_rates'][optimizer]:g}) with {schedule} schedule")
        keras.backend.clear_session()
        gc.collect()
        run_dir = _trial_run(trial_dir)
        if run_dir is None:
            run_dir = train.train(trial_config(self.settings, optimizer, schedule,
                                               out=str(trial_dir), verbose=self.verbose),
                                  dataset=dataset)
        else:
            try:
                run_dir = train.resume(run_dir, dataset=dataset)
            except RunBusyError as err:
                raise keras_tuner.errors.FatalError(f"{err}; is this search running in another "
                                                    "process?") from None
        accuracy = _io.read_json(run_dir / "metrics.json")[VAL_SPLIT]["accuracy"]
        print(f"trial {trial.trial_id}: {VAL_SPLIT} accuracy {accuracy:.4f} ({run_dir})")
        return {OBJECTIVE.name: accuracy}

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if trial.message:
            print(f"trial {trial.trial_id} failed:\n{trial.message}")
        write_results(Path(self.project_dir), self.settings)


def _restore_grid_order(oracle) -> None:
    # keras-tuner 1.4.8 (issue #1055) does not save GridSearchOracle's order of the tried
    # combinations, so a reloaded search stops or raises KeyError after one trial. The order is
    # the trials sorted by their values, and every trial may still lead to an untried one.
    if not hasattr(oracle, "_ordered_ids"):
        return
    ids = [i for i in oracle.start_order if i in oracle.trials]
    ids.sort(key=cmp_to_key(lambda a, b: oracle._compare(oracle.trials[a].hyperparameters.values,
                                                         oracle.trials[b].hyperparameters.values)))
    oracle._ordered_ids = type(oracle._ordered_ids)()
    for trial_id in ids:
        oracle._ordered_ids.insert(trial_id)
    oracle._populate_next = list(ids)


def _trial_run(trial_dir: Path) -> Path | None:
    """The trial's run directory from an earlier process, if any."""
    runs = []
    for path in sorted(p for p in trial_dir.iterdir() if p.is_dir()):
        if (path / "config.json").is_file():
            runs.append(path)
        else:  # killed before the run wrote its config: nothing to resume
            shutil.rmtree(path)
    return runs[-1] if runs else None


def search(model: str | None = None, optimizers=DEFAULT_OPTIMIZERS, schedules=DEFAULT_SCHEDULES,
           *, epochs_per_trial: int | None = None, minutes_per_trial: float | None = None,
           learning_rates: dict | None = None, data_path=None, out: str | os.PathLike = "models",
           name: str | None = None, seed: int = 0, subset: float | None = None,
           model_options: dict | None = None, recipe: str | None = None, cpu: bool = False,
           quick: bool = False, verbose: int = 2, dataset: dict | None = None) -> dict:
    """Train every optimizer x schedule pair (or continue the search); returns its results.

    Args:
        model: registered model (default: the recipe's, else ``vgg_fer``).
        optimizers, schedules: names from :data:`fer_keras.fitting.OPTIMIZERS` and ``SCHEDULES``;
            their order is the order of the heat map's rows and columns.
        epochs_per_trial: epochs of every trial (default 20; 1 with ``quick``).
        minutes_per_trial: training-time budget of every trial (default none).
        learning_rates: ``{optimizer: learning rate}`` overriding :data:`LEARNING_RATES`.
        data_path: FER2013 CSV or PNG tree (default ``dataset/fer2013.csv``, else the sample);
            recorded as an absolute path, so a notebook and a shell continue the same search.
        out, name: the search directory is ``out/name`` (default name ``search_<model>``).
        seed: seed of every trial.
        subset: stratified fraction of Training (default 1; 0.1 with ``quick``).
        model_options: builder options (over the recipe's and ``quick``'s).
        recipe, cpu: start every trial from this recipe's settings (``cpu``: its CPU schedule).
        quick: tiny model, one epoch, a tenth of Training: for notebooks and tests.
        verbose: Keras fit verbosity of the trials.
        dataset: already loaded data (``data_path`` is then only recorded).

    Returns:
        ``{"dir", "rows", "table", "figure"}``: the search directory, one row per finished or
        interrupted trial (best first, see :func:`read_results`), the markdown table and the
        heat map.

    Raises:
        SearchSettingsError: see :func:`make_settings`; or ``out/name`` holds a search with other
            settings.

    Example:
        >>> result = search("shallow_cnn", ["sgd", "adam"], ["constant", "cosine"], quick=True)
        >>> print(result["table"])
    """
    settings = make_settings(model, optimizers, schedules, epochs_per_trial=epochs_per_trial,
                             minutes_per_trial=minutes_per_trial, learning_rates=learning_rates,
                             data_path=data_path, seed=seed, subset=subset,
                             model_options=model_options, recipe=recipe, cpu=cpu, quick=quick)
    name = name or default_name(settings)
    search_dir = Path(out) / name
    _claim(search_dir, settings)
    dataset = dataset if dataset is not None else data.load_dataset(settings["data"])
    tuner = _GridTuner(settings, verbose, directory=str(out), project_name=name)
    tuner.search(dataset=dataset)
    rows, figure = write_results(search_dir, settings)
    return {"dir": search_dir, "rows": rows, "table": format_table(rows), "figure": figure}


def _claim(search_dir: Path, settings: dict) -> None:
    path = search_dir / "search.json"
    if path.is_file():
        saved = _io.read_json(path)["settings"]
        changed = [f"{key}: {saved.get(key)!r} → {settings.get(key)!r}"
                   for key in {**saved, **settings} if saved.get(key) != settings.get(key)]
        if changed:
            raise SearchSettingsError(
                f"{search_dir} holds a search with other settings ({'; '.join(changed)}). Rerun "
                "it with its own settings to continue it, or give another --name.")
        return
    _io.write_json(path, {"settings": settings, "versions": library_versions()})


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
    for config_path in sorted(search_dir.glob("trial_*/*/config.json")):
        config = _io.read_json(config_path)
        runs[(config["optimizer"], config["schedule"])] = (config_path.parent, config)
    rows = []
    for key in grid:
        if key not in runs:
            continue
        run_dir, config = runs[key]
        metrics_path = run_dir / "metrics.json"
        metrics = _io.read_json(metrics_path) if config.get("status") == "finished" and (
            metrics_path.is_file()) else None
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
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for r in rows:
        done = r["PublicTest_accuracy"] is not None
        cells = [r["optimizer"], r["schedule"], f"{r['learning_rate']:g}",
                 f"{100 * r['PublicTest_accuracy']:.2f}%" if done else "–",
                 str(r["best_epoch"]) if done else "–", str(r["epochs"]) if done else "–",
                 f"{r['seconds']:.1f}" if done else "–", r["status"], f"`{r['run_dir']}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _comma_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_keras.search",
                                description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=list_models(),
                   help=f"model (default: the recipe's, else {DEFAULT_MODEL})")
    p.add_argument("--optimizers", type=_comma_list, default=list(DEFAULT_OPTIMIZERS),
                   help=f"comma-separated, from {', '.join(OPTIMIZERS)} (default all: "
                        f"{','.join(DEFAULT_OPTIMIZERS)})")
    p.add_argument("--schedules", type=_comma_list, default=list(DEFAULT_SCHEDULES),
                   help=f"comma-separated, from {', '.join(SCHEDULES)} (default all: "
                        f"{','.join(DEFAULT_SCHEDULES)})")
    p.add_argument("--epochs-per-trial", type=int,
                   help=f"default {DEFAULT_EPOCHS} ({QUICK_EPOCHS} with --quick)")
    p.add_argument("--minutes-per-trial", type=float, help="training-time budget of each trial "
                   "(default none)")
    p.add_argument("--learning-rates", type=_json_object, help="JSON {optimizer: learning rate} "
                   f"over the defaults {json.dumps(LEARNING_RATES)}")
    p.add_argument("--data", help="FER2013 CSV or PNG tree (default dataset/fer2013.csv, else "
                                  "the embedded sample)")
    p.add_argument("--out", default="models", help="parent folder of the search (default models)")
    p.add_argument("--name", help="search directory name (default search_<model>, plus _quick "
                                  "with --quick); rerun with the same name to continue")
    p.add_argument("--seed", type=int, default=0, help="seed of every trial (default 0)")
    p.add_argument("--subset", type=float, help="stratified fraction of Training (default 1; "
                   f"{QUICK_SUBSET} with --quick)")
    p.add_argument("--model-options", type=_json_object, help="builder options as JSON, e.g. "
                   "'{\"fc_units\": 1024}'")
    p.add_argument("--recipe", choices=recipes.list_recipes(), help="start every trial from this "
                   "recipe's settings (optimizer, schedule, learning rate, epochs and time budget "
                   "come from the search)")
    p.add_argument("--cpu", action="store_true", help="with --recipe: its CPU settings")
    p.add_argument("--quick", action="store_true", help=f"tiny model options, {QUICK_EPOCHS} "
                   f"epoch, {QUICK_SUBSET} of Training: a smoke test")
    p.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2],
                   help="Keras fit verbosity of the trials (default 2)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cpu and not args.recipe:
        parser.error("--cpu selects a recipe's CPU settings; give --recipe NAME too")
    try:
        result = search(args.model, args.optimizers, args.schedules,
                        epochs_per_trial=args.epochs_per_trial,
                        minutes_per_trial=args.minutes_per_trial,
                        learning_rates=args.learning_rates, data_path=args.data, out=args.out,
                        name=args.name, seed=args.seed, subset=args.subset,
                        model_options=args.model_options, recipe=args.recipe, cpu=args.cpu,
                        quick=args.quick, verbose=args.verbose)
    except SearchSettingsError as err:
        parser.error(str(err))
    print(result["table"])
    print(f"\nWritten: {result['dir'] / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
