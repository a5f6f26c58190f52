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
# # 05 · SUSA-CNN and ResNet-18: a K-fold ensemble
#
# Does a combination of two architectures beat the better of the two? Each member is trained K
# times, once per fold of Training; its fold models predict the fold they never saw (out-of-fold,
# OOF) and PublicTest. We combine the members by a plain average of their probabilities and by
# weights fitted on the OOF predictions (non-negative, summing to 1, minimising log-loss), so no
# weight is chosen on PublicTest; PrivateTest is not read.
#
# **Runtime on 2 CPU cores:** about 1 minute in quick mode (two tiny `shallow_cnn` members, 2 folds,
# one epoch, on the embedded sample). The real ensemble, `susa_cnn` and `resnet18` for 8 epochs on 4
# folds, is 8 training runs. On 2 CPU cores an epoch on half of Training took about 40 s for
# `susa_cnn` and 5 minutes for `resnet18` (README), so on three quarters plan on about 4.5 hours,
# nearly all of it `resnet18`. Run it from a shell, where a killed run continues when the command is
# repeated: `python -m fer_keras.ensemble --folds 4 --members susa_cnn:8,resnet18:8`; this notebook
# then finds its finished folds in `models/` instead of training them again.

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import pandas as pd

from fer_keras import CLASS_NAMES, load_dataset
from fer_keras.data import dataset_dir, default_data_path, sample_path
from fer_keras.evaluation import plot_confusion_matrix
from fer_keras.experiments import kfold_ensemble, parse_members
from fer_keras.models import build_model

QUICK = os.environ.get("FER_KERAS_QUICK") == "1"  # CI runs every notebook in this mode
SEED = 0
DATA = sample_path() if QUICK else default_data_path()
if QUICK:  # two small CNNs stand in for the real members
    MEMBERS, FOLDS, EPOCHS_NOTE = "small=shallow_cnn:1,smaller=shallow_cnn:1", 2, "1 epoch"
    MODEL_OPTIONS = {"small": {"filters": [8, 16], "dense_units": 16},
                     "smaller": {"filters": [8], "dense_units": 8}}
else:
    MEMBERS, FOLDS, EPOCHS_NOTE = "susa_cnn:8,resnet18:8", 4, "8 epochs"
    MODEL_OPTIONS = {}
# Quick mode writes into a temporary folder so CI leaves models/ alone.
OUT = Path(tempfile.mkdtemp(prefix="fer_keras_05_")) if QUICK else dataset_dir().parent / "models"
DATA, MEMBERS, FOLDS

# %% [markdown]
# ## Data
#
# Training is split into stratified folds; PublicTest picks every fold model's best epoch and
# compares the members and the ensembles.

# %%
dataset = load_dataset(DATA)
{split: images.shape for split, (images, _) in dataset.items()}

# %% [markdown]
# ## Models
#
# The members and their sizes (a member's K fold models share its architecture).

# %%
members = parse_members(MEMBERS)
pd.DataFrame([{"member": m.label, "model": m.model, "epochs": m.epochs,
               "parameters": build_model(m.model, **MODEL_OPTIONS.get(m.label, {})).count_params()}
              for m in members])

# %% [markdown]
# ## Train
#
# `kfold_ensemble` trains the `len(members) x FOLDS` fold runs (or finds those already
# finished), then fits the weights on the OOF predictions and writes `ensemble.md`,
# `ensemble.json` and the confusion matrix of the best row into its folder.

# %%
result = kfold_ensemble(members, folds=FOLDS, dataset=dataset, data_path=DATA, out=OUT,
                        seed=SEED, model_options=MODEL_OPTIONS, verbose=0 if QUICK else 2)
print(result["table"])
result["dir"]

# %% [markdown]
# ## Evaluate: the ensemble against its best member
#
# The best member is chosen on PublicTest here, which flatters it a little; the weights were
# fitted on Training alone. OOF log-loss is what the weights minimise (in-sample for the weighted
# average).

# %%
rows = {r["name"]: r for r in result["rows"]}
best_member = max((r for r in result["rows"] if r["kind"] == "member"),
                  key=lambda r: r["PublicTest"]["accuracy"])
compared = [best_member, rows["plain average"], rows["weighted average"]]
pd.DataFrame([{"row": r["name"], "weight": r["weight"],
               "PublicTest accuracy": r["PublicTest"]["accuracy"],
               "PublicTest macro-F1": r["PublicTest"]["macro_f1"],
               "PublicTest log-loss": r["PublicTest"]["log_loss"],
               "OOF log-loss": r["OOF"]["log_loss"]} for r in compared]).round(4)

# %%
result["weights"]

# %% [markdown]
# Per-class F1 on PublicTest: where the ensemble gains or loses against the best member.

# %%
pd.DataFrame({r["name"]: {c: r["PublicTest"]["per_class"][c]["f1"] for c in CLASS_NAMES}
              for r in compared}).round(3)

# %% [markdown]
# ## Visualise
#
# PublicTest confusion matrices of the best member and of the weighted average (rows: true class;
# right: normalised per row, so the diagonal is per-class recall).

# %%
plot_confusion_matrix(best_member["PublicTest"]["confusion_matrix"],
                      title=f"best member {best_member['name']} ({EPOCHS_NOTE}) on PublicTest")

# %%
plot_confusion_matrix(rows["weighted average"]["PublicTest"]["confusion_matrix"],
                      title="weighted average on PublicTest")

# %% [markdown]
# ## Takeaways
#
# - Every member's OOF predictions cover Training once, so the weights are fitted on data no fold
#   model trained on, and PublicTest stays a fair comparison of members and ensembles.
# - Averaging K fold models is already an ensemble: compare a member's row with its fold rows.
# - In quick mode the members are barely trained and the numbers are noise; the full-data numbers
#   belong in the README's results table with their ensemble folder.
