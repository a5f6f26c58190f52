"""What ``fer_keras.explain`` draws, by name, without Keras: ``fer-keras explain --method``
checks a name against these before TensorFlow loads."""

from __future__ import annotations

__all__ = ["METHODS"]

#: Saliency, SmoothGrad, Grad-CAM (the last conv layer's evidence), filters (patterns from noise
#: and on a face) and the most confident mistakes (:func:`fer_keras.explain.run.explain_model`).
METHODS = ("saliency", "smoothgrad", "gradcam", "filters", "mistakes")
