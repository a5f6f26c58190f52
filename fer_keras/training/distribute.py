"""Data-parallel training with ``tf.distribute``: several GPUs, or several machines.

``fer_keras.train --strategy``:

- ``auto`` (default): ``MirroredStrategy`` over every local GPU when there are two or more,
  otherwise TensorFlow's default strategy (one device, no overhead).
- ``mirrored``: ``MirroredStrategy`` over every local GPU, or over every logical CPU device when
  there is no GPU (one CPU device unless ``tf.config.set_logical_device_configuration`` made more).
- ``multiworker``: ``MultiWorkerMirroredStrategy`` across the machines ``TF_CONFIG`` lists; every
  worker runs the same command.

``batch_size`` is per replica: a step reads ``batch_size x replicas`` images (the global batch) and
each replica computes the gradient of its share, all-reduced before every update; ``config.json``
records ``replicas`` and ``global_batch_size``. The learning rate is the configured one, not scaled
with the replicas: Adam (the default) normalises its steps per parameter and is far less sensitive
to the batch size than SGD, and the plateau schedule lowers the rate when PublicTest stops
improving. With SGD, the linear scaling rule (rate x replicas, Goyal et al. 2017) is the usual
starting point: pass it with ``--learning-rate``.

Reference:
    P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from fer_keras.training.config import STRATEGIES


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (see the module docstring).

    Create it before anything else touches TensorFlow: ``MultiWorkerMirroredStrategy`` configures
    the collective ops of the process, which is only possible before the runtime starts.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Accepted values: {', '.join(STRATEGIES)}.")
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("--strategy multiworker needs the TF_CONFIG environment variable "
                             "(cluster addresses and this worker's task); see the README.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(
            gpus or [d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()


def worker_index() -> int:
    """This process's worker index under ``TF_CONFIG`` (0, the chief, without it)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    index = int(task.get("index", 0))
    # A "chief" task, when the cluster has one, is the chief; "worker" tasks then count from 1.
    if task.get("type") == "worker" and "chief" in config.get("cluster", {}):
        index += 1
    return index


def shard(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Let the strategy split ``dataset`` by batches (``DATA`` sharding).

    The datasets are built from in-memory arrays, so there are no files to split between workers
    (the default ``AUTO`` policy would try ``FILE``, warn and fall back to ``DATA`` anyway).
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def fix_multiworker_fit(model: keras.Model, strategy: tf.distribute.Strategy,
                        dataset: tf.data.Dataset) -> None:
    """Work around two bugs of Keras 3's ``fit`` under ``MultiWorkerMirroredStrategy``.

    Both are in keras/src/backend/tensorflow/trainer.py (Keras 3.15, keras-team/keras#20585) and
    fail on the first step with several workers:

    - before training, ``fit`` builds metrics and optimizer from a first batch averaged across
      replicas with ``strategy.reduce``, which fails on the (images, labels) tuple ("Attempt to
      convert a value (PerReplica...)"). Only shapes and dtypes matter there, so the model builds
      from a zero batch of ``dataset``'s element spec instead, locally.
    - every step's logs are averaged with ``strategy.reduce("MEAN", value, axis=0)``, which fails
      on scalars ("Invalid reduction dimension 0"). The steps return them with a length-1 axis;
      the values are metric results, already summed across replicas, so the mean is unchanged.

    Does nothing under any other strategy.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    batch = tf.nest.map_structure(
        lambda spec: tf.zeros([d or 1 for d in spec.shape], spec.dtype), dataset.element_spec)

    def symbolic_build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=batch)

    def with_axis(step):
        return lambda data: tf.nest.map_structure(lambda v: tf.reshape(v, [1]), step(data))

    model._maybe_symbolic_build = symbolic_build
    model.train_step, model.test_step = with_axis(model.train_step), with_axis(model.test_step)


class SyncReplicaStats(keras.callbacks.Callback):
    """Average BatchNormalization's moving statistics across replicas before they are used.

    Keras updates ``moving_mean``/``moving_variance`` on each replica from its own share of the
    batch, without aggregation, so replicas drift apart and a saved model would carry replica 0's
    statistics of half the data. Averaging them before every validation and at every epoch end
    (before checkpoints are written) keeps every replica, and every worker, identical; the mean of
    the replicas' moving means is the moving mean of the global batches.
    """

    def __init__(self, strategy: tf.distribute.Strategy):
        super().__init__()
        self.strategy = strategy
        self._sync = None

    def _variables(self):
        layers, found = list(self.model.layers), []
        while layers:
            layer = layers.pop()
            layers += getattr(layer, "layers", [])  # nested models (a backbone)
            if isinstance(layer, keras.layers.BatchNormalization):
                found += [layer.moving_mean.value, layer.moving_variance.value]
        return found

    def sync(self):
        """All-reduce (mean) the statistics in every replica, in place."""
        if self._sync is None:
            variables = self._variables()

            def replica_fn():
                context = tf.distribute.get_replica_context()
                means = context.all_reduce(tf.distribute.ReduceOp.MEAN,
                                           [tf.identity(v) for v in variables])
                for variable, mean in zip(variables, means):
                    variable.assign(mean)

            self._sync = tf.function(lambda: self.strategy.run(replica_fn))
        self._sync()

    def on_test_begin(self, logs=None):
        self.sync()

    def on_epoch_end(self, epoch, logs=None):
        self.sync()
