"""Public names re-exported by a package and imported on first use (PEP 562).

``fer_keras`` and its subpackages re-export their public names as scikit-learn's ``__init__``
files do, but lazily: ``import fer_keras`` or ``from fer_keras import load_fer2013`` never
loads TensorFlow; ``from fer_keras import EmotionRecognizer`` loads what the recognizer needs.

Example:
    >>> __getattr__, __dir__ = lazy_exports(globals(), {"load_run": "fer_keras.evaluation.run_dir"})
    ...                                                         # doctest: +SKIP
"""

from __future__ import annotations

import importlib


def lazy_exports(namespace: dict, exports: dict[str, str]):
    """``(__getattr__, __dir__)`` for a package whose ``namespace`` re-exports ``exports``.

    Args:
        namespace: the package's ``globals()``; each name is cached there on first use.
        exports: ``{public name: module defining it}``; ``"module:attr"`` re-exports ``attr``
            under the public name; a submodule named as itself (``{"cnn":
            "fer_keras.models.cnn"}``) is the module.
    """
    package = namespace["__name__"]

    def __getattr__(name: str):
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = target.partition(":")
        loaded = importlib.import_module(module)
        value = loaded if module == f"{package}.{name}" else getattr(loaded, attr or name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
