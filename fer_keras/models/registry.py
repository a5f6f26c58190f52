"""The name → builder registry behind :func:`fer_keras.models.build_model`.

The built-in families (:data:`FAMILIES`) register themselves when first imported, which the
registry does the first time it is asked for a name: ``fer_keras.models`` itself loads nothing
until a name of it is used, so that the names of :mod:`fer_keras.models.names` come without Keras.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import keras

__all__ = ["FAMILIES", "ModelSpec", "build_model", "get_spec", "list_models", "load_families",
           "register_model"]

#: The modules of the built-in families, each registering its builders (and custom layers).
FAMILIES = ("bst261", "cnn", "resnet", "susa", "vgg", "vgg_fer")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model family.

    Attributes:
        name: registry name, e.g. ``"shallow_cnn"``.
        builder: ``builder(input_shape, num_classes, **options) -> keras.Model``.
        fine_tune: for transfer models, ``fine_tune(model) -> model`` makes the phase-2 layers
            trainable; ``None`` for models trained from scratch in one phase.
    """

    name: str
    builder: Callable[..., keras.Model]
    fine_tune: Callable[[keras.Model], keras.Model] | None = None


_REGISTRY: dict[str, ModelSpec] = {}
_families_loaded = False


def load_families() -> None:
    """Import the built-in families (once): their builders register, their layers can load."""
    global _families_loaded
    if _families_loaded:
        return
    _families_loaded = True  # first: each family's own register_model call comes back here
    for family in FAMILIES:
        importlib.import_module(f"fer_keras.models.{family}")


def register_model(name: str, *, fine_tune: Callable[[keras.Model], keras.Model] | None = None):
    """Decorator adding a builder to the registry under ``name``.

    Example:
        >>> @register_model("tiny")
        ... def tiny(input_shape=(48, 48, 1), num_classes=7): ...
    """
    load_families()  # a name taken by a built-in family is taken before that family loads

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = ModelSpec(name, builder, fine_tune)
        return builder

    return decorator


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    load_families()
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name``; the error lists the accepted names."""
    load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Accepted names: {', '.join(list_models())}."
        ) from None


def build_model(name: str, input_shape=(48, 48, 1), num_classes: int = 7, **options) -> keras.Model:
    """Build the registered model ``name``.

    Args:
        name: one of :func:`list_models`.
        input_shape: shape of one raw 0–255 image, channels last.
        num_classes: number of output scores.
        **options: builder-specific options (e.g. ``filters`` for ``shallow_cnn``, ``weights`` and
            ``image_size`` for ``vgg16_transfer``, ``head`` for every model).

    Example:
        >>> model = build_model("shallow_cnn", head="l2svm")
    """
    builder = get_spec(name).builder
    return builder(input_shape=tuple(input_shape), num_classes=num_classes, **options)
