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
# # 08 · Why does the model decide?
#
# Saliency maps (which pixels move the class score), SmoothGrad, Grad-CAM (which regions of the
# last conv layer's map support the class), what the filters of the last conv layer respond to, and
# the most confident mistakes for each pair of emotions.
#
# **Runtime on 2 CPU cores:** about 1 minute in quick mode (a small CNN trained for 2 epochs on the
# embedded sample). Otherwise it explains the newest `models/shallow_cnn_softmax_*` run, or trains
# one first (about 20 minutes on 2 CPU cores on the full `dataset/fer2013.csv`). The same figures
# come from a shell with `python -m fer_keras.explain RUN_DIR --method gradcam` (or `saliency`,
# `smoothgrad`, `filters`, `mistakes`).

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline

import os
import tempfile
from pathlib import Path

import numpy as np

from fer_keras import CLASS_NAMES, VAL_SPLIT, load_dataset, load_run
from fer_keras.data import dataset_dir, default_data_path, sample_path
from fer_keras.explain import (
    confident_mistakes,
    conv_layers,
    filter_on_face,
    filter_patterns,
    grad_cam,
    plot_explanations,
    plot_filters,
    plot_mistakes,
    plot_training_curves,
    run_model,
    saliency,
    smoothgrad,
)
from fer_keras.training.train import notebook_run

QUICK = os.environ.get("FER_KERAS_QUICK") == "1"  # CI runs every notebook in this mode
SEED = 0
DATA = sample_path() if QUICK else default_data_path()
# Quick mode writes its run into a temporary folder so CI leaves models/ alone.
OUT = Path(tempfile.mkdtemp(prefix="fer_keras_08_")) if QUICK else dataset_dir().parent / "models"
DATA

# %% [markdown]
# ## Data
#
# Faces are explained on PublicTest, the split used for model selection; PrivateTest stays
# untouched.

# %%
data = load_dataset(DATA)
x_val, y_val = data[VAL_SPLIT]
x_val.shape

# %% [markdown]
# ## Model
#
# Any run directory works, whatever its model or head; here the shallow CNN with a softmax head.
# Quick mode trains a narrower one for two epochs: its explanations are those of a weak model.

# %%
run_dir = notebook_run(OUT, DATA, quick=QUICK, seed=SEED, quick_epochs=2)
run = load_run(run_dir)
model = run_model(run)  # the differentiable network behind the run's scores
run_dir

# %% [markdown]
# ## Evaluate

# %%
scores = run.scores(x_val)
predicted = scores.argmax(axis=1)
print(f"{VAL_SPLIT} accuracy {np.mean(predicted == y_val):.3f} on {len(y_val)} faces")
plot_training_curves(run_dir)

# %% [markdown]
# ## Visualise: one face per emotion
#
# The first PublicTest face of every emotion, titled `label → predicted`. Each map explains the
# *predicted* class and is scaled to [0, 1] per face. Saliency is the gradient of the class score
# (before the softmax) with respect to each pixel; SmoothGrad averages it over noisy copies of the
# face, which removes most of the speckle; Grad-CAM weighs the last conv layer's feature maps by
# their mean gradient, so it is coarse (a 6×6 grid for the four-stage shallow CNN) but shows
# *regions*.

# %%
faces = np.stack([x_val[np.flatnonzero(y_val == c)[0]] for c in range(len(CLASS_NAMES))])
face_predictions = model.predict(faces, verbose=0).argmax(axis=1)
titles = [f"{CLASS_NAMES[t]} → {CLASS_NAMES[p]}" for t, p in zip(range(7), face_predictions)]
layer = conv_layers(model)[-1]
maps = {"saliency": saliency(model, faces),
        "SmoothGrad": smoothgrad(model, faces, samples=10 if QUICK else 25, seed=SEED),
        f"Grad-CAM\n{layer}": grad_cam(model, faces, layer=layer)}
plot_explanations(faces, maps, titles)

# %% [markdown]
# Grad-CAM on an earlier layer is finer, and less tied to the class:

# %%
earlier = conv_layers(model)[-3]
plot_explanations(faces, {f"Grad-CAM\n{earlier}": grad_cam(model, faces, layer=earlier)}, titles)

# %% [markdown]
# ## Visualise: filters of the last conv layer
#
# Gradient ascent from grey noise finds an input that maximises each filter's mean activation; the
# same ascent started from a real face shows what the filter would amplify in it.

# %%
patterns = filter_patterns(model, layer, filters=16, steps=20 if QUICK else 40, seed=SEED)
plot_filters(patterns, title=f"{layer}: from noise")

# %%
plot_filters(filter_on_face(model, faces[3], layer, filters=16),
             title=f"{layer}: gradient added to a happy face")

# %% [markdown]
# ## Visualise: the most confident mistakes
#
# For each (true, predicted) pair, the PublicTest face the model got wrong by the widest margin
# (score of the predicted class minus score of the true class). Some are label noise, some are
# genuinely ambiguous faces.

# %%
mistakes = confident_mistakes(scores, y_val)
plot_mistakes(x_val, mistakes, title=f"{run_dir.name}: most confident {VAL_SPLIT} mistakes")

# %% [markdown]
# ## Takeaways
#
# - Saliency and SmoothGrad are pixel-level and noisy; Grad-CAM is coarse but shows which regions
#   (mouth, eyes, brows) the class score relies on. A map that lights up hair or the background
#   points at a shortcut rather than an expression.
# - Filters of the last conv layer respond to face-part textures rather than to whole faces.
# - The mistake gallery mixes label noise with faces that are genuinely ambiguous (fear ↔ surprise,
#   sad ↔ neutral): it bounds what any model can reach on FER2013.
