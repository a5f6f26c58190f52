"""Why a model decides: saliency, SmoothGrad, Grad-CAM, filter patterns, mistakes.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments; explain
and inference import only data, models and evaluation.
"""
