"""The heads ``compare`` fits, by name, without Keras: ``fer-keras compare --help`` lists them.

:mod:`fer_keras.experiments.compare` fits and scores them
(:mod:`~fer_keras.experiments.compare_heads`).
"""

from __future__ import annotations

__all__ = ["HEADS", "TRAINED_ON"]

#: The heads compare fits, in table order: the network's own softmax, Tang's L2-SVM layer, an
#: RBF SVC and a LinearSVC (the L2-SVM's objective, solved by liblinear).
HEADS = ("softmax", "l2svm", "svc", "linear_svc")
#: What each head learns from, as the comparison's table says it.
TRAINED_ON = {"softmax": "end to end with the features",
              "l2svm": "frozen features (squared hinge + L2, Keras)",
              "svc": "frozen features (StandardScaler + RBF SVC)",
              "linear_svc": "frozen features (StandardScaler + LinearSVC)"}
