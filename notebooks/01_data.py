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
# # 01 · The FER2013 data
#
# Convert the CSV into the PNG tree, look at the class balance and at faces of every class, and find
# the pixel-identical images that FER2013 is known to hold.
#
# **Runtime on 2 CPU cores:** about 10 s on the embedded sample, about 1 minute on the full
# `dataset/fer2013.csv` (quick mode changes neither). Uses `dataset/fer2013.csv` when it exists,
# else the embedded real sample.

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import os

import numpy as np

from fer_keras import CLASS_NAMES, load_dataset
from fer_keras.data import dataset_dir, default_data_path, find_duplicates, load_png_tree
from fer_keras.data.convert import convert, summary
from fer_keras.data.figures import plot_class_balance, plot_face_grid

QUICK = os.environ.get("FER_KERAS_QUICK") == "1"  # CI runs every notebook in this mode
CSV = default_data_path()
TREE = dataset_dir() / "png_tree"  # ignored by git
CSV

# %% [markdown]
# ## Data
#
# `python -m fer_keras.utils --csv CSV --out DIR` does the same from a shell. The tree is
# `DIR/<Usage>/<label>_<name>/<row>.png`; it is built beside the target and swapped in at the end.

# %%
tree = convert(CSV, TREE, overwrite=True, progress=not QUICK)
print(summary(tree))

# %% [markdown]
# The tree reads back into exactly the arrays of the CSV.

# %%
data = load_dataset(CSV)
back = load_png_tree(TREE)
assert all(np.array_equal(data[k][0], back[k][0]) and np.array_equal(data[k][1], back[k][1])
           for k in data)
{k: v[0].shape for k, v in data.items()}

# %% [markdown]
# ## Class balance
#
# Disgust is rare (about 1.5% of Training), happy is the largest class: accuracy alone hides the
# minority classes, so later notebooks also report macro-F1 and per-class recall.

# %%
plot_class_balance(data)

# %% [markdown]
# ## Faces per class

# %%
x_train, y_train = data["Training"]
plot_face_grid(x_train, y_train, per_class=8)

# %% [markdown]
# ## Duplicate images
#
# FER2013 holds pixel-identical images, some with different labels and some in more than one split.

# %%
images = np.concatenate([v[0] for v in data.values()])
labels = np.concatenate([v[1] for v in data.values()])
splits = np.concatenate([[k] * len(v[1]) for k, v in data.items()])
groups = find_duplicates(images)
conflicting = [g for g in groups if len(set(labels[g])) > 1]
cross_split = [g for g in groups if len(set(splits[g])) > 1]
print(f"{len(groups)} groups of identical images covering {sum(map(len, groups))} rows; "
      f"{len(conflicting)} with conflicting labels, {len(cross_split)} spanning splits")
for g in conflicting[:5]:
    print([f"{splits[i]}:{CLASS_NAMES[labels[i]]}" for i in g])

# %% [markdown]
# ## Takeaways
#
# - The converter and the loader agree pixel for pixel; the loader caches the arrays beside the CSV.
# - The classes are imbalanced (disgust above all); watch macro-F1, not only accuracy.
# - On the full data, 1,273 groups of identical images cover 2,805 rows of Training + PublicTest,
#   47 of them with conflicting labels: a ceiling on any model's PublicTest accuracy.
