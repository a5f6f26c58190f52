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

``python -m fer_keras.explain RUN_DIR --method gradcam`` writes the PNGs of a run directory into
``RUN_DIR/explain/`` (faces from PublicTest, one per emotion; ``--images`` for your own PNGs).

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

import argparse
import sys
from pathlib import Path

import cv2
import keras
import numpy as np

from fer_keras import CLASS_NAMES, USAGES, VAL_SPLIT
from fer_keras.data import loading as data
from fer_keras.data import pipeline
from fer_keras.evaluation.evaluate import Run, load_run
from fer_keras.evaluation.metrics import save_figure
from fer_keras.explain.graph import as_input, conv_layers, resolve_layer, score_model
from fer_keras.explain.methods import (
    confident_mistakes,
    filter_on_face,
    filter_patterns,
    grad_cam,
    saliency,
    smoothgrad,
)
from fer_keras.explain.plots import (
    plot_explanations,
    plot_filters,
    plot_mistakes,
    plot_training_curves,
)
from fer_keras.models import heads

__all__ = ["conv_layers", "resolve_layer", "score_model", "saliency", "smoothgrad", "grad_cam",
           "filter_patterns", "filter_on_face", "confident_mistakes", "run_model",
           "plot_explanations", "plot_filters", "plot_mistakes", "plot_training_curves", "main"]


def run_model(run: Run) -> keras.Model:
    """The differentiable model behind a run's scores: its network, or network → feature head.

    A frozen-feature L2-SVM run (``head.keras``) is explained through its own head on the network's
    features. An SVC is not differentiable, so an ``svc`` run is explained through the network's
    softmax layer, the one its features were trained with.
    """
    if run.feature_head is None:
        return run.model
    features = run.model.get_layer(run.config.get("feature_layer", heads.FEATURE_LAYER)).output
    return keras.Model(run.model.inputs, run.feature_head(features),
                       name=f"{run.model.name}_{run.feature_head.name}")


METHODS = ("saliency", "smoothgrad", "gradcam", "filters", "mistakes")
_MAPS = {"saliency": saliency, "smoothgrad": smoothgrad, "gradcam": grad_cam}


class _UsageError(Exception):
    """A problem with the command line's inputs, reported in one line with exit status 2."""


def _read_pngs(paths, size) -> np.ndarray:
    images = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise _UsageError(f"{path}: not a readable image")
        if image.shape != size:
            image = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA)
        images.append(image)
    return np.stack(images)


def _one_per_class(labels: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` indices taking each class in turn (first of every class, then second...)."""
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    order = [idx[rank] for rank in range(max(map(len, by_class), default=0))
             for idx in by_class if rank < len(idx)]
    return np.asarray(order[:n], dtype="int64")


def _split(run: Run, args) -> tuple[np.ndarray, np.ndarray]:
    try:
        dataset = data.load_dataset(args.data or run.config.get("data"))
    except (OSError, ValueError) as err:
        raise _UsageError(f"cannot read the data: {err}") from None
    if args.split not in dataset:
        raise _UsageError(f"the data has no {args.split} rows; its splits: {', '.join(dataset)}")
    return dataset[args.split]


def _explain(args) -> list[Path]:
    try:
        run = load_run(args.run_dir)
    except (FileNotFoundError, ValueError) as err:
        raise _UsageError(str(err)) from None
    model = run_model(run)
    layer = None
    if args.method in ("gradcam", "filters"):
        try:
            layer = resolve_layer(model, args.layer)
        except ValueError as err:
            raise _UsageError(str(err)) from None
    out = Path(args.out) if args.out else run.run_dir / "explain"
    equalize = run.config.get("equalize")
    size = tuple(model.inputs[0].shape[1:3])
    if args.images:
        images, labels, source = _read_pngs(args.images, size), None, "images"
    else:
        images, labels = _split(run, args)
        source = args.split

    if args.method == "mistakes":
        if labels is None:
            raise _UsageError("--method mistakes needs labelled images: use --split, not --images")
        mistakes = confident_mistakes(run.scores(images), labels)
        title = (f"{run.run_dir.name}, {source}: most confident mistakes "
                 "(Δ: score of predicted − score of true)")
        return [save_figure(plot_mistakes(images, mistakes, title=title),
                            out / f"mistakes_{source}.png")]

    if labels is not None:
        pick = _one_per_class(labels, args.n or len(CLASS_NAMES))
        images, labels = images[pick], labels[pick]
    else:
        images = images[:args.n] if args.n else images
    seen = pipeline.equalize_images(images, equalize)
    if args.method == "filters":
        stem = f"filters_{layer.replace('/', '-')}"
        count = args.n or 16
        patterns = filter_patterns(model, layer, count, seed=args.seed)
        on_face = filter_on_face(model, seen[0], layer, count)
        return [save_figure(plot_filters(patterns, title=f"{layer}: from noise"),
                            out / f"{stem}.png"),
                save_figure(plot_filters(on_face, title=f"{layer}: gradient added to a face"),
                            out / f"{stem}_on_face.png")]

    options = {"seed": args.seed} if args.method == "smoothgrad" else {}
    if layer is not None:
        options["layer"] = layer
    maps = _MAPS[args.method](model, seen, **options)
    predicted = model.predict(as_input(seen, model), verbose=0).argmax(axis=1)
    names = ([Path(p).stem for p in args.images] if labels is None
             else [CLASS_NAMES[c] for c in labels])
    titles = [f"{name} → {CLASS_NAMES[p]}" for name, p in zip(names, predicted)]
    fig = plot_explanations(seen, {f"{args.method} ({layer})" if layer else args.method: maps},
                            titles)
    fig.suptitle(f"{run.run_dir.name}: {source} (label → predicted)", fontsize=9)
    return [save_figure(fig, out / f"{args.method}_{source}.png")]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_keras.explain",
                                description=__doc__.split("\n")[0])
    p.add_argument("run_dir", help="a run directory (models/<model>_<head>_<timestamp>)")
    p.add_argument("--method", required=True, choices=METHODS, help="what to draw")
    p.add_argument("--images", nargs="+", metavar="PNG",
                   help="explain these images (grey, resized to the model's input) instead of a "
                        "split")
    p.add_argument("--split", default=VAL_SPLIT, choices=USAGES,
                   help=f"split to draw faces and mistakes from (default {VAL_SPLIT})")
    p.add_argument("--data", help="FER2013 CSV or PNG tree (default: the run's own data)")
    p.add_argument("--layer", help="gradcam/filters: layer name or path such as "
                                   "vgg16/block5_conv3 (default: the last conv layer)")
    p.add_argument("--n", type=int, help="faces to explain (default 7, one per emotion) or "
                                         "filters to draw (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seeds SmoothGrad and filter noise (0)")
    p.add_argument("--out", help="folder for the PNGs (default RUN_DIR/explain)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        written = _explain(args)
    except _UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0

