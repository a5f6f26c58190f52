"""Trained models on real images: reading, face detection, the recognizer, video, export,
packaged models.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments; explain
and inference import only data, models and evaluation.
"""
