"""Training throughput per registered model: the real input pipeline against pre-made tensors.

    python benchmarks/bench_train.py [--models shallow_cnn,...] [--steps 30] [--batch-size 64]

For each model, in this one run: images/s training on `fer_keras.pipeline.make_dataset` (shuffling,
augmentation on) and on one pre-made batch repeated from memory, the pipeline's overhead
(1 - pipeline / memory), the model's forward FLOPs per image (convolutions and dense layers, counted
from the layer shapes) and the achieved training FLOP/s (taken as 3x forward). The first epoch
(tracing and compilation) is not timed. Data: the embedded sample, cycled.
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from fer_keras.data import load_dataset, sample_path
from fer_keras.heads import head_loss
from fer_keras.models import build_model, list_models
from fer_keras.pipeline import make_dataset


def forward_flops(model) -> int:
    """Multiply-adds x 2 of every Conv2D / DepthwiseConv2D / Dense layer, nested models included."""
    total = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            total += 2 * h * w * c * np.prod(layer.kernel_size)
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c = layer.output.shape
            total += 2 * h * w * c * np.prod(layer.kernel_size) * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return int(total)


class _Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def images_per_second(model, ds, steps, batch_size) -> float:
    timer = _Timer()
    model.fit(ds, epochs=2, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    return steps * batch_size / timer.seconds


def bench(name, x, y, steps, batch_size, options):
    model = build_model(name, **options)
    model.compile(optimizer="adam", loss=head_loss("softmax"), jit_compile=False)
    real = make_dataset(x, y, batch_size=batch_size, training=True, augment=True,
                        drop_remainder=True).repeat()
    xb = tf.constant(np.resize(x, (batch_size, 48, 48))[..., None].astype("float32"))
    yb = tf.constant(np.resize(y, batch_size))
    memory = tf.data.Dataset.from_tensors((xb, yb)).repeat()
    ips_memory = images_per_second(model, memory, steps, batch_size)
    ips_real = images_per_second(model, real, steps, batch_size)
    flops = forward_flops(model)
    return {"model": name, "pipeline_img_s": ips_real, "memory_img_s": ips_memory,
            "overhead": 1 - ips_real / ips_memory, "gflops_per_image": flops / 1e9,
            "achieved_gflop_s": 3 * flops * ips_memory / 1e9}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(list_models()))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    x, y = load_dataset(sample_path())["Training"]
    rows = []
    for name in args.models.split(","):
        options = {"weights": None} if "vgg16" in name else {}
        rows.append(bench(name, x, y, args.steps, args.batch_size, options))
        r = rows[-1]
        print(f"{r['model']:<16} pipeline {r['pipeline_img_s']:7.1f} img/s   memory "
              f"{r['memory_img_s']:7.1f} img/s   overhead {r['overhead']:6.1%}   "
              f"{r['gflops_per_image']:.3f} GFLOP/img   {r['achieved_gflop_s']:6.1f} GFLOP/s",
              flush=True)
    print(f"cpus: {os.cpu_count()}  batch: {args.batch_size}  steps timed: {args.steps}  "
          f"tf {tf.__version__}  keras {keras.__version__}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
