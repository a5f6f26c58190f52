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
# # 09 · Emotions of the faces in real photos
#
# A trained model put to use: find every face in a photo, label each with its emotion, summarise a
# folder of photos as a table, and export the model (SavedModel, TFLite) with a parity check
# against Keras.
#
# **Runtime on 2 CPU cores:** about 1 minute in quick mode and about 2 minutes otherwise, nothing
# trained: the model is the one packaged with fer_keras (`cpu_fast`), and the export's parity
# check runs on the embedded sample's 401 PublicTest faces in quick mode, on the full data's 3,589
# otherwise.
# `TRAIN = True` trains a small CNN instead: one epoch on the embedded sample in quick mode (its
# labels are those of a weak model); otherwise it takes the newest `models/shallow_cnn_softmax_*`
# run or trains one first (about 20 minutes on the full `dataset/fer2013.csv`). From a shell:
# `fer-keras predict PHOTOS... --out annotated/ --json results.json` (`--model RUN` for a run of
# your own) and `fer-keras export RUN --out exports/ --format saved_model`.
#
# The photos are public domain, from scikit-image (`pip install scikit-image`): the astronaut
# Eileen Collins (NASA), and compositions of her portrait.

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import cv2
import pandas as pd
from skimage import data as skdata

from fer_keras import EmotionRecognizer, export_model, read_run
from fer_keras.data import dataset_dir, default_data_path, sample_path
from fer_keras.inference import plot_faces
from fer_keras.inference.export import format_report
from fer_keras.training.train import notebook_run

QUICK = os.environ.get("FER_KERAS_QUICK") == "1"  # CI runs every notebook in this mode
TRAIN = False  # True: train a small CNN (or reuse the newest one) instead of the packaged model
SEED = 0
DATA = sample_path() if QUICK else default_data_path()
# Quick mode writes its run into a temporary folder so CI leaves models/ alone.
OUT = Path(tempfile.mkdtemp(prefix="fer_keras_09_")) if QUICK else dataset_dir().parent / "models"
PHOTOS = Path(tempfile.mkdtemp(prefix="fer_keras_09_photos_"))
EXPORTS = Path(tempfile.mkdtemp(prefix="fer_keras_09_exports_"))  # never inside the package

# %% [markdown]
# ## Data: photos with faces, without, and broken
#
# A group photo: three copies of the astronaut's portrait, at different sizes and one mirrored,
# on scikit-image's coffee picture. Beside it, the coffee alone (no face) and a file that only
# pretends to be a JPEG.

# %%
astronaut = skdata.astronaut()[..., ::-1]  # scikit-image gives RGB; OpenCV files are BGR
group = cv2.resize(skdata.coffee()[..., ::-1], (1000, 600))
for x, y, scale, mirror in [(30, 40, 1.0, False), (330, 120, 0.8, True), (600, 30, 1.3, False)]:
    portrait = cv2.resize(astronaut[20:260, 120:340], None, fx=scale, fy=scale)
    group[y:y + portrait.shape[0], x:x + portrait.shape[1]] = portrait[:, ::-1] if mirror \
        else portrait
cv2.imwrite(str(PHOTOS / "astronaut.jpg"), astronaut)
cv2.imwrite(str(PHOTOS / "group.jpg"), group)
cv2.imwrite(str(PHOTOS / "coffee.png"), skdata.coffee()[..., ::-1])
(PHOTOS / "broken.jpg").write_text("not a picture")
sorted(p.name for p in PHOTOS.iterdir())

# %% [markdown]
# ## Model
#
# The packaged model is a run directory inside the installed package, so `EmotionRecognizer()`
# works offline and anywhere. Any run directory or `.keras` file works too; the recognizer applies
# the run's own preprocessing (histogram equalisation, if it was trained with it), test-time views
# (a flip for the packaged model) and head (an SVC run uses its SVC).

# %%
run = read_run(notebook_run(OUT, DATA, quick=QUICK, seed=SEED, quick_epochs=1) if TRAIN
               else None)  # None: the packaged model
run_dir = run.run_dir
recognizer = EmotionRecognizer(run_dir)
print(f"{run_dir}: {run.metrics['PublicTest']['accuracy']:.2%} PublicTest accuracy "
      f"(test-time views: {run.metrics.get('tta', 'none')})")

# %% [markdown]
# ## A photo in, faces boxed and labelled
#
# Faces come from YuNet, a small face-detection network whose weights ship inside the `yuface`
# wheel (nothing downloaded), with five landmarks each: the eyes, the nose tip and the mouth
# corners. Each face is cut as FER2013's faces were registered — turned upright and scaled so that
# its landmarks sit where they sit on an average FER2013 face — brought to 48×48 grey and scored.
# Every entry holds the box, the probability of each emotion and the top one.

# %%
faces = recognizer.detect(PHOTOS / "astronaut.jpg")
{k: faces[0][k] for k in ("box", "emotion", "probability", "emotions")}

# %%
plot_faces(astronaut, faces, title="astronaut.jpg")

# %% [markdown]
# Every face of the group photo, found at each size and in the mirrored copy:

# %%
plot_faces(group, recognizer.detect(group), title="group.jpg")

# %% [markdown]
# ## A folder summarised as a table
#
# `iter_detect` reads the files one by one, classifies the faces of several photos in one model
# call, and turns a file it cannot read into a result with an error instead of stopping.

# %%
rows = []
for result in recognizer.iter_detect(sorted(PHOTOS.iterdir())):
    rows.append({"file": Path(result.source).name, "faces": len(result.faces),
                 "emotions": ", ".join(f"{f['emotion']} {f['probability']:.2f}"
                                       for f in result.faces),
                 "error": result.error or ""})
pd.DataFrame(rows)

# %% [markdown]
# ## Export with its parity check
#
# A float export must give the same prediction as Keras on every PublicTest face of the data
# with every score within the stated tolerance; an int8 TFLite one reports its accuracy change.
# The packaged model computes in bfloat16 (it was trained with mixed precision), which the TFLite
# export does not convert yet, so it goes to SavedModel; a float32 run (`TRAIN = True`) goes to
# TFLite too. ONNX (`pip install tf2onnx onnxruntime`) works the same way. The files go to a
# folder of their own (by default a run's exports go into the run directory).

# %%
print(format_report(export_model(run_dir, "saved_model", EXPORTS, data_path=DATA)))
if TRAIN:
    print(format_report(export_model(run_dir, "tflite", EXPORTS, data_path=DATA)))
    print(format_report(export_model(run_dir, "tflite", EXPORTS, quantize="int8",
                                     data_path=DATA)))

# %% [markdown]
# ## Takeaways
#
# - Every face of a photo is found and labelled, and the faces of many photos are classified in
#   batches; an unreadable file is a per-file error, a photo without a face a result.
# - The packaged model needs no training and no download; the recognizer uses a run's own
#   preprocessing, test-time views and head, so its labels match `evaluate`.
# - Exports are checked against Keras on real faces before they are trusted.
