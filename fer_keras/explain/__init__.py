"""Why a model decides: saliency, SmoothGrad, Grad-CAM, filter patterns, confident mistakes.

Imports only data, models and evaluation. The public names below load on first use.
"""

from fer_keras._lazy import lazy_exports

_EXPORTS = {
    "METHODS": "fer_keras.explain.names",
    "saliency": "fer_keras.explain.methods",
    "smoothgrad": "fer_keras.explain.methods",
    "grad_cam": "fer_keras.explain.methods",
    "filter_patterns": "fer_keras.explain.methods",
    "filter_on_face": "fer_keras.explain.methods",
    "confident_mistakes": "fer_keras.explain.methods",
    "conv_layers": "fer_keras.explain.graph",
    "score_model": "fer_keras.explain.graph",
    "run_model": "fer_keras.explain.run",
    "explain_model": "fer_keras.explain.run",
    "plot_explanations": "fer_keras.explain.plots",
    "plot_filters": "fer_keras.explain.plots",
    "plot_mistakes": "fer_keras.explain.plots",
    "plot_training_curves": "fer_keras.explain.plots",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
