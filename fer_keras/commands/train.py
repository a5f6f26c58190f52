"""``fer-keras train`` (``python -m fer_keras.train``): train one model; every run writes its own
directory (see :mod:`fer_keras.training.train`).

Example:
    $ fer-keras train --arch shallow_cnn --head l2svm --epochs 30
    $ fer-keras train --resume models/shallow_cnn_l2svm_20261203-080819
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_keras import VAL_SPLIT
from fer_keras.commands import _common as common
from fer_keras.commands import _training
from fer_keras.data.ferplus import LABEL_SETS
from fer_keras.evaluation.run_files import read_config, read_metrics
from fer_keras.models import names
from fer_keras.training.config import DEFAULTS, OPTIMIZERS, STRATEGIES


def build_parser() -> argparse.ArgumentParser:
    """The train flags; each one given overrides ``--recipe``, ``--config`` and ``--set``."""
    d = DEFAULTS
    # Defaults stay out of the namespace (SUPPRESS) so that only flags actually given override a
    # --config file; the help texts state the defaults instead.
    p = common.parser("train", "Train a registered model; every run writes its own directory.",
                      argument_default=argparse.SUPPRESS)
    _training.add_config_options(p)
    _training.add_arch(p, f"architecture (default {d['model']})")
    p.add_argument("--head", choices=names.HEADS, help=f"classifier head (default {d['head']})")
    common.add_data(p)
    common.add_out(p, "the run directory", argparse.SUPPRESS, shown_default=d["out"])
    common.add_seed(p, default=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, help=f"(phase-1) epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"default {d['batch_size']}")
    p.add_argument("--learning-rate", type=float, help=f"default {d['learning_rate']}")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {d['optimizer']}")
    p.add_argument("--momentum", type=float, help=f"SGD's momentum (default {d['momentum']}; 0 "
                   "for Keras 2's plain SGD)")
    p.add_argument("--subset", type=float, help="stratified fraction of Training to use (1.0)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction,
                   help="flip/shift/rotate/zoom Training images (default on)")
    p.add_argument("--equalize", choices=["none", "hist", "clahe"], help="default none")
    p.add_argument("--class-weight", action=argparse.BooleanOptionalAction,
                   help="weight classes by inverse frequency (default off)")
    p.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                   help="mixed_bfloat16 (faster on CPUs with AVX512-BF16; default off)")
    p.add_argument("--schedule", choices=names.SCHEDULES, help="learning rate: halve on "
                   "PublicTest plateaus, constant, /10 at 50%% and 75%%, cosine decay to zero, or "
                   "one-cycle (warm-up then cosine) over the epochs (default plateau)")
    p.add_argument("--label-smoothing", type=float, help="softmax head (default 0)")
    p.add_argument("--weight-decay", type=float, help="decoupled weight decay (default: the "
                   "optimizer's own)")
    p.add_argument("--crop", type=int, help="train on random crops of this side, evaluate on "
                   "the center crop (default: whole 48x48 faces)")
    common.add_tta(p, "the reported PublicTest scores")
    p.add_argument("--merge-disgust", action=argparse.BooleanOptionalAction,
                   help="six classes: disgust counted as angry (default off)")
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                   help="compile train steps with XLA (default off)")
    p.add_argument("--early-stopping-patience", type=int, help="default "
                   f"{d['early_stopping_patience']}")
    p.add_argument("--reduce-lr-patience", type=int, help=f"default {d['reduce_lr_patience']}")
    p.add_argument("--fine-tune-epochs", type=int, help="phase-2 epochs for transfer models "
                   f"(default {d['fine_tune_epochs']})")
    p.add_argument("--fine-tune-learning-rate", type=float, help="phase-2 learning rate (default "
                   f"{d['fine_tune_learning_rate']})")
    p.add_argument("--weights", help="transfer models: imagenet, none or a weights file")
    p.add_argument("--model-options", type=_training.json_object, help="builder options as a "
                   "JSON object, e.g. '{\"filters\": [32, 64, 128]}'")
    p.add_argument("--feature-layer", help=f"layer the SVC reads (default {d['feature_layer']})")
    p.add_argument("--svc-kind", choices=names.SVC_KINDS, help=f"default {d['svc_kind']}")
    p.add_argument("--svc-kernel", choices=names.SVC_KERNELS,
                   help=f"default {d['svc_kernel']}")
    p.add_argument("--svc-c", type=float, help=f"SVC C (default {d['svc_c']})")
    p.add_argument("--labels", choices=LABEL_SETS, help="what the network learns: FER2013's "
                   "labels, the FER+ majority, or the FER+ vote distribution (default "
                   f"{d['labels']})")
    p.add_argument("--contempt", action=argparse.BooleanOptionalAction, help="with FER+ "
                   "labels: eight classes, FER+'s contempt after the seven (default off)")
    p.add_argument("--ferplus", metavar="FILE", help="FER+ labels (fer2013new.csv; default: "
                   "beside the CSV); a run is also scored on their majority when found")
    p.add_argument("--teacher", metavar="MODEL", help="distil: also learn this softmax model's "
                   "probabilities of each Training face (a run directory, a .keras file, a "
                   "packaged name or an ensemble folder; see fer_keras.training.teacher)")
    p.add_argument("--teacher-temperature", type=float, help="softening of both sides' "
                   f"probabilities (default {d['teacher_temperature']})")
    p.add_argument("--teacher-weight", type=float, help="the teacher term's share of the loss, "
                   f"the label's being the rest (default {d['teacher_weight']})")
    common.add_max_minutes(p)
    common.add_verbose(p, default=argparse.SUPPRESS)
    p.add_argument("--strategy", choices=STRATEGIES, help="auto: every local GPU if "
                   "there are several, else one device; mirrored: every local GPU (or logical "
                   "CPU); multiworker: the machines in TF_CONFIG (default auto)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last "
                   "finished epoch, with its own config (takes no other flag)")
    return p


def config_from_args(args: argparse.Namespace) -> dict:
    """The config a parsed command line asks for (the base config, then the flags given)."""
    config = _training.base_config(args)
    given = vars(args)
    if "arch" in given:  # the config's key for the architecture stays "model"
        given["model"] = given.pop("arch")
    if "equalize" in given:
        given["equalize"] = None if given["equalize"] == "none" else given["equalize"]
    options = {**config.get("model_options", {}), **given.pop("model_options", {})}
    if "weights" in given:
        weights = given.pop("weights")
        options["weights"] = None if weights.lower() == "none" else weights
    return {**config, **given, "model_options": options}


@common.command
def main(argv=None) -> int:
    """Train, or continue a run with ``--resume``; prints the run's PublicTest accuracy."""
    args = build_parser().parse_args(argv)
    common.quiet_tensorflow()
    from fer_keras.training.train import resume, train

    if "resume" not in args:
        return _report(train(config_from_args(args)))
    run_dir, others = Path(args.resume), sorted(set(vars(args)) - {"resume"})
    if others:
        raise ValueError(f"--resume continues the run with its own config.json; drop --"
                         f"{', --'.join(o.replace('_', '-') for o in others)}")
    if read_config(run_dir).get("status") == "finished":
        print(f"{run_dir}: already finished; nothing to resume")
        return _report(run_dir)
    return _report(resume(run_dir))


def _report(run_dir: Path) -> int:
    metrics = read_metrics(run_dir)
    print(f"{run_dir}: {VAL_SPLIT} accuracy {metrics[VAL_SPLIT]['accuracy']:.4f} "
          f"(best epoch {metrics['best_epoch'] + 1})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
