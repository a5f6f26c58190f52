"""fer_keras: facial expression recognition on FER2013 with Keras 3.

The public API, in the style of scikit-learn's re-exports (each name loads on first use, so
``import fer_keras`` and the data functions never load TensorFlow):

    >>> from fer_keras import EmotionRecognizer, packaged_models   # doctest: +SKIP
    >>> EmotionRecognizer("cpu_fast").detect("group.jpg")          # doctest: +SKIP
    >>> run_dir = train(recipe_config("cpu_fast"), data="dataset/fer2013.csv")   # doctest: +SKIP
    >>> evaluate(run_dir, ["PublicTest"])["PublicTest"]["accuracy"]               # doctest: +SKIP

Each subpackage (``data``, ``models``, ``evaluation``, ``training``, ``experiments``,
``explain``, ``inference``) states its own public names in ``__all__``.
"""

import os

# TensorFlow's C++ start-up chatter buries the CLIs' output; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# So do FFmpeg's and OpenCV's own lines about a damaged video or a missing camera ("header
# damaged", "moov atom not found"), beside the one error line fer_keras prints: read when OpenCV
# opens its first video, so set before any is. FER_KERAS_VERBOSE=1 shows them.
if os.environ.get("FER_KERAS_VERBOSE", "") in ("", "0"):
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

__version__ = "0.1.0"

#: The seven FER2013 emotions, in label order (label ``i`` is ``CLASS_NAMES[i]``).
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: The ``Usage`` values of fer2013.csv and the role fer_keras gives each split.
USAGES = ("Training", "PublicTest", "PrivateTest")
TRAIN_SPLIT, VAL_SPLIT, TEST_SPLIT = USAGES

IMAGE_SIZE = 48
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE

from fer_keras._lazy import lazy_exports  # noqa: E402  (after the environment is set)

_EXPORTS = {
    # photos, videos, a webcam
    "EmotionRecognizer": "fer_keras.inference.recognizer",
    "ImageResult": "fer_keras.inference.results",
    # models: packaged, trained, exported
    "packaged_models": "fer_keras.evaluation.packaged",
    "load_run": "fer_keras.evaluation.run_dir",
    "Run": "fer_keras.evaluation.run_dir",
    "read_run": "fer_keras.evaluation.run_files",
    "export_model": "fer_keras.inference.export",
    "package_run": "fer_keras.inference.pretrained",
    # data
    "load_fer2013": "fer_keras.data.loading",
    "load_dataset": "fer_keras.data.loading",
    "load_ferplus": "fer_keras.data.ferplus",
    "class_names": "fer_keras.data.loading",
    # training, evaluation, experiments
    "train": "fer_keras.training.train:train",
    "resume": "fer_keras.training.train",
    "resolve_config": "fer_keras.training.config",
    "recipe_config": "fer_keras.training.recipes",
    "list_recipes": "fer_keras.training.recipes",
    "evaluate": "fer_keras.evaluation.evaluate:evaluate_run",
    "compare_heads": "fer_keras.experiments.compare:compare",
}
__all__ = ["CLASS_NAMES", "IMAGE_SIZE", "USAGES", "__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
