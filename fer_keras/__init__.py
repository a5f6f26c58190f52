"""fer_keras: facial expression recognition on FER2013 with Keras 3."""

import os

# TensorFlow's C++ start-up chatter buries the CLIs' output; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

#: The seven FER2013 emotions, in label order (label ``i`` is ``CLASS_NAMES[i]``).
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: The ``Usage`` values of fer2013.csv and the role fer_keras gives each split.
USAGES = ("Training", "PublicTest", "PrivateTest")
TRAIN_SPLIT, VAL_SPLIT, TEST_SPLIT = USAGES

IMAGE_SIZE = 48
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
