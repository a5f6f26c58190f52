# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · The VGG of Khaireddin & Chen, and their optimizer x schedule search
#
# Khaireddin & Chen (2021) reach 73.28% on FER2013's PrivateTest with a plain VGG (four stages of
# two 3x3 convs, two 4096-wide dense layers) trained on 40x40 crops, after comparing optimizers
# and learning-rate schedules on it. We train the `vgg_fer` recipe (its CPU schedule), then run
# that comparison: one whole training run per optimizer x schedule pair, all from the same seed
# and settings, each scored by the PublicTest accuracy of its best epoch. KerasTuner's grid search
# drives the pairs, so a search that is stopped continues where it was when it is run again.
#
# **Runtime on 2 CPU cores:** about a minute in quick mode (a tiny `vgg_fer`, one epoch, a tenth
# of the embedded sample, a 2 x 2 grid), longer on a busy machine. Not measured on the full data:
# the recipe's CPU schedule stops after 25 minutes, and the search runs 30 trials of at most
# `MINUTES_PER_TRIAL` (15) minutes each, so plan on about 8 hours, a night. Run the search from a
# shell, where a killed search continues when the command is repeated:
# `python -m fer_keras.search --recipe vgg_fer --cpu --epochs-per-trial 10 --max-minutes 15`;
# this notebook then finds its finished trials in `models/search_vgg_fer/` instead of training
# them again.

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import pandas as pd

from fer_keras import load_dataset, read_run, recipe_config, train
from fer_keras.data import dataset_dir, default_data_path, sample_path
from fer_keras.evaluation import plot_confusion_matrix
from fer_keras.experiments import grid_search
from fer_keras.experiments.search_settings import (
    DEFAULT_OPTIMIZERS,
    DEFAULT_SCHEDULES,
    QUICK_MODEL_OPTIONS,
)
from fer_keras.explain import plot_training_curves
from fer_keras.models import build_model

QUICK = os.environ.get("FER_KERAS_QUICK") == "1"  # CI runs every notebook in this mode
SEED = 0
DATA = sample_path() if QUICK else default_data_path()
RECIPE = recipe_config("vgg_fer", cpu=True)
if QUICK:  # a tiny vgg_fer for one epoch on a tenth of the sample, and a 2 x 2 grid
    TRAIN_OVERRIDES = dict(epochs=1, subset=0.1, model_options=QUICK_MODEL_OPTIONS["vgg_fer"],
                           verbose=0)
    OPTIMIZERS, SCHEDULES = ["sgd_nesterov", "adam"], ["plateau", "onecycle"]
    EPOCHS_PER_TRIAL, MINUTES_PER_TRIAL = None, None  # --quick's single epoch
else:
    TRAIN_OVERRIDES = dict(verbose=2)
    OPTIMIZERS, SCHEDULES = list(DEFAULT_OPTIMIZERS), list(DEFAULT_SCHEDULES)
    EPOCHS_PER_TRIAL, MINUTES_PER_TRIAL = 10, 15
# Quick mode writes into a temporary folder so CI leaves models/ alone.
OUT = Path(tempfile.mkdtemp(prefix="fer_keras_06_")) if QUICK else dataset_dir().parent / "models"
{k: RECIPE[k] for k in ("optimizer", "learning_rate", "schedule", "epochs", "crop", "tta")}

# %% [markdown]
# ## Data
#
# Training trains, PublicTest picks each run's best epoch and compares the runs; PrivateTest is
# not read here (`python -m fer_keras.evaluate RUN` reports it).

# %%
dataset = load_dataset(DATA)
{split: images.shape for split, (images, _) in dataset.items()}

# %% [markdown]
# ## Model
#
# `vgg_fer` takes the recipe's 40x40 crops of the raw 48x48 faces. Most of its weights are in the
# two dense layers.

# %%
options = TRAIN_OVERRIDES.get("model_options", RECIPE["model_options"])
model = build_model("vgg_fer", input_shape=(RECIPE["crop"], RECIPE["crop"], 1), **options)
pd.DataFrame([{"layer": layer.name, "output": str(layer.output.shape),
               "parameters": layer.count_params()}
              for layer in model.layers if layer.count_params()])

# %% [markdown]
# ## Train
#
# The recipe as `python -m fer_keras.train --recipe vgg_fer --cpu` runs it: its own run
# directory with the config, the history and the best checkpoint on PublicTest.

# %%
run_dir = train(RECIPE, dataset=dataset, data=str(DATA), out=str(OUT), seed=SEED,
                **TRAIN_OVERRIDES)
run_dir

# %% [markdown]
# ## Evaluate
#
# PublicTest accuracy of the best epoch (with the recipe's ten-crop test-time augmentation), and
# its confusion matrix (rows: true class; right: normalised per row).

# %%
metrics = read_run(run_dir).metrics
{"PublicTest accuracy": round(metrics["PublicTest"]["accuracy"], 4),
 "best epoch": metrics["best_epoch"] + 1, "training seconds": metrics["fit_seconds"]}

# %%
plot_confusion_matrix(metrics["PublicTest"]["confusion_matrix"],
                      title=f"vgg_fer on PublicTest ({metrics['tta']} TTA)")

# %%
plot_training_curves(run_dir)

# %% [markdown]
# ## The optimizer x schedule search
#
# Every trial is the recipe's run with another optimizer, schedule and learning rate (SGD 0.01,
# the Adam family 1e-3: `fer_keras.experiments.search_settings.LEARNING_RATES`), early stopping
# off so that each schedule runs its whole length.
# Trials already finished under `OUT` are not trained again.

# %%
result = grid_search(optimizers=OPTIMIZERS, schedules=SCHEDULES, config=RECIPE,
                     quick=QUICK, epochs_per_trial=EPOCHS_PER_TRIAL,
                     minutes_per_trial=MINUTES_PER_TRIAL, data_path=DATA, dataset=dataset,
                     out=OUT, seed=SEED, verbose=0 if QUICK else 2)
result["dir"]

# %% [markdown]
# The trials, best PublicTest accuracy first (`results.md` and `results.csv` in the search
# folder hold the same table).

# %%
pd.DataFrame(result["rows"]).drop(columns="run_dir").round(4)

# %% [markdown]
# ## Visualise
#
# PublicTest accuracy of every pair: optimizers in rows, schedules in columns.

# %%
result["figure"]

# %% [markdown]
# ## Takeaways
#
# - Every pair trains from the same seed, data and epochs, so a row differs from another only by
#   its optimizer, schedule and learning rate; one seed per pair still leaves run-to-run noise,
#   so treat close cells as ties.
# - The learning rate is fixed per optimizer, not tuned per pair: a pair that loses may only have
#   had the wrong learning rate for its schedule.
# - In quick mode the models are barely trained and the numbers are noise; the full search's table
#   belongs in the README's results with its search folder.
