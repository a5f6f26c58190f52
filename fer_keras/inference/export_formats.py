"""The formats behind :mod:`fer_keras.inference.export`: writing each, and running it back.

Each writer takes a Keras inference graph (float32, whole faces in) and writes one format; each
runner loads the written file and maps a float32 batch to scores, for the parity check. TFLite
goes through a SavedModel, ONNX through ``tf2onnx`` on the frozen graph. TensorFlow loads in
the functions that need it, so the names of the formats come without it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fer_keras import _io

if TYPE_CHECKING:
    import keras

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZE = ("int8",)
#: Largest score difference a float export may show against the Keras model, relative to the
#: largest score when that exceeds 1 (the margins of an L2-SVM head can reach thousands).
TOLERANCE = 1e-4
#: The name of each export inside ``--out`` (``model_int8.tflite`` when quantised).
FILE_NAMES = {"saved_model": "saved_model", "tflite": "model.tflite", "onnx": "model.onnx"}


def export_name(format: str, quantize: str | None = None) -> str:
    """The file (folder for ``saved_model``) an export is written as inside ``--out``."""
    name = FILE_NAMES[format]
    if not quantize:
        return name
    stem, dot, suffix = name.partition(".")
    return f"{stem}_{quantize}{dot}{suffix}"


def save_dir(out: Path, write) -> None:
    """Run ``write(folder)`` into a temporary folder beside ``out``, then put it in place."""
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


def saved_model_runner(path):
    """Scores of a SavedModel written by Keras (its ``serve`` endpoint)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept: its functions need its variables alive
    return lambda x: loaded.serve(x).numpy()


def tflite_bytes(model: keras.Model, calibration: np.ndarray | None) -> bytes:
    """``model`` as TFLite; full-integer int8 (float input and output) given ``calibration``."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        # Through a SavedModel: TFLiteConverter.from_keras_model expects a tf.keras model.
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if calibration is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([face[None]] for face in calibration)
        return converter.convert()


def tflite_runner(path):
    """Scores of a ``.tflite`` file, any batch size, on every core."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that it moved to ai_edge_litert
        warnings.simplefilter("ignore")
        # every core: the parity check runs every face's views (4,010 crops for cpu_fast)
        interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(x):
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(outp["index"])

    return run


def require_onnx():
    """Raise the one-line error saying what to install when tf2onnx or onnxruntime is missing."""
    missing = [m for m in ("tf2onnx", "onnxruntime") if not _importable(m)]
    if missing:  # a RuntimeError: the one error line of the command, not a traceback
        raise RuntimeError(f"ONNX export needs {' and '.join(missing)}: pip install "
                          f"{' '.join(missing)}")


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def write_onnx(model: keras.Model, path: Path) -> None:
    """``model`` as ONNX: its inference function frozen, then converted by ``tf2onnx``.

    ``model.export(format="onnx")`` hands tf2onnx the function with the tensors it captures,
    which tf2onnx leaves as graph inputs nobody feeds: an adapted ``Normalization`` (the
    frozen-feature L2-SVM head's) keeps its mean and variance as such tensors. Frozen first, every
    captured tensor and variable is a constant of the graph.
    """
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    try:  # Keras' own ONNX export applies this fix of tf2onnx for NumPy 2 first
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError:
        pass
    else:
        patch_tf2onnx()
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="face")
    frozen = convert_variables_to_constants_v2(
        tf.function(lambda x: model(x, training=False)).get_concrete_function(spec))
    tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(),
                                   input_names=[t.name for t in frozen.inputs],
                                   output_names=[t.name for t in frozen.outputs],
                                   output_path=str(path))


def onnx_runner(path):
    """Scores of an ``.onnx`` file through ONNX Runtime on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]
