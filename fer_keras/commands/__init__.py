"""Every command: its parser and ``main(argv=None) -> int``, over library calls.

One module per command (``convert``, ``train``, ``compare``, ``evaluate``, ``predict``,
``explain``, ``export``, ``ensemble``, ``search``, ``package``, ``serve``,
``make_registration``); what they share is in ``_common`` (the one error path, Ctrl-C, quiet
TensorFlow, the shared flags) and ``_training`` (the base config of a training command).
``fer-keras COMMAND`` (:mod:`fer_keras.cli`) and the ``python -m fer_keras.X`` faces run them.

This is the top layer: it may import every other one, and none imports it. Library code never
imports a command module; the public names are in ``fer_keras`` and its subpackages.
"""
