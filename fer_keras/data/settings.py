"""The preprocessing a run's config names (equalisation, augmentation), without TensorFlow.

:mod:`fer_keras.data.pipeline` applies them; :mod:`fer_keras.training.config` checks a config
against them, and ``--help`` states them, before TensorFlow loads.
"""

from __future__ import annotations

__all__ = ["DEFAULT_AUGMENT", "EQUALIZE_METHODS"]

#: Default augmentation: what the FER2013 literature uses, at strengths that keep a face a face.
#: ``resized_crop`` and ``erasing`` are off unless asked for (see
#: :func:`fer_keras.data.pipeline.augmentation`).
DEFAULT_AUGMENT = {"flip": True, "shift": 0.1, "rotation": 10.0, "zoom": 0.1, "shear": 0.0,
                   "resized_crop": None, "erasing": 0.0, "erasing_value": None}
#: Histogram equalisation before the network: none, OpenCV's ``equalizeHist`` or CLAHE.
EQUALIZE_METHODS = (None, "hist", "clahe")
