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
# # 04 · The BST261 CNN: how much of Training does it need?
#
# A BST261 (Harvard) course project trained a plain VGG-style CNN (`bst261_cnn`: three blocks of
# three 3x3 convs at 32/64/128 channels, two dense layers, no batch norm) on a fraction of
# FER2013's Training set to save compute, and on six classes (disgust merged into angry). Both
# choices change the numbers, so we measure them: the `bst261` recipe's CPU schedule trained on
# 10%, 25%, 50% and 100% of Training (train's `subset` key, a stratified, seeded fraction), each
# run scored by the PublicTest accuracy of its best epoch and timed; then the six-class variant
# once. Every run trains a fixed number of epochs (no time budget, no early stopping), so its
# training time is proportional to the fraction.
#
# **Runtime on 2 CPU cores:** about 2 minutes in quick mode (a narrower `bst261_cnn`, one epoch, 25%
# and 50% of the embedded sample; measured while the cores were busy). Full mode, on
# `dataset/fer2013.csv`, trains 5 runs of 12 epochs on 10% + 25% + 50% + 100% + 25% of Training: not
# measured yet, estimated at about an hour on 2 CPU cores (from `shallow_cnn`'s measured epoch time,
# scaled by the FLOPs per face). Times are wall-clock, so run it on an otherwise idle machine. Runs
# are kept in `models/bst261_fraction_sweep_<data>/`; running the notebook again reuses the finished
# ones, and continues a killed one from its last finished epoch.

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from fer_keras import class_names, load_dataset, read_run, recipe_config
from fer_keras.data import dataset_dir, default_data_path, merge_disgust, sample_path
from fer_keras.evaluation import plot_confusion_matrix
from fer_keras.experiments import fraction_sweep, plot_fraction_sweep
from fer_keras.explain import plot_training_curves
from fer_keras.models import build_model

QUICK = os.environ.get("FER_KERAS_QUICK") == "1"  # CI runs every notebook in this mode
SEED = 0
DATA = sample_path() if QUICK else default_data_path()
CONFIG = recipe_config("bst261", cpu=True)
# A fixed number of epochs (no time budget, no early stop): fit time then scales with the fraction.
CONFIG.update(seed=SEED, max_minutes=None, early_stopping_patience=CONFIG["epochs"])
if QUICK:  # a narrower bst261_cnn for one epoch on two fractions of the sample
    CONFIG.update(epochs=1, early_stopping_patience=1, batch_size=32, verbose=0,
                  model_options={"filters": [8, 16, 32], "dense_units": [32, 16]})
    FRACTIONS = [0.25, 0.5]
else:
    CONFIG.update(verbose=2)
    FRACTIONS = [0.1, 0.25, 0.5, 1.0]
SIX_CLASS_FRACTION = 0.25  # one of FRACTIONS; the run costs a quarter of a full one
# Quick mode writes into a temporary folder so CI leaves models/ alone; the folder is named after
# the data, so runs on the sample and on the full CSV never mix.
OUT = (Path(tempfile.mkdtemp(prefix="fer_keras_04_")) if QUICK else
       dataset_dir().parent / "models" / f"bst261_fraction_sweep_{DATA.name.split('.')[0]}")
{k: CONFIG[k] for k in ("optimizer", "learning_rate", "schedule", "epochs", "batch_size",
                        "mixed_precision", "augment")}

# %% [markdown]
# ## Data
#
# Training trains (a fraction of it), PublicTest picks each run's best epoch and compares the
# runs; PrivateTest is not read here. The subsets are stratified, so every fraction keeps the
# class proportions of Training (disgust stays at about 1.5%).

# %%
dataset = load_dataset(DATA)
x_train, y_train = dataset["Training"]
y_public = dataset["PublicTest"][1]
pd.DataFrame({"Training": np.bincount(y_train, minlength=7),
              "PublicTest": np.bincount(y_public, minlength=7)}, index=class_names())

# %% [markdown]
# ## Model
#
# `bst261_cnn` as the recipe builds it (quick mode: narrower). Dense layers after a 6x6x128 map
# hold most of its parameters.

# %%
model = build_model("bst261_cnn", **CONFIG["model_options"])
print(f"{model.count_params():,} parameters")
model.summary()

# %% [markdown]
# ## Train: one run per fraction of Training
#
# `fraction_sweep` trains the config once per fraction into `OUT/7_classes/subset_<fraction>/`,
# or finds the finished run there, and returns one row per run.

# %%
rows = fraction_sweep(CONFIG, FRACTIONS, dataset=dataset, out=OUT / "7_classes")

# %% [markdown]
# ## Evaluate
#
# PublicTest accuracy and macro-F1 of each run's best epoch, and its training time. Every epoch
# also scores the whole of PublicTest, a fixed cost, so time per epoch is a constant plus a part
# proportional to the Training faces; the line fitted below separates the two.

# %%
pd.DataFrame([{
    "fraction": f"{r['fraction']:.0%}", "Training images": r["train_images"],
    "epochs": r["epochs"], "PublicTest accuracy": round(r["accuracy"], 4),
    "PublicTest macro-F1": round(r["macro_f1"], 4),
    "training minutes": round(r["fit_seconds"] / 60, 1),
    "seconds / epoch": round(r["fit_seconds"] / r["epochs"], 1),
} for r in rows])

# %%
slope, intercept = np.polyfit([r["train_images"] for r in rows],
                              [r["fit_seconds"] / r["epochs"] for r in rows], 1)
print(f"seconds per epoch = {intercept:.1f} fixed (mostly scoring PublicTest) "
      f"+ {1000 * slope:.2f} per 1,000 Training faces")

# %%
plot_fraction_sweep(rows, title="bst261_cnn: PublicTest accuracy and training time "
                                f"(epochs per run: {CONFIG['epochs']})")

# %% [markdown]
# ## Six classes: disgust merged into angry
#
# The project's six-class variant, trained once at `SIX_CLASS_FRACTION` of Training
# (`merge_disgust=True`: labels and the network's output layer have six classes).
#
# **Its accuracy is not comparable with seven-class numbers**, ours or the literature's: merging
# removes the rarest and one of the hardest classes, and every face confused between angry and
# disgust stops counting as an error. The second row below shows how much of the gap needs no
# learning at all: the seven-class run's own PublicTest predictions, merely scored with merged
# labels (angry and disgust counted as one).

# %%
(six,) = fraction_sweep({**CONFIG, "merge_disgust": True}, [SIX_CLASS_FRACTION], dataset=dataset,
                        out=OUT / "6_classes")
seven = next(r for r in rows if r["fraction"] == SIX_CLASS_FRACTION)  # one of FRACTIONS
matrix = np.array(read_run(seven["run_dir"]).metrics["PublicTest"]["confusion_matrix"])
rescored = (np.trace(matrix) + matrix[0, 1] + matrix[1, 0]) / matrix.sum()
# Accuracy of always answering the most frequent class, with seven and with six labels.
majority_7 = np.bincount(y_public).max() / len(y_public)
majority_6 = np.bincount(merge_disgust(y_public)).max() / len(y_public)
pd.DataFrame([
    {"run": "7 classes", "classes": 7, "PublicTest accuracy": seven["accuracy"],
     "PublicTest macro-F1": seven["macro_f1"], "majority-class accuracy": majority_7},
    {"run": "7 classes, scored with merged labels", "classes": 6, "PublicTest accuracy": rescored,
     "PublicTest macro-F1": np.nan, "majority-class accuracy": majority_6},
    {"run": "6 classes (merge_disgust)", "classes": 6, "PublicTest accuracy": six["accuracy"],
     "PublicTest macro-F1": six["macro_f1"], "majority-class accuracy": majority_6},
]).round(4)

# %% [markdown]
# ## Visualise
#
# Training curves of the run on the largest fraction, and the six-class run's PublicTest
# confusion matrix (rows: true class; right: normalised per row).

# %%
plot_training_curves(rows[-1]["run_dir"])

# %%
six_run = read_run(six["run_dir"])
plot_confusion_matrix(six_run.metrics["PublicTest"]["confusion_matrix"], six_run.class_names,
                      title=f"bst261_cnn, 6 classes, {SIX_CLASS_FRACTION:.0%} of Training")

# %% [markdown]
# ## Takeaways
#
# - Training time grows linearly with the fraction (plus the fixed cost of scoring PublicTest
#   every epoch); accuracy does not: read off the figure where another doubling of the data stops
#   paying for its time. A run on a fraction measures the fraction, not the architecture.
# - Six-class accuracy answers an easier question; compare it only with other six-class numbers.
#   The rescored row shows how much of its lead comes from the merged labels alone.
# - In quick mode the runs are one epoch on a few hundred faces and the numbers are noise; the
#   full-data numbers belong in the README's results table with their run directories.
