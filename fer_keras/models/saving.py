"""Load ``.keras`` model files safely: ``safe_mode``, and a one-line error for a bad file.

Every layer and loss fer_keras saves is registered with
``keras.saving.register_keras_serializable`` and no model uses a ``Lambda`` layer, so every model
loads with ``safe_mode=True``: a file that would need to deserialise Python bytecode is refused.
A network trained under a mixed-precision policy computes in ``bfloat16`` when loaded;
:func:`float32_model` rebuilds it in float32 with the same weights, for the exporters and the
gradients of ``fer_keras.explain``.

Example:
    >>> model = load_model_file("models/shallow_cnn_softmax_20250101-120000/best.keras")
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import keras

from fer_keras._io import ModelFileError
from fer_keras.models import distillation, schedules  # noqa: F401  (register custom Keras objects)
from fer_keras.models.registry import load_families

__all__ = ["ModelFileError", "compute_dtype", "float32_model", "load_model_file"]

#: Members every ``.keras`` archive has (Keras 3 format).
KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")


def load_model_file(path: str | os.PathLike, *, num_classes: int | None = 7,
                    compile: bool = True) -> keras.Model:
    """Load a ``.keras`` file with ``safe_mode=True``, checking it is a whole image classifier.

    Args:
        path: the ``.keras`` file.
        num_classes: number of scores the model must output (``None``: any; use it for models
            that are not classifiers, such as a frozen-feature head).
        compile: restore the training config (loss, optimizer) too.

    Raises:
        ModelFileError: missing, truncated or corrupted file, another format, a model that needs
            unsafe deserialisation or unknown classes, weights that do not fit the architecture,
            or a model that does not map images to ``num_classes`` scores. The message starts with
            the path.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a .keras model file (not a zip archive: truncated, or "
                             "another format such as a legacy .h5)")
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [m for m in KERAS_MEMBERS if m not in archive.namelist()]
            damaged = None if missing else archive.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as err:
        raise ModelFileError(f"{path}: corrupted .keras archive ({err})") from None
    if missing:
        raise ModelFileError(f"{path}: not a Keras model archive (missing {', '.join(missing)})")
    if damaged:
        raise ModelFileError(f"{path}: corrupted .keras archive (bad checksum in {damaged})")
    load_families()  # their custom layers (and heads' loss) registered before any file loads
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as err:  # Keras raises ValueError, TypeError, KeyError, OSError... here
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(f"{path}: cannot load the model ({first_line})") from err
    if num_classes is not None:
        _check_classifier(path, model, num_classes)
    return model


def _check_classifier(path: Path, model: keras.Model, num_classes: int) -> None:
    inputs = [tuple(t.shape) for t in model.inputs]
    output = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else None
    if (len(inputs) != 1 or len(inputs[0]) != 4 or inputs[0][-1] not in (1, 3)
            or output is None or output[-1] != num_classes):
        raise ModelFileError(
            f"{path}: not a facial expression model: input {', '.join(map(str, inputs))}, output "
            f"{', '.join(str(tuple(t.shape)) for t in model.outputs)}; expected images "
            f"(None, height, width, 1 or 3) → (None, {num_classes})")


def compute_dtype(model: keras.Model) -> str:
    """The dtype policy ``model`` computes in: ``"float32"``, or the first other policy of its
    layers (nested models included), e.g. ``"mixed_bfloat16"`` for a mixed-precision run."""
    for layer in _layers(model):
        name = getattr(getattr(layer, "dtype_policy", None), "name", "float32")
        if name != "float32" and not isinstance(layer, keras.Model):
            return name
    return "float32"


def float32_model(model: keras.Model) -> keras.Model:
    """``model`` rebuilt under the float32 policy with the same weights; ``model`` itself when it
    computes in float32 already.

    A network trained in ``mixed_bfloat16`` keeps float32 weights but computes in bfloat16,
    which TFLite's builtin kernels and ONNX Runtime do not run, and which rounds gradients to 8
    bits. Its scores in float32 differ from its bfloat16 scores by bfloat16's rounding (about
    1e-2), rarely enough to change a prediction.

    Example:
        >>> graph = float32_model(load_model_file("fer_keras/pretrained/cpu_fast/best.keras"))
        >>> compute_dtype(graph)
        'float32'
    """
    if compute_dtype(model) == "float32":
        return model
    config = _float32_policies(keras.saving.serialize_keras_object(model))
    config.pop("compile_config", None)  # an inference graph: no loss, no optimizer
    rebuilt = keras.saving.deserialize_keras_object(config)
    # Layer by layer, as a .keras file loads: an adapted Normalization recomputes its mean and
    # variance from its variables here (set_weights would leave them at 0 and 1). Mixed policies
    # keep float32 variables, so the copy is exact.
    for source, target in zip(_layers(model), _layers(rebuilt), strict=True):
        store = {}
        source.save_own_variables(store)
        target.load_own_variables(store)
    return rebuilt


def _layers(model: keras.Model):
    """Every layer of ``model``, nested models' layers after the nested model, in order."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)


def _float32_policies(config):
    """``config`` (a serialised model) with every layer's dtype policy set to float32."""
    if isinstance(config, list):
        return [_float32_policies(item) for item in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") == "DTypePolicy":
        return {**config, "config": {**config["config"], "name": "float32"}}
    return {key: ("float32" if key == "dtype" and isinstance(value, str) and
                  value.startswith("mixed_") else _float32_policies(value))
            for key, value in config.items()}
