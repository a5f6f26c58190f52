"""Export a trained model to SavedModel, TFLite or ONNX, checked against the Keras model.

``python -m fer_keras.export models/shallow_cnn_softmax_X --format tflite [--quantize int8]``
writes ``best.tflite`` (or ``best_saved_model/``, ``best.onnx``; ``_int8`` before the suffix when
quantised) into the run directory, a ``<export>.json`` beside it saying what the exported graph
expects, and checks parity on the PublicTest faces of the data (the embedded real sample by
default): float exports must give the same predictions as Keras with every score within
:data:`TOLERANCE`; an int8 export reports its accuracy change instead, as quantisation changes
scores by design.

The exported graph is the network with its head (softmax, end-to-end L2-SVM, or a frozen-feature
L2-SVM head joined on), taking float32 ``(n, 48, 48, 1)`` raw 0–255 grey faces (a network trained
on crops gets its test-time views cut and averaged inside the graph, ``--tta``); histogram
equalisation, when the run used it, stays outside the graph and is named in the JSON. An SVC head
is scikit-learn, not a graph: such a run is refused (export ``RUN/best.keras``, the network alone).
ONNX goes through ``tf2onnx`` and is checked with ``onnxruntime`` (``pip install tf2onnx
onnxruntime``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np

from fer_keras import CLASS_NAMES, VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.data import pipeline
from fer_keras.evaluation.evaluate import load_run
from fer_keras.evaluation.tta import TTA_MODES, view_model
from fer_keras.models import heads
from fer_keras.models.saving import load_model_file

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZE = ("int8",)
#: Largest absolute score difference a float export may show against the Keras model.
TOLERANCE = 1e-4
_SUFFIX = {"saved_model": "_saved_model", "tflite": ".tflite", "onnx": ".onnx"}


def load_graph_model(source: str | os.PathLike, tta: str | None = None
                     ) -> tuple[keras.Model, dict, Path]:
    """``(Keras model to export, run config, base path)`` of a run directory or ``.keras`` file.

    A frozen-feature L2-SVM run is joined into one model (network features → head). The model
    takes whole 48x48 faces: a network trained on crops gets the views of ``tta`` (default: the
    run's own ``"tta"``) cut and averaged inside the graph
    (``fer_keras.evaluation.tta.view_model``).
    """
    model, config, base = _load_graph_model(Path(source))
    mode = tta or config.get("tta") or "none"
    return view_model(model, mode), {**config, "tta": mode}, base


def _load_graph_model(source: Path) -> tuple[keras.Model, dict, Path]:
    if source.is_dir():
        run = load_run(source)
        if run.svc is not None:
            raise ValueError(f"{source} has an SVC head (scikit-learn), which no graph format "
                             f"holds; export its network alone: {source / 'best.keras'}")
        model = run.model
        if run.feature_head is not None:
            layer = model.get_layer(run.config.get("feature_layer", heads.FEATURE_LAYER))
            model = keras.Model(model.input, run.feature_head(layer.output), name="network_head")
        return model, run.config, source / "best.keras"
    if source.is_file():
        beside = source.with_name("config.json")
        config = _io.read_json(beside) if beside.is_file() else {}
        return load_model_file(source), config, source
    raise FileNotFoundError(f"No model at {source}: pass a run directory or a .keras file.")


def export_model(source, format: str, out=None, *, quantize: str | None = None,
                 data_path=None, tolerance: float = TOLERANCE, tta: str | None = None) -> dict:
    """Export ``source`` (run directory or ``.keras`` file) and check it against Keras.

    Args:
        format: one of :data:`FORMATS`.
        out: the file (folder for ``saved_model``) to write; default beside the ``.keras`` file.
        quantize: ``"int8"`` (``tflite`` only): full-integer weights and activations, calibrated
            on Training faces, float input and output kept.
        data_path: data whose PublicTest faces check parity (default: the embedded sample).
        tolerance: largest score difference allowed for float exports.
        tta: test-time views averaged inside the graph (default: the run's own; see
            :func:`load_graph_model`).

    Returns:
        The report also written to ``<out>.json``: format, paths, expected input, preprocessing,
        class names and ``parity`` (see :func:`parity`).
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown format {format!r}. Accepted values: {', '.join(FORMATS)}.")
    if quantize not in (None, *QUANTIZE) or (quantize and format != "tflite"):
        raise ValueError(f"quantize={quantize!r} is not available for {format}; int8 is for "
                         "tflite.")
    model, config, base = load_graph_model(source, tta)
    equalize = config.get("equalize")
    dataset = data.load_dataset(data_path or data.sample_path())
    if VAL_SPLIT not in dataset:
        raise ValueError(f"The parity check needs {VAL_SPLIT} faces; the data has only "
                         f"{', '.join(dataset)}.")
    faces, labels = dataset[VAL_SPLIT]
    x = _inputs(faces, equalize)
    reference = model.predict_on_batch(x)  # also builds the model, as the ONNX exporter requires
    name = base.stem + ("_int8" if quantize else "") + _SUFFIX[format]
    out = Path(out) if out else base.with_name(name)
    if format == "saved_model":
        _save_dir(out, lambda tmp: model.export(tmp, format="tf_saved_model", verbose=False))
        run = _saved_model_runner(out)
    elif format == "tflite":
        calibration = _inputs(data.train_split(dataset)[0][:200], equalize) if quantize else None
        with _io.atomic_path(out) as tmp:
            tmp.write_bytes(_tflite_bytes(model, calibration))
        run = _tflite_runner(out)
    else:
        _require_onnx()
        with _io.atomic_path(out) as tmp:
            model.export(tmp, format="onnx", verbose=False)
        run = _onnx_runner(out)
    report = {"format": format, "quantize": quantize, "path": str(out), "source": str(source),
              "input": "float32 (n, 48, 48, 1): raw 0-255 grey faces",
              "equalize": equalize, "tta": config["tta"], "head": config.get("head"),
              "class_names": list(CLASS_NAMES),
              "parity": parity(reference, run(x), labels, None if quantize else tolerance)}
    _io.write_json(Path(f"{out}.json"), report)
    return report


def parity(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray,
           tolerance: float | None) -> dict:
    """Compare the scores of the Keras model and of an export on the same faces.

    ``passed`` (float exports, ``tolerance`` given): every prediction equal and every score within
    ``tolerance``; ``None`` for a quantised export, judged by its ``accuracy_change``.
    """
    reference, exported = np.asarray(reference), np.asarray(exported)
    diff = float(np.max(np.abs(reference - exported))) if reference.size else 0.0
    same = reference.argmax(axis=1) == exported.argmax(axis=1)
    keras_acc = float(np.mean(reference.argmax(axis=1) == labels))
    export_acc = float(np.mean(exported.argmax(axis=1) == labels))
    return {"n": int(len(labels)), "split": VAL_SPLIT, "max_abs_diff": diff,
            "tolerance": tolerance, "predictions_equal": bool(same.all()),
            "agreement": float(same.mean()), "accuracy_keras": keras_acc,
            "accuracy_export": export_acc, "accuracy_change": export_acc - keras_acc,
            "passed": None if tolerance is None else bool(same.all() and diff <= tolerance)}


def _inputs(faces, equalize):
    return pipeline.equalize_images(faces, equalize).astype(np.float32)[..., None]


def _save_dir(out: Path, write) -> None:
    # A folder cannot be swapped in atomically over an existing one; the old one goes just before.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _io.temp_dir(f".{out.name}.", out.parent)
    try:
        write(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _saved_model_runner(path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept: its functions need its variables alive
    return lambda x: loaded.serve(x).numpy()


def _tflite_bytes(model: keras.Model, calibration: np.ndarray | None) -> bytes:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        # Through a SavedModel: TFLiteConverter.from_keras_model expects a tf.keras model.
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if calibration is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([face[None]] for face in calibration)
        return converter.convert()


def _tflite_runner(path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that it moved to ai_edge_litert
        warnings.simplefilter("ignore")
        interpreter = Interpreter(model_path=str(path))
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(x):
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(outp["index"])

    return run


def _require_onnx():
    missing = [m for m in ("tf2onnx", "onnxruntime") if not _importable(m)]
    if missing:
        raise ImportError(f"ONNX export needs {' and '.join(missing)}: pip install "
                          f"{' '.join(missing)}")


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _onnx_runner(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def format_report(report: dict) -> str:
    """Two lines: where the export went, and its parity with Keras."""
    p = report["parity"]
    verdict = {True: "PASSED", False: "FAILED", None: "reported"}[p["passed"]]
    tol = f" (tolerance {p['tolerance']:g})" if p["tolerance"] is not None else ""
    return (f"wrote {report['path']} ({report['format']}"
            f"{', ' + report['quantize'] if report['quantize'] else ''})\n"
            f"parity {verdict} on {p['n']} {p['split']} faces: max |score diff| "
            f"{p['max_abs_diff']:.2e}{tol}, same prediction {p['agreement']:.1%}, accuracy "
            f"{p['accuracy_keras']:.4f} → {p['accuracy_export']:.4f} "
            f"({p['accuracy_change']:+.4f})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fer_keras.export",
                                description=__doc__.split("\n")[0])
    p.add_argument("source", metavar="RUN_OR_FILE", help="a run directory or a .keras file")
    p.add_argument("--format", required=True, choices=FORMATS, help="export format")
    p.add_argument("--quantize", choices=QUANTIZE, help="int8 quantisation (tflite)")
    p.add_argument("--out", help="file (folder for saved_model) to write (default: beside the "
                                 ".keras file)")
    p.add_argument("--data", help="FER2013 CSV or PNG tree whose PublicTest faces check parity "
                                  "(default: the embedded sample)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help=f"largest score difference of a float export (default {TOLERANCE:g})")
    p.add_argument("--tta", choices=TTA_MODES, help="test-time views averaged inside the graph "
                   "(default: the run's own)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = export_model(args.source, args.format, args.out, quantize=args.quantize,
                              data_path=args.data, tolerance=args.tolerance, tta=args.tta)
    except (OSError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 1 if report["parity"]["passed"] is False else 0

