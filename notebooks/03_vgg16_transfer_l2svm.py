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
# # 03 · VGG16 transfer with an L2-SVM head
#
# The seed's second system: an ImageNet VGG16 conv base, first frozen while a new head trains,
# then its top block (`block5`) unfrozen and fine-tuned at a low learning rate, with an L2-SVM
# score layer (squared hinge on ±1 targets + L2) on the flattened features. Faces are resized,
# turned to 3 channels and preprocessed inside the model, so it takes raw 48x48 grey pixels.
#
# **Runtime on 2 CPU cores:** about 2 minutes in quick mode. The full recipe is expensive on a
# CPU: VGG16 at 96 px costs about 3 GFLOP per image forward, over Training's 28,709 faces for
# 15 + 10 epochs; not measured, estimated at about 3 hours. On a GPU it runs without edits.
#
# **Weights:** `WEIGHTS = "imagenet"` downloads them once to `~/.keras/models/`. Offline, put
# `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5` anywhere and set `WEIGHTS` to its path, or
# use `None` to train from scratch (quick mode does, so CI needs no download).

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import os
import tempfile

from fer_keras import evaluate, load_dataset, load_run, train
from fer_keras.data import default_data_path
from fer_keras.evaluation import plot_confusion_matrix
from fer_keras.explain import plot_training_curves

QUICK = os.environ.get("FER_KERAS_QUICK") == "1"  # CI runs every notebook in this mode
WEIGHTS = None if QUICK else "imagenet"
CONFIG = dict(model="vgg16_transfer", head="l2svm", seed=0, batch_size=32,
              model_options={"weights": WEIGHTS, "image_size": 48 if QUICK else 96},
              epochs=1 if QUICK else 15, learning_rate=1e-3,
              fine_tune_epochs=1 if QUICK else 10, fine_tune_learning_rate=1e-5,
              subset=0.25 if QUICK else 1.0, verbose=0 if QUICK else 2)
OUT = tempfile.mkdtemp(prefix="fer_keras_03_") if QUICK else "models"
DATA = default_data_path()
DATA

# %% [markdown]
# ## Data

# %%
dataset = load_dataset(DATA)
{split: images.shape for split, (images, _) in dataset.items()}

# %% [markdown]
# ## Model and training
#
# Phase 1 trains only the head (`features` + `predictions`) with the base frozen and called with
# `training=False`; phase 2 unfreezes exactly `block5`, recompiles at `fine_tune_learning_rate` and
# continues from the last epoch. The run's `config.json` records both phases.

# %%
run_dir = train(CONFIG, data=str(DATA), out=OUT, dataset=dataset)
run = load_run(run_dir)
for phase in run.config["phases"]:
    print(f"phase {phase['phase']}: lr {phase['learning_rate']}, epochs from "
          f"{phase['first_epoch']}, trainable: {', '.join(phase['trainable_layers'])}")

# %% [markdown]
# ## Evaluate

# %%
metrics = evaluate(run, dataset=dataset, out=False)
print({split: round(m["accuracy"], 4) for split, m in metrics.items()})
plot_confusion_matrix(metrics["PublicTest"]["confusion_matrix"], title="VGG16 + L2-SVM")

# %%
plot_training_curves(run)

# %% [markdown]
# ## Takeaways
#
# - Phase 1 moves only the new head; phase 2 moves `block5` and the head at a 100x lower rate.
# - Without ImageNet weights (quick mode) the base is random and frozen, so accuracy stays low:
#   the recipe needs the pretrained weights or a GPU to be worth its cost.
