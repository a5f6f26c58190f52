"""See why a model decides: saliency, SmoothGrad, Grad-CAM, filters, most confident mistakes.

Every function takes a trained Keras model (raw 0–255 pixels in, softmax probabilities or L2-SVM
scores out) and images, uint8 or float, ``(n, 48, 48)`` or ``(n, 48, 48, 1)``, and returns numpy
arrays; the ``plot_*`` functions draw them as matplotlib Figures. Gradients are taken of the *class
score*: for a softmax output layer the pre-softmax logit (the probability saturates and mixes in
every other class), for the L2-SVM head the raw linear score. Layers inside a nested model are
named by their path, e.g. ``"vgg16/block5_conv3"``.

- :func:`saliency`, :func:`smoothgrad`, :func:`grad_cam`: maps shaped like the images, in [0, 1].
- :func:`filter_patterns` (gradient ascent from noise), :func:`filter_on_face` (a filter's gradient
  added onto a real face).
- :func:`confident_mistakes`: the most confident mistake per (true, predicted) pair.
- :func:`plot_training_curves`: a run's ``history.csv``.

``fer-keras explain MODEL --method gradcam`` (or ``python -m fer_keras.explain``; ``MODEL`` or
``--model MODEL``: a run directory, a ``.keras`` file or a packaged name, default ``cpu_fast``)
writes its PNGs into ``--out``, by default ``explain/`` in the run directory (in a ``.keras``
file's folder; in the current folder for a packaged model, which is never written into). Faces come
from PublicTest, one per emotion, equalised as in training; ``--images`` explains your own PNGs
instead. Maps cover the whole 48x48 face and explain the class the run predicts with its own
test-time views (``--tta``, default the run's, a flip for ``cpu_fast``): a network trained on
40-px crops is explained through the mean score of its views, each view's evidence at its place in
the face. A network trained in mixed precision is explained in float32 (the same weights;
bfloat16 would round the gradients to 8 bits).

Example:
    >>> maps = grad_cam(model, faces)                  # (n, 48, 48), 1 = most important pixel
    >>> fig = plot_explanations(faces, {"Grad-CAM": maps}, titles)

Reference:
    K. Simonyan, A. Vedaldi, A. Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps", ICLR workshop 2014; D. Smilkov et al., "SmoothGrad:
    removing noise by adding noise", 2017; R. R. Selvaraju et al., "Grad-CAM: Visual Explanations
    from Deep Networks via Gradient-based Localization", ICCV 2017; D. Erhan et al., "Visualizing
    Higher-Layer Features of a Deep Network", 2009.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import keras
import numpy as np

from fer_keras import IMAGE_SIZE, VAL_SPLIT
from fer_keras.data import loading as data
from fer_keras.data import pipeline
from fer_keras.data.image_files import DEFAULT_MAX_PIXELS, size_refusal
from fer_keras.evaluation.metrics import save_figure
from fer_keras.evaluation.run_dir import Run, load_run
from fer_keras.explain.graph import conv_layers, resolve_layer, score_model
from fer_keras.explain.methods import (
    confident_mistakes,
    filter_on_face,
    filter_patterns,
    grad_cam,
    saliency,
    smoothgrad,
)
from fer_keras.explain.names import METHODS
from fer_keras.explain.plots import (
    plot_explanations,
    plot_filters,
    plot_mistakes,
    plot_training_curves,
)
from fer_keras.models.saving import float32_model

__all__ = ["conv_layers", "resolve_layer", "score_model", "saliency", "smoothgrad", "grad_cam",
           "filter_patterns", "filter_on_face", "confident_mistakes", "run_model",
           "plot_explanations", "plot_filters", "plot_mistakes", "plot_training_curves",
           "explain_model"]


def run_model(run: Run) -> keras.Model:
    """The differentiable model behind a run's scores: its network, or network → feature head.

    A frozen-feature L2-SVM run (``head.keras``) is explained through its own head on the network's
    features (:meth:`~fer_keras.evaluation.run_dir.Run.joined_model`). An SVC is not
    differentiable, so an ``svc`` run is explained through the network's softmax layer, the one
    its features were trained with. The model computes in float32
    (:func:`~fer_keras.models.saving.float32_model`), whatever policy it was trained under.
    """
    return float32_model(run.joined_model())


_MAPS = {"saliency": saliency, "smoothgrad": smoothgrad, "gradcam": grad_cam}


def _read_pngs(paths) -> np.ndarray:
    """Grey faces of any size, resized to the whole-face side, as the dataset's faces."""
    images = []
    for path in paths:
        refused = size_refusal(path, DEFAULT_MAX_PIXELS)  # from its header, before decoding
        if refused:
            raise ValueError(f"{path}: {refused}")
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"{path}: not a readable image")
        if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
            image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
        images.append(image)
    return np.stack(images)


def _one_per_class(labels: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` indices taking each class in turn (first of every class, then second...)."""
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    order = [idx[rank] for rank in range(max(map(len, by_class), default=0))
             for idx in by_class if rank < len(idx)]
    return np.asarray(order[:n], dtype="int64")


def _split(run: Run, split: str, data_path) -> tuple[np.ndarray, np.ndarray]:
    path = data_path or run.data_path()
    dataset = data.load_dataset(path)
    if split not in dataset:
        raise ValueError(f"{path or data.default_data_path()}: the data has no {split} rows; "
                         f"its splits: {', '.join(dataset)}")
    return dataset[split]


def explain_model(model=None, method: str = "gradcam", *, images=None, split: str = VAL_SPLIT,
                  data_path=None, layer: str | None = None, n: int | None = None,
                  tta: str | None = None, seed: int = 0, out=None) -> list[Path]:
    """Draw one of :data:`~fer_keras.explain.names.METHODS` for a model and write its PNGs;
    returns their paths.

    Args:
        model: a run directory, a ``.keras`` file or a packaged name (default ``cpu_fast``).
        method: ``saliency``, ``smoothgrad``, ``gradcam``, ``filters`` or ``mistakes``.
        images: PNG paths (grey, any size) explained instead of the faces of ``split``.
        split: the split the faces (one per emotion) and the mistakes come from.
        data_path: data to read instead of the run's own.
        layer: gradcam/filters: a layer name or path (default: the last conv layer).
        n: faces to explain (default 7, one per emotion) or filters to draw (default 16).
        tta: the test-time views of the explained scores (default: the run's own).
        seed: SmoothGrad's and the filter patterns' noise.
        out: the folder of the PNGs (default ``explain/`` in :meth:`Run.output_dir`).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}. Accepted values: {', '.join(METHODS)}.")
    if method == "mistakes" and images:
        raise ValueError("the mistakes method needs labelled images: a split, not images")
    run = load_run(model)
    net = run_model(run)
    if method in ("gradcam", "filters"):
        members = run.config.get("members") or []
        if run.config.get("kind") == "ensemble" and len(members) > 1:
            raise ValueError(f"{run.run_dir}: {method} shows one network's conv layer, and "
                             f"this ensemble averages {len(members)}; explain a member (e.g. "
                             f"{members[0]['run_dir']}), or use saliency, smoothgrad or mistakes.")
        layer = resolve_layer(net, layer)
    else:
        layer = None
    out = Path(out) if out else run.output_dir() / "explain"
    keras.utils.set_random_seed(seed)
    mode, names = run.tta_mode(tta), run.class_names
    paths = images
    if paths:
        images, labels, source = _read_pngs(paths), None, "images"
    else:
        images, labels = _split(run, split, data_path)
        labels, source = run.labels(labels), split

    if method == "mistakes":
        mistakes = confident_mistakes(run.scores(images, tta=mode), labels)
        title = (f"{run.run_dir.name}, {source}, TTA {mode}: most confident mistakes "
                 "(Δ: score of predicted − score of true)")
        return [save_figure(plot_mistakes(images, mistakes, names, title=title),
                            out / f"mistakes_{source}.png")]

    if labels is not None:
        pick = _one_per_class(labels, n or len(names))
        images, labels = images[pick], labels[pick]
    else:
        images = images[:n] if n else images
    # the whole faces, equalised as in training; the network takes its own views of them
    seen = pipeline.equalize_images(images, run.config.get("equalize"))
    if method == "filters":
        stem = f"filters_{layer.replace('/', '-')}"
        count = n or 16
        patterns = filter_patterns(net, layer, count, seed=seed)
        on_face = filter_on_face(net, seen[0], layer, count)
        return [save_figure(plot_filters(patterns, title=f"{layer}: from noise"),
                            out / f"{stem}.png"),
                save_figure(plot_filters(on_face, title=f"{layer}: gradient added to a face"),
                            out / f"{stem}_on_face.png")]

    options = {"seed": seed} if method == "smoothgrad" else {}
    if layer is not None:
        options["layer"] = layer
    # the class the run predicts (with its SVC or feature head and views) is the one explained
    predicted = run.scores(images, tta=mode).argmax(axis=1)
    maps = _MAPS[method](net, seen, predicted, tta=mode, **options)
    shown = ([Path(p).stem for p in paths] if labels is None
             else [names[c] for c in labels])
    titles = [f"{name} → {names[p]}" for name, p in zip(shown, predicted)]
    fig = plot_explanations(seen, {f"{method} ({layer})" if layer else method: maps}, titles)
    fig.suptitle(f"{run.run_dir.name}: {source}, TTA {mode} (label → predicted)", fontsize=9)
    return [save_figure(fig, out / f"{method}_{source}.png")]
