"""Model families for FER2013, behind one name → builder registry.

Every model is a functional Keras model taking raw 0–255 pixels of shape ``input_shape``
(preprocessing is inside the model, so a saved ``.keras`` file needs nothing else), with a
``"features"`` layer (the learned representation the SVM heads share) and a ``"predictions"`` layer
(class scores).

Example:
    >>> from fer_keras.models import build_model, list_models
    >>> list_models()
    ['shallow_cnn', 'vgg16_transfer']
    >>> model = build_model("shallow_cnn", head="softmax")
"""

from fer_keras.models import cnn, vgg
from fer_keras.models.registry import (
    FEATURE_LAYER,
    OUTPUT_LAYER,
    ModelSpec,
    build_model,
    get_spec,
    list_models,
    register_model,
)

__all__ = [
    "FEATURE_LAYER",
    "OUTPUT_LAYER",
    "ModelSpec",
    "build_model",
    "cnn",
    "get_spec",
    "list_models",
    "register_model",
    "vgg",
]
