"""What ``fer_keras.models`` builds, by name, without Keras: the names a config or a command names.

``fer-keras train --help`` and :mod:`fer_keras.training.config` read these without loading
TensorFlow; the modules that build what they name (:mod:`~fer_keras.models.heads`,
:mod:`~fer_keras.models.schedules`, the families behind :mod:`~fer_keras.models.registry`) take
them from here.

Example:
    >>> from fer_keras.models.names import ARCHITECTURES, HEADS
    >>> "shallow_cnn" in ARCHITECTURES, HEADS
    (True, ('softmax', 'l2svm', 'svc'))
"""

from __future__ import annotations

__all__ = ["ARCHITECTURES", "FEATURE_LAYER", "HEADS", "NETWORK_HEADS", "OUTPUT_LAYER",
           "SCHEDULES", "SVC_KERNELS", "SVC_KINDS"]

#: The built-in architectures: :func:`~fer_keras.models.registry.list_models` once their
#: families are loaded (a test keeps the two equal); a model registered by a user adds to those.
ARCHITECTURES = ("bst261_cnn", "resnet18", "shallow_cnn", "susa_cnn", "vgg16_nin",
                 "vgg16_transfer", "vgg_fer")

#: Name of the layer whose output is the learned feature vector in every registered model; the SVC
#: and frozen-feature L2-SVM heads read it.
FEATURE_LAYER = "features"
#: Name of the classifier (score) layer in every registered model.
OUTPUT_LAYER = "predictions"

#: Heads accepted by ``fer_keras.train --head``.
HEADS = ("softmax", "l2svm", "svc")
#: Heads that are a layer of the network (the ``"svc"`` head is fitted after the network, on
#: features).
NETWORK_HEADS = ("softmax", "l2svm")
#: ``make_svc(kind=...)`` values: kernel SVC (libsvm) or the fast linear one (liblinear).
SVC_KINDS = ("svc", "linear_svc")
#: Kernels of the ``svc`` kind (scikit-learn's ``SVC(kernel=...)``).
SVC_KERNELS = ("rbf", "linear", "poly", "sigmoid")

#: Learning-rate schedules (:func:`fer_keras.models.schedules.make_schedule`).
SCHEDULES = ("plateau", "constant", "step", "cosine", "onecycle")
