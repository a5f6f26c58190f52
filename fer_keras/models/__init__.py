"""Model families for FER2013, behind one name → builder registry.

Every model is a functional Keras model taking raw 0–255 pixels of shape ``input_shape``
(preprocessing is inside the model, so a saved ``.keras`` file needs nothing else), with a
``"features"`` layer (the learned representation the SVM heads share) and a ``"predictions"`` layer
(class scores).

Example:
    >>> from fer_keras.models import build_model, list_models
    >>> list_models()
    ['bst261_cnn', 'resnet18', 'shallow_cnn', 'susa_cnn', 'vgg16_nin', 'vgg16_transfer', 'vgg_fer']
    >>> model = build_model("shallow_cnn", head="softmax")
"""

# distillation registers the loss and metrics a distilled run's best.keras is saved with
from fer_keras.models import bst261, cnn, distillation, resnet, susa, vgg, vgg_fer
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
    "bst261",
    "build_model",
    "cnn",
    "distillation",
    "get_spec",
    "list_models",
    "register_model",
    "resnet",
    "susa",
    "vgg",
    "vgg_fer",
]
