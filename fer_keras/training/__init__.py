"""The training layer: the config object, recipes, the epoch loop, callbacks, resume, distribution.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments. The public
names below load on first use.
"""

from fer_keras._lazy import lazy_exports

_EXPORTS = {
    "train_model": "fer_keras.training.train:train",
    "resume": "fer_keras.training.train",
    "TrainConfig": "fer_keras.training.config",
    "resolve_config": "fer_keras.training.config",
    "RECIPES": "fer_keras.training.recipes",
    "list_recipes": "fer_keras.training.recipes",
    "recipe_config": "fer_keras.training.recipes",
    "teacher_probabilities": "fer_keras.training.teacher",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
