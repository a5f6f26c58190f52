"""Optimizer x learning-rate schedule grid search (Khaireddin & Chen 2021), driven by KerasTuner.

``fer-keras search --arch vgg_fer --epochs-per-trial 20`` trains one whole
:func:`fer_keras.training.train.train` run per optimizer x schedule pair and writes, under
``models/search_vgg_fer/`` (``--out``/``--name``):

- ``trial_NN/<model>_<head>_<timestamp>/``: each trial's own run directory (config, history,
  ``best.keras`` chosen on PublicTest, ``metrics.json``), which ``python -m fer_keras.evaluate``
  reads like any run;
- ``results.csv``, ``results.md`` (best PublicTest accuracy first) and ``heatmap.png`` (optimizer
  rows x schedule columns), rewritten after every trial;
- ``search.json`` (the search's settings) and KerasTuner's own state (``oracle.json``,
  ``tuner0.json``, ``trial_NN/trial.json``).

Every trial starts from the same base config and seed (the defaults, or what ``--recipe``,
``--config`` and ``--set`` give, as for every training command) and differs only in optimizer,
schedule and that optimizer's learning rate (:data:`LEARNING_RATES`, ``--learning-rates``). Early
stopping is off (patience = epochs), so each schedule runs its whole length; ``--max-minutes``
caps a trial's training time.

Resuming: rerun the same command. KerasTuner reloads the project (``overwrite=False``), so
finished trials are not trained again, and a trial whose process was killed is run again under
the same trial id: its run directory continues from its last finished epoch through
:func:`fer_keras.training.train.resume` (a run directory killed before it wrote ``config.json``
holds
nothing; it is deleted and the trial starts a new run). A trial whose training raised an error is
recorded as failed and not retried. The same ``--name`` with other settings is refused.

Reference:
    Y. Khaireddin, Z. Chen, "Facial Emotion Recognition: State of the Art Performance on
    FER2013", arXiv:2105.03588, 2021 (section 4: optimizers and learning-rate schedulers).
"""

from __future__ import annotations

import gc
import os
import shutil
from functools import cmp_to_key
from pathlib import Path

import keras
import keras_tuner

from fer_keras import VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.evaluation.run_files import is_run, library_versions, read_metrics
from fer_keras.experiments.search_results import format_table, read_results, write_results  # noqa: F401
from fer_keras.experiments.search_settings import (  # noqa: F401
    COLUMNS,
    DEFAULT_EPOCHS,
    DEFAULT_MODEL,
    DEFAULT_OPTIMIZERS,
    DEFAULT_SCHEDULES,
    LEARNING_RATES,
    QUICK_EPOCHS,
    QUICK_MODEL_OPTIONS,
    QUICK_SUBSET,
    SearchSettingsError,
    _names,
    default_name,
    make_settings,
    trial_config,
)
from fer_keras.training import train
from fer_keras.training.resume import RunBusyError

__all__ = ["COLUMNS", "DEFAULT_OPTIMIZERS", "DEFAULT_SCHEDULES", "LEARNING_RATES",
           "SearchSettingsError", "default_name", "format_table", "make_settings", "read_results",
           "search", "trial_config", "write_results"]

#: What the tuner maximises: each trial's best PublicTest accuracy.
OBJECTIVE = keras_tuner.Objective("val_accuracy", direction="max")


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
        accuracy = read_metrics(run_dir)[VAL_SPLIT]["accuracy"]
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
        if is_run(path):
            runs.append(path)
        else:  # killed before the run wrote its config: nothing to resume
            shutil.rmtree(path)
    return runs[-1] if runs else None


def search(model: str | None = None, optimizers=DEFAULT_OPTIMIZERS, schedules=DEFAULT_SCHEDULES,
           *, epochs_per_trial: int | None = None, minutes_per_trial: float | None = None,
           learning_rates: dict | None = None, data_path=None, out: str | os.PathLike = "models",
           name: str | None = None, seed: int = 0, subset: float | None = None,
           model_options: dict | None = None, config: dict | None = None,
           quick: bool = False, verbose: int = 2, dataset: dict | None = None) -> dict:
    """Train every optimizer x schedule pair (or continue the search); returns its results.

    Args:
        model: registered model (default: the recipe's, else ``vgg_fer``).
        optimizers, schedules: names from :data:`fer_keras.training.config.OPTIMIZERS` and
            ``SCHEDULES``; their order is the order of the heat map's rows and columns.
        epochs_per_trial: epochs of every trial (default 20; 1 with ``quick``).
        minutes_per_trial: training-time budget of every trial (default none).
        learning_rates: ``{optimizer: learning rate}`` overriding :data:`LEARNING_RATES`.
        data_path: FER2013 CSV or PNG tree (default ``dataset/fer2013.csv``, else the sample);
            recorded as an absolute path, so a notebook and a shell continue the same search.
        out, name: the search directory is ``out/name`` (default name ``search_<model>``).
        seed: seed of every trial.
        subset: stratified fraction of Training (default 1; 0.1 with ``quick``).
        model_options: builder options (over the recipe's and ``quick``'s).
        config: the base config of every trial, partial (e.g. a recipe's); the optimizer,
            schedule, learning rate, epochs and budget come from the search.
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
                             model_options=model_options, config=config, quick=quick)
    name = name or default_name(settings)
    search_dir = Path(out) / name
    # the data first: a broken file must leave no search directory behind
    dataset = dataset if dataset is not None else data.load_dataset(settings["data"])
    _claim(search_dir, settings)
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
