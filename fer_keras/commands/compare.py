"""``fer-keras compare`` (``python -m fer_keras.compare``): one network, then softmax, L2-SVM, SVC
and LinearSVC heads on its features (see :mod:`fer_keras.experiments.compare`).

The network is trained from a base config (the ``cpu_fast`` recipe unless ``--recipe``/``--config``
say otherwise; ``--set`` changes single keys), or taken finished with ``--model MODEL`` (a softmax
run directory or a packaged name; ``--backbone``, its former name, still works).

Example:
    $ fer-keras compare --model cpu_fast --heads softmax,l2svm,svc
"""

from __future__ import annotations

import argparse

from fer_keras.commands import _common as common
from fer_keras.commands import _training
from fer_keras.experiments.compare_settings import HEADS

#: The note an old ``--backbone MODEL`` prints.
BACKBONE_NOTE = "--backbone is now --model (the trained network the heads are fitted on)"


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("compare", "The main job: one network, then softmax, L2-SVM, RBF SVC and "
                      "LinearSVC heads on its features.")
    common.add_data(p)
    _training.add_config_options(p)
    p.add_argument("--model", metavar="MODEL", help="a finished softmax run directory or "
                   "packaged model name: fit the heads on its features instead of training")
    common.add_renamed(p, "--backbone", "--model", BACKBONE_NOTE)
    p.add_argument("--heads", type=lambda s: tuple(h.strip() for h in s.split(",") if h.strip()),
                   default=HEADS, help=f"comma list (default {','.join(HEADS)})")
    common.add_tta(p, "every head, reported beside none")
    common.add_max_minutes(p)
    common.add_seed(p, default=None)
    common.add_verbose(p, default=None)
    p.add_argument("--svc-c", type=float, default=1.0, help="C of the SVC and LinearSVC (1.0)")
    common.add_out(p, "the run directories and the comparison", "models")
    return p


@common.command
def main(argv=None) -> int:
    """Compare the heads; prints the table and where the comparison is written."""
    args = build_parser().parse_args(argv)
    common.quiet_tensorflow()
    from fer_keras.data.loading import default_data_path
    from fer_keras.experiments.compare import compare, default_config
    from fer_keras.training.options import merge

    own_base = "recipe" in args or "config" in args
    config = _training.base_config(args)
    config.update({k: getattr(args, k) for k in ("seed", "verbose")
                   if getattr(args, k) is not None})
    if args.model and (config or args.max_minutes is not None):
        raise ValueError("--model takes a trained network: drop --recipe, --config, --set, "
                         "--seed, --verbose and --max-minutes")
    if not own_base and not args.model:  # --set and the flags change the default config
        config = merge(default_config(args.data or default_data_path()), config)
    result = compare(args.data, config=config or None, backbone=args.model, out=args.out,
                     heads=args.heads, tta=args.tta, max_minutes=args.max_minutes,
                     svc_c=args.svc_c)
    print(result["table"])
    print(f"\nWritten: {result['markdown']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
