"""The training layer: recipes, the epoch loop, callbacks, resume, distribution, `train`.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments; explain
and inference import only data, models and evaluation.
"""
