"""What the tests share: small FER2013 CSVs, tiny model options, a fake run, captured output.

Test modules import from here (``from helpers import make_fer_csv``), never from each other or
from ``conftest.py`` (pytest imports that itself; `tests/test_layers.py` checks both). The fixtures
built on these helpers live in ``conftest.py``. Keras and fer_keras's models load only when a
helper needs them, so data-only tests stay quick to collect.

Example:
    >>> path, (images, labels, usages) = make_fer_csv(tmp_path / "fer2013.csv")
    >>> model = build_model("resnet18", **tiny_model_options("resnet18"))
"""

import contextlib
import csv
import gzip
import io
import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from fer_keras import IMAGE_SIZE, USAGES

# --- FER2013-format CSVs -------------------------------------------------------------------------


def make_images(n, seed=0):
    """`n` random 48x48 uint8 faces-to-be, with the extremes 0 and 255 present."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    if n:
        images[0, 0, :2] = (0, 255)
    return images


def fer_lines(images, labels, usages):
    """The CSV rows ``emotion,pixels,Usage`` of `images`, `labels` and `usages`."""
    return [f"{lab},{' '.join(map(str, img.ravel()))},{use}"
            for img, lab, use in zip(images, labels, usages)]


def write_csv(path, lines, header="emotion,pixels,Usage", newline="\n", final_newline=True):
    """Write `header` and `lines` to `path` (gzipped when it ends in .gz)."""
    text = newline.join([header, *lines]) + (newline if final_newline else "")
    data = text.encode()
    if str(path).endswith(".gz"):
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_fer_csv(path, n_per_class_usage=2, usages=USAGES, seed=0, **kwargs):
    """A FER2013 CSV with `n_per_class_usage` rows of every class in every Usage.

    Returns (path, rows) where rows = (images uint8 (n,48,48), labels int64 (n,), usages list).
    """
    n = 7 * len(usages) * n_per_class_usage
    images = make_images(n, seed)
    labels = np.tile(np.arange(7), len(usages) * n_per_class_usage).astype(np.int64)
    use = [usages[i % len(usages)] for i in range(n)]
    write_csv(path, fer_lines(images, labels, use), **kwargs)
    return path, (images, labels, use)


FERPLUS_HEADER = ("Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,"
                  "unknown,NF")


def make_ferplus_csv(path, usages, votes):
    """A FER+ file (``fer2013new.csv``) with one row per Usage in `usages`: `votes` ``(n, 10)`` in
    the file's column order (neutral, happiness, ..., NF), or one row of 10 used for every row."""
    votes = np.broadcast_to(np.asarray(votes), (len(usages), 10))
    lines = [f"{use},fer{i:07d}.png," + ",".join(map(str, v))
             for i, (use, v) in enumerate(zip(usages, votes))]
    return write_csv(path, lines, header=FERPLUS_HEADER)


# --- Tiny models -------------------------------------------------------------------------------

# The smallest options of every registered model that keep its layout (stages, blocks, the VGG16
# base at its minimum 32 px). A newly registered model must add itself here: the shared model
# test in test_models.py fails until it does. resnet18 stays at 16 channels: TF 2.21's oneDNN
# kernel for the filter gradient of a 1x1 stride-2 conv with 4 or 8 input channels at 48x48
# corrupts the heap (TF_ENABLE_ONEDNN_OPTS=0 avoids it).
TINY_MODELS = {
    "bst261_cnn": {"filters": (4, 8, 8), "dense_units": (8, 8)},
    "resnet18": {"stackwise_num_filters": (16, 16, 16, 16), "stackwise_num_blocks": (1, 1, 1, 1)},
    "shallow_cnn": {"filters": (4, 8), "dense_units": 8},
    "susa_cnn": {"width": 0.125, "dense_units": (8, 8)},
    "vgg16_nin": {"weights": None, "image_size": 32, "nin_filters": (8, 8, 8)},
    "vgg16_transfer": {"weights": None, "image_size": 32, "dense_units": 8},
    "vgg_fer": {"stackwise_num_filters": (4, 8, 8, 8), "fc_units": 8},
}

# shallow_cnn's options for training runs: one 4-filter block and 6 features (JSON-ready lists,
# as config.json and --model-options hold them).
TINY_CNN = {"filters": [4], "dense_units": 6}

# The base config of a training run that takes seconds; tests add epochs and their own settings.
TINY_TRAINING = {"model": "shallow_cnn", "model_options": TINY_CNN, "batch_size": 8, "verbose": 0}


def tiny_model_options(name):
    """A fresh copy of `TINY_MODELS[name]`; fails the test when the model has no entry."""
    if name not in TINY_MODELS:
        pytest.fail(f"registered model {name!r} has no tiny options: add it to TINY_MODELS in "
                    "tests/helpers.py")
    return dict(TINY_MODELS[name])


def make_run(root, head="svc", equalize="hist", seed=0, crop=None):
    """A run directory as ``fer_keras.train`` writes it, without the training.

    The network is a small untrained ``shallow_cnn``; for ``head="svc"`` a linear SVC is fitted on
    its features of the embedded sample's real faces.

    Args:
        root: the folder the run is made in (created if needed).
        head: ``"softmax"``, ``"l2svm"`` or ``"svc"``.
        equalize: the run's equalisation (``None``, ``"hist"`` or ``"clahe"``).
        seed: seeds the untrained weights.
        crop: a network trained on crops of this size with ten-crop TTA as the run's own mode,
            as the ``cpu_fast`` recipe makes it (softmax and l2svm heads only).

    Example:
        >>> run = make_run(tmp_path, head="softmax", equalize=None, crop=40)
        >>> EmotionRecognizer(run).tta
        'tencrop'
    """
    import keras

    from fer_keras.data.loading import load_dataset, sample_path
    from fer_keras.data.pipeline import equalize_images
    from fer_keras.models import build_model, heads, names

    if crop and head == "svc":
        raise ValueError("make_run: an SVC run on crops is not supported")
    keras.utils.set_random_seed(seed)
    run = root / f"shallow_cnn_{head}_{equalize}" if not crop else root / f"crop{crop}_{head}"
    run.mkdir(parents=True)
    side = crop or IMAGE_SIZE
    model = build_model("shallow_cnn", input_shape=(side, side, 1), filters=[8, 16],
                        dense_units=32, head="l2svm" if head == "l2svm" else "softmax")
    model.save(run / "best.keras")
    if head == "svc":
        faces, labels = load_dataset(sample_path())["Training"]
        features = heads.extract_features(model, equalize_images(faces[:140], equalize))
        heads.save_svc(heads.make_svc("linear_svc").fit(features, labels[:140]),
                       run / "svc_head.json")
    config = {"model": "shallow_cnn", "head": head, "equalize": equalize, "seed": seed,
              "feature_layer": names.FEATURE_LAYER, "status": "finished"}
    if crop:
        config.update(crop=crop, tta="tencrop")
    (run / "config.json").write_text(json.dumps(config))
    return run


# --- Output --------------------------------------------------------------------------------------


def capture(main, argv):
    """Run a command's ``main(argv)``; returns (exit code, stdout, stderr).

    For module-scoped fixtures, where pytest's function-scoped ``capsys`` is not available.

    Example:
        >>> code, out, err = capture(evaluate.main, [str(run_dir), "--split", "PublicTest"])
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


def run_cli(main, argv):
    """``main(argv)`` through the commands' one error path, as ``fer-keras`` runs it (a command's
    ``main`` already is); returns (exit code, stdout, stderr) like :func:`capture`."""
    from fer_keras.commands import _common

    return capture(lambda a: _common.run(main, a), argv)


def png_bomb(width, height):
    """A valid 1-bit grey PNG of ``width`` x ``height`` zeros: a few hundred kB at most."""
    def chunk(kind, body):
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    row, packer = b"\0" * (1 + (width + 7) // 8), zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


class UvicornThread:
    """Runs ``self.server`` (a ``uvicorn.Server``) on ``self.sock`` in a thread until the block
    ends; subclasses set both in ``__init__`` and call ``start_thread()``."""

    def start_thread(self):
        import threading

        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self):
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


def write_video(path, frames, fps=10):
    """An MJPG video of BGR ``frames`` (all one size) at ``path``; returns ``path``."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def read_csv(path) -> list[dict]:
    """The rows of a CSV file with a header, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
