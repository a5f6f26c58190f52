"""Trained models on real images: reading, face detection, the recognizer, video, export,
packaged models, the web app.

Imports only data, models and evaluation. The public names below load on first use.
"""

from fer_keras._lazy import lazy_exports

_EXPORTS = {
    "EmotionRecognizer": "fer_keras.inference.recognizer",
    "ImageResult": "fer_keras.inference.results",
    "read_image": "fer_keras.inference.images",
    "draw_faces": "fer_keras.inference.images",
    "plot_faces": "fer_keras.inference.images",
    "ImageError": "fer_keras.inference.images",
    "make_detector": "fer_keras.inference.detectors",
    "default_detector": "fer_keras.inference.detectors",
    "Registration": "fer_keras.inference.registration",
    "FaceTracker": "fer_keras.inference.tracking",
    "analyse_video": "fer_keras.inference.video",
    "export_model": "fer_keras.inference.export",
    "package_run": "fer_keras.inference.pretrained",
    "create_app": "fer_keras.inference.serve_app",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
