"""Multi-run experiments: the head comparison, k-fold, blending, ensembles, sweeps, search.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments; explain
and inference import only data, models and evaluation.
"""
