"""fer_keras: facial expression recognition on FER2013 with Keras 3."""

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
