"""Export a trained model to SavedModel, TFLite or ONNX, checked against the Keras model.

``fer-keras export MODEL --format tflite [--quantize int8] [--out DIR]`` (or ``python -m
fer_keras.export``; ``MODEL`` or ``--model MODEL``: a run directory, a ``.keras`` file or a
packaged name, default ``cpu_fast``) writes ``model.tflite`` (``model_int8.tflite`` when quantised;
``saved_model/``, ``model.onnx`` for the other formats) into ``--out`` (default: the run
directory, a ``.keras`` file's folder, or the current folder for a packaged model, which is never
written into), a ``<export>.json`` beside it saying what the exported graph expects, and checks
parity on the PublicTest faces of the data (the embedded real sample by default): float exports
must give the same predictions as Keras with every score within :data:`TOLERANCE` (relative to
the largest score above 1); an int8 export reports its accuracy change instead, as quantisation
changes scores by design.

The exported graph is the network with its head (softmax, end-to-end L2-SVM, or a frozen-feature
L2-SVM head joined on), taking float32 ``(n, 48, 48, 1)`` raw 0–255 grey faces (a network trained
on crops gets its test-time views cut and averaged inside the graph, ``--tta``, by default the
model's own); histogram equalisation, when the run used it, stays outside the graph and is named
in the JSON. The graph computes in float32 whatever policy the network trained under: a
``mixed_bfloat16`` network (``cpu_fast``) is rebuilt in float32 with the same weights
(:func:`~fer_keras.models.saving.float32_model`), since neither TFLite's builtin kernels nor ONNX
Runtime run bfloat16; the report also says how far its float32 scores are from its bfloat16
ones. An SVC head is scikit-learn, not a graph: such a run is refused (export the network's
``best.keras`` alone). ONNX goes through ``tf2onnx`` and is checked with ``onnxruntime``
(``pip install tf2onnx onnxruntime``).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from fer_keras import IMAGE_SIZE, VAL_SPLIT, _io
from fer_keras.data import loading as data
from fer_keras.data import pipeline
from fer_keras.evaluation.run_dir import Run, load_run
from fer_keras.evaluation.tta import view_model
from fer_keras.inference import export_formats as formats
from fer_keras.inference.export_formats import FORMATS, QUANTIZE, TOLERANCE, export_name
from fer_keras.models.saving import compute_dtype, float32_model


def load_graph_model(source=None, tta: str | None = None) -> tuple[keras.Model, dict, Run]:
    """``(Keras model to export, run config, Run)`` of a run directory, ``.keras`` file or packaged
    name (:func:`~fer_keras.evaluation.run_dir.load_run`).

    A frozen-feature L2-SVM run is joined into one model (network features → head), computing in
    float32 (:func:`~fer_keras.models.saving.float32_model`). The model takes whole 48x48 faces:
    a network trained on crops gets the views of ``tta`` (default: the run's own ``"tta"``) cut
    and averaged inside the graph (``fer_keras.evaluation.tta.view_model``).

    Raises:
        ValueError: an SVC run; the one-line message names the run and its network file.
    """
    run = load_run(source)
    if run.svc is not None:
        raise ValueError(f"{run.run_dir}: cannot be exported: its SVC head is scikit-learn, which "
                         f"no graph format holds; export its network alone: {run.network_file}")
    mode = run.tta_mode(tta)
    return view_model(float32_model(run.joined_model()), mode), {**run.config, "tta": mode}, run


def export_model(source, format: str, out=None, *, quantize: str | None = None,
                 data_path=None, tolerance: float = TOLERANCE, tta: str | None = None) -> dict:
    """Export ``source`` (run directory, ``.keras`` file or packaged name) and check it.

    Args:
        format: one of :data:`FORMATS`.
        out: the folder to write into (default: the run's
            :meth:`~fer_keras.evaluation.run_dir.Run.output_dir`, never the installed package);
            the export is named by :func:`export_name` (``model.tflite``, ``model_int8.tflite``,
            ``model.onnx``, ``saved_model/``).
        quantize: ``"int8"`` (``tflite`` only): full-integer weights and activations, calibrated
            on Training faces, float input and output kept.
        data_path: data whose PublicTest faces check parity (default: the embedded sample).
        tolerance: largest score difference allowed for float exports (times the largest
            score when it exceeds 1; see :func:`parity`).
        tta: test-time views averaged inside the graph (default: the run's own; see
            :func:`load_graph_model`).

    Returns:
        The report also written to ``<export>.json`` beside the export: format, paths, expected
        input, preprocessing, class names, ``parity`` (see :func:`parity`) and, for a network
        trained in mixed precision (``trained_dtype``), ``float32_rebuild``: the agreement of
        the exported float32 graph with the network in its own dtype.

    Example:
        >>> export_model("cpu_fast", "tflite", "exports")["path"]  # doctest: +SKIP
        'exports/model.tflite'
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown format {format!r}. Accepted values: {', '.join(FORMATS)}.")
    if quantize not in (None, *QUANTIZE) or (quantize and format != "tflite"):
        raise ValueError(f"quantize={quantize!r} is not available for {format}; int8 is for "
                         "tflite.")
    model, config, run = load_graph_model(source, tta)
    equalize = config.get("equalize")
    dataset = data.load_dataset(data_path or data.sample_path())
    if VAL_SPLIT not in dataset:
        raise ValueError(f"{data_path}: the parity check needs {VAL_SPLIT} faces; the data has "
                         f"only {', '.join(dataset)}.")
    faces, labels = dataset[VAL_SPLIT][0], run.labels(dataset[VAL_SPLIT][1])
    x = _inputs(faces, equalize)
    reference = model.predict_on_batch(x)  # also builds the model, as the ONNX exporter requires
    trained_dtype = compute_dtype(run.model)
    rebuild = None
    if trained_dtype != "float32":
        own = view_model(run.joined_model(), config["tta"]).predict_on_batch(x)
        rebuild = {key: value for key, value in parity(own, reference, labels, None).items()
                   if key in ("max_abs_diff", "agreement", "accuracy_keras", "accuracy_export")}
    out = Path(out if out else run.output_dir()) / export_name(format, quantize)
    if format == "saved_model":
        formats.save_dir(out, lambda tmp: model.export(tmp, format="tf_saved_model", verbose=False))
        runner = formats.saved_model_runner(out)
    elif format == "tflite":
        calibration = _inputs(data.train_split(dataset)[0][:200], equalize) if quantize else None
        with _io.atomic_path(out) as tmp:
            tmp.write_bytes(formats.tflite_bytes(model, calibration))
        runner = formats.tflite_runner(out)
    else:
        formats.require_onnx()
        with _io.atomic_path(out) as tmp:
            formats.write_onnx(model, tmp)
        runner = formats.onnx_runner(out)
    report = {"format": format, "quantize": quantize, "path": str(out),
              "source": str(run.run_dir if source is None else source),
              "input": f"float32 (n, {IMAGE_SIZE}, {IMAGE_SIZE}, 1): raw 0-255 grey faces",
              "equalize": equalize, "tta": config["tta"], "head": config.get("head"),
              "class_names": list(run.class_names), "trained_dtype": trained_dtype,
              "float32_rebuild": rebuild,
              "parity": parity(reference, runner(x), labels, None if quantize else tolerance)}
    _io.write_json(Path(f"{out}.json"), report)
    return report


def parity(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray,
           tolerance: float | None) -> dict:
    """Compare the scores of the Keras model and of an export on the same faces.

    ``passed`` (float exports, ``tolerance`` given): every prediction equal and every score within
    ``tolerance`` times ``scale`` (the largest absolute score, at least 1: float32 rounding grows
    with the scores); ``None`` for a quantised export, judged by its ``accuracy_change``.
    """
    reference, exported = np.asarray(reference), np.asarray(exported)
    diff = float(np.max(np.abs(reference - exported))) if reference.size else 0.0
    scale = max(1.0, float(np.max(np.abs(reference)))) if reference.size else 1.0
    same = reference.argmax(axis=1) == exported.argmax(axis=1)
    keras_acc = float(np.mean(reference.argmax(axis=1) == labels))
    export_acc = float(np.mean(exported.argmax(axis=1) == labels))
    return {"n": int(len(labels)), "split": VAL_SPLIT, "max_abs_diff": diff,
            "tolerance": tolerance, "scale": scale, "predictions_equal": bool(same.all()),
            "agreement": float(same.mean()), "accuracy_keras": keras_acc,
            "accuracy_export": export_acc, "accuracy_change": export_acc - keras_acc,
            "passed": None if tolerance is None else bool(same.all() and
                                                          diff <= tolerance * scale)}


def _inputs(faces, equalize):
    return pipeline.equalize_images(faces, equalize).astype(np.float32)[..., None]


def format_report(report: dict) -> str:
    """Two lines: where the export went, and its parity with Keras (a third for a float32
    rebuild: how far it is from the network in its trained dtype)."""
    p = report["parity"]
    verdict = {True: "PASSED", False: "FAILED", None: "reported"}[p["passed"]]
    tol = "" if p["tolerance"] is None else f" (tolerance {p['tolerance']:g}" + (
        f" x largest score {p['scale']:.3g})" if p.get("scale", 1.0) > 1 else ")")
    lines = (f"wrote {report['path']} ({report['format']}"
             f"{', ' + report['quantize'] if report['quantize'] else ''})\n"
             f"parity {verdict} on {p['n']} {p['split']} faces: max |score diff| "
             f"{p['max_abs_diff']:.2e}{tol}, same prediction {p['agreement']:.1%}, accuracy "
             f"{p['accuracy_keras']:.4f} → {p['accuracy_export']:.4f} "
             f"({p['accuracy_change']:+.4f})")
    rebuild = report.get("float32_rebuild")
    if rebuild:
        lines += (f"\nfloat32 graph of a {report['trained_dtype']} network: same prediction "
                  f"{rebuild['agreement']:.1%}, max |score diff| {rebuild['max_abs_diff']:.2e}, "
                  f"accuracy {rebuild['accuracy_keras']:.4f} in {report['trained_dtype']}, "
                  f"{rebuild['accuracy_export']:.4f} in float32")
    return lines
