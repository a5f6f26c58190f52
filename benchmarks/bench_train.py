"""Training throughput per registered model: the real input pipeline against pre-made tensors.

    python benchmarks/bench_train.py [--models shallow_cnn,...] [--steps 30] [--rounds 3]
        [--batch-size 64] [--mixed-precision] [--speedups]

For each model, in this one run: images/s training on `fer_keras.data.pipeline.make_dataset`
(shuffling, augmentation on) and on one pre-made batch repeated from memory, alternated ``--rounds``
times (the median of each is reported), the pipeline's overhead (1 - pipeline / memory), the model's
forward FLOPs per image (convolutions and dense layers, counted from the layer shapes) and the
achieved training FLOP/s (taken as 3x forward). The first epoch (tracing and compilation) is not
timed.
Data: the embedded sample, cycled. ``cpu_fast`` is that recipe's network on 40-px crops with its
augmentation.

First, the default augmentation alone: one ``RandomAffine`` resampling against the chain of Keras
layers (rotation, translation, zoom) it replaced. ``--speedups`` then times the CPU speed-ups tried
for the ``cpu_fast`` recipe on its model, one after the other in this run, from pre-made tensors:
float32 against mixed bfloat16, XLA (``jit_compile``) off and on, batch 64 against 128, whole
48-px faces against the recipe's 40-px crops; each ratio is against the first row.
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from fer_keras.data.loading import load_dataset, sample_path
from fer_keras.data.pipeline import augmentation, make_dataset
from fer_keras.models import build_model, list_models
from fer_keras.models.heads import head_loss
from fer_keras.training.recipes import RECIPES, recipe_config


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


def bench(name, x, y, steps, batch_size, options, jit_compile=False, pipeline=True, rounds=1):
    augment, side = True, None
    if name in RECIPES and name not in list_models():  # a recipe's model, side and augmentation
        cfg = recipe_config(name)
        augment, side = cfg["augment"], cfg.get("crop")
        options = {**cfg["model_options"], **options}
        model = build_model(cfg["model"], **({"input_shape": (side, side, 1)} if side else {}),
                            **options)
    else:
        model = build_model(name, **options)
    model.compile(optimizer="adam", loss=head_loss("softmax"), jit_compile=jit_compile)
    side = model.input_shape[1]  # vgg_fer trains on 40x40 crops: the pipeline crops for it
    crop = side if side < 48 else None
    real = make_dataset(x, y, batch_size=batch_size, training=True, augment=augment, crop=crop,
                        drop_remainder=True).repeat()
    xb = tf.constant(np.resize(x[:, :side, :side], (batch_size, side, side))[..., None]
                     .astype("float32"))
    yb = tf.constant(np.resize(y, batch_size))
    memory = tf.data.Dataset.from_tensors((xb, yb)).repeat()
    # Alternate the two feeds and take each one's median: on a shared VM the speed of the same
    # feed drifts by 10% or more from one minute to the next, more than the overhead measured.
    times = {"memory": [], "pipeline": []}
    for _ in range(rounds):
        times["memory"].append(images_per_second(model, memory, steps, batch_size))
        if pipeline:
            times["pipeline"].append(images_per_second(model, real, steps, batch_size))
    ips_memory = float(np.median(times["memory"]))
    ips_real = float(np.median(times["pipeline"])) if pipeline else ips_memory
    flops = forward_flops(model)
    return {"model": name, "pipeline_img_s": ips_real, "memory_img_s": ips_memory,
            "rounds": times,
            "overhead": 1 - ips_real / ips_memory, "gflops_per_image": flops / 1e9,
            "achieved_gflop_s": 3 * flops * ips_memory / 1e9}


def speedups(x, y, steps) -> list[dict]:
    """Images/s of shallow_cnn (``cpu_fast``: on 40-px crops) from memory under each setting;
    ratios against float32."""
    settings = [("float32, batch 64", "float32", 64, False, "shallow_cnn"),
                ("bfloat16, batch 64", "mixed_bfloat16", 64, False, "shallow_cnn"),
                ("bfloat16, batch 64, XLA", "mixed_bfloat16", 64, True, "shallow_cnn"),
                ("bfloat16, batch 128", "mixed_bfloat16", 128, False, "shallow_cnn"),
                ("bfloat16, batch 64, 40-px crops", "mixed_bfloat16", 64, False, "cpu_fast")]
    rows, previous = [], keras.config.dtype_policy()
    for label, policy, batch, jit, name in settings:
        keras.config.set_dtype_policy(policy)
        r = bench(name, x, y, steps, batch, {}, jit_compile=jit, pipeline=False)
        rows.append({"setting": label, "memory_img_s": r["memory_img_s"]})
        print(f"{label:<28} {r['memory_img_s']:7.1f} img/s   "
              f"{r['memory_img_s'] / rows[0]['memory_img_s']:5.2f}x float32", flush=True)
    keras.config.set_dtype_policy(previous)
    return rows


def augmentation_speed(x, batches: int = 200, batch_size: int = 64) -> dict:
    """Images/s of the default augmentation alone on one tf.data thread: fer_keras's one
    ``RandomAffine`` resampling against the chain of Keras layers it replaced (same draws' ranges:
    flip, rotation 10 degrees, shift 0.1, zoom 0.1), one after the other in this run."""
    L = keras.layers
    chain = keras.Sequential([
        L.RandomFlip("horizontal", seed=0),
        L.RandomRotation(10.0 / 360.0, fill_mode="reflect", seed=1),
        L.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=2),
        L.RandomZoom(0.1, fill_mode="reflect", seed=3)])
    ours = augmentation(True, seed=0)
    images = tf.data.Dataset.from_tensor_slices(np.resize(x, (batch_size * 50, 48, 48))[..., None])
    result = {}
    for label, layers in (("keras chain", chain), ("RandomAffine", ours)):
        ds = images.batch(batch_size).repeat().map(
            lambda b, layers=layers: layers(tf.cast(b, tf.float32), training=True),
            num_parallel_calls=1).prefetch(1)
        it = iter(ds)
        for _ in range(20):
            next(it)
        start = time.perf_counter()
        for _ in range(batches):
            next(it)
        result[label] = batches * batch_size / (time.perf_counter() - start)
        print(f"augmentation {label:<14} {result[label]:8.0f} img/s (one thread)", flush=True)
    print(f"augmentation speed-up          {result['RandomAffine'] / result['keras chain']:5.2f}x")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(list_models() + ["cpu_fast"]),
                        help="registered models and recipes (default: every model, and the "
                             "cpu_fast recipe's shallow_cnn on 40-px crops)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate memory and pipeline this many times; medians reported")
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16")
    parser.add_argument("--speedups", action="store_true",
                        help="also time fp32/bf16, XLA and batch size on shallow_cnn")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    x, y = load_dataset(sample_path())["Training"]
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    rows = [{"augmentation_img_s": augmentation_speed(x)}]
    for name in args.models.split(","):
        options = {"weights": None} if "vgg16" in name else {}
        rows.append(bench(name, x, y, args.steps, args.batch_size, options, rounds=args.rounds))
        r = rows[-1]
        print(f"{r['model']:<16} pipeline {r['pipeline_img_s']:7.1f} img/s   memory "
              f"{r['memory_img_s']:7.1f} img/s   overhead {r['overhead']:6.1%}   "
              f"{r['gflops_per_image']:.3f} GFLOP/img   {r['achieved_gflop_s']:6.1f} GFLOP/s",
              flush=True)
    print(f"cpus: {os.cpu_count()}  batch: {args.batch_size}  steps timed: {args.steps} x "
          f"{args.rounds} rounds  "
          f"policy: {keras.config.dtype_policy().name}  tf {tf.__version__}  "
          f"keras {keras.__version__}")
    if args.speedups:
        rows += speedups(x, y, args.steps)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
