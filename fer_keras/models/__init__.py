"""Model families for FER2013, behind one name → builder registry.

Every model is a functional Keras model taking raw 0–255 pixels of shape ``input_shape``
(preprocessing is inside the model, so a saved ``.keras`` file needs nothing else), with a
``"features"`` layer (the learned representation the SVM heads share) and a ``"predictions"`` layer
(class scores). The public names below load on first use: the names of what the package builds
(:mod:`fer_keras.models.names`) come without Keras.

Example:
    >>> from fer_keras.models import build_model, list_models
    >>> list_models()
    ['bst261_cnn', 'resnet18', 'shallow_cnn', 'susa_cnn', 'vgg16_nin', 'vgg16_transfer', 'vgg_fer']
    >>> model = build_model("shallow_cnn", head="softmax")
"""

from fer_keras._lazy import lazy_exports

_EXPORTS = {
    "ARCHITECTURES": "fer_keras.models.names",
    "FEATURE_LAYER": "fer_keras.models.names",
    "OUTPUT_LAYER": "fer_keras.models.names",
    "ModelSpec": "fer_keras.models.registry",
    "build_model": "fer_keras.models.registry",
    "get_spec": "fer_keras.models.registry",
    "list_models": "fer_keras.models.registry",
    "register_model": "fer_keras.models.registry",
    # the families' modules, and distillation's (its loss and metrics load distilled runs)
    **{module: f"fer_keras.models.{module}"
       for module in ("bst261", "cnn", "distillation", "resnet", "susa", "vgg", "vgg_fer")},
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
