"""The evaluation layer: metrics, test-time augmentation, the run-directory API and `evaluate`.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments; explain
and inference import only data, models and evaluation.
"""
