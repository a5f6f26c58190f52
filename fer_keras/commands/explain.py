"""``fer-keras explain`` (``python -m fer_keras.explain``): why a model decides — saliency,
SmoothGrad, Grad-CAM, filters, most confident mistakes (see :mod:`fer_keras.explain.run`).

``--help`` and a usage error, an unknown ``--method`` included, never load TensorFlow.

Example:
    $ fer-keras explain cpu_fast --method gradcam --out explain/
"""

from __future__ import annotations

import argparse

from fer_keras import USAGES, VAL_SPLIT
from fer_keras.commands import _common as common
from fer_keras.evaluation.packaged import DEFAULT_MODEL
from fer_keras.explain.names import METHODS


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("explain", "See why a model decides: saliency, SmoothGrad, Grad-CAM, "
                      "filters, most confident mistakes.")
    common.add_model(p, default=DEFAULT_MODEL)
    p.add_argument("--method", required=True, choices=METHODS, metavar="METHOD",
                   help="what to draw: saliency, smoothgrad, gradcam (the last conv layer's "
                   "evidence), filters (patterns from noise and on a face) or mistakes (the most "
                   "confident ones)")
    p.add_argument("--images", nargs="+", metavar="PNG",
                   help="explain these images (grey, any size) instead of a split")
    p.add_argument("--split", default=VAL_SPLIT, choices=USAGES,
                   help=f"split to draw faces and mistakes from (default {VAL_SPLIT})")
    common.add_data(p, "the run's own; for a packaged model dataset/fer2013.csv if present, "
                    "else the embedded sample")
    p.add_argument("--layer", help="gradcam/filters: layer name or path such as "
                                   "vgg16/block5_conv3 (default: the last conv layer)")
    p.add_argument("--n", type=int, help="faces to explain (default 7, one per emotion) or "
                                         "filters to draw (default 16)")
    common.add_tta(p, "the explained scores (maps and mistakes)")
    common.add_seed(p)  # SmoothGrad's and the filter patterns' noise
    common.add_out(p, "the PNGs", shown_default="RUN/explain, a .keras file's folder/explain, "
                   "or ./explain for a packaged model")
    return p


@common.command
def main(argv=None) -> int:
    """Explain and print the path of every PNG written."""
    parser = build_parser()
    args, model = common.parse_with_model(parser, argv)
    if args.method == "mistakes" and args.images:
        parser.error("--method mistakes needs labelled images: use --split, not --images")
    common.quiet_tensorflow()
    from fer_keras.explain.run import explain_model

    for path in explain_model(model, args.method, images=args.images, split=args.split,
                              data_path=args.data, layer=args.layer, n=args.n, tta=args.tta,
                              seed=args.seed, out=args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
