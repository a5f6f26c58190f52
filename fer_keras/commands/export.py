"""``fer-keras export`` (``python -m fer_keras.export``): a model as SavedModel, TFLite or ONNX,
checked against the Keras model (see :mod:`fer_keras.inference.export`). ``--help`` and a usage
error never load TensorFlow.

Example:
    $ fer-keras export cpu_fast --format tflite --quantize int8 --out exports
"""

from __future__ import annotations

import argparse

from fer_keras.commands import _common as common
from fer_keras.evaluation.packaged import DEFAULT_MODEL
from fer_keras.inference.export_formats import FORMATS, QUANTIZE, TOLERANCE


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("export", "Export a trained model to SavedModel, TFLite or ONNX, checked "
                      "against the Keras model.")
    common.add_model(p, default=DEFAULT_MODEL)
    p.add_argument("--format", required=True, choices=FORMATS, help="export format")
    p.add_argument("--quantize", choices=QUANTIZE, help="int8 quantisation (tflite)")
    common.add_out(p, "the export (model.tflite, model_int8.tflite, model.onnx or saved_model/) "
                   "and its .json", shown_default="the run directory, or the current folder for "
                   "a packaged model")
    common.add_data(p, "the embedded sample; its PublicTest faces check parity")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help=f"largest score difference of a float export, times the largest "
                   f"score when it exceeds 1 (default {TOLERANCE:g})")
    common.add_tta(p, "the exported graph's scores")
    return p


@common.command
def main(argv=None) -> int:
    """Export and print the parity report; exit status 1 when a float export fails parity."""
    args, model = common.parse_with_model(build_parser(), argv)
    common.quiet_tensorflow()
    from fer_keras.inference.export import export_model, format_report

    report = export_model(model, args.format, args.out, quantize=args.quantize,
                          data_path=args.data, tolerance=args.tolerance, tta=args.tta)
    print(format_report(report))
    return 1 if report["parity"]["passed"] is False else 0


if __name__ == "__main__":
    raise SystemExit(main())
