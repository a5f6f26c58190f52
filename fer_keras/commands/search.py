"""``fer-keras search`` (``python -m fer_keras.search``): an optimizer x learning-rate schedule
grid search driven by KerasTuner, resumable (see :mod:`fer_keras.experiments.search`).

``--arch`` names the architecture searched (``--model``, its former name, still works).

Example:
    $ fer-keras search --arch vgg_fer --epochs-per-trial 20
"""

from __future__ import annotations

import argparse
import json

from fer_keras.commands import _common as common
from fer_keras.commands import _training
from fer_keras.experiments import search_settings as s
from fer_keras.models.names import SCHEDULES
from fer_keras.training.config import OPTIMIZERS


def _comma_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("search", "Optimizer x learning-rate schedule grid search (Khaireddin & "
                      "Chen 2021), driven by KerasTuner.")
    _training.add_arch(p, f"architecture (default: the base config's, else {s.DEFAULT_MODEL})")
    _training.add_config_options(p)
    p.add_argument("--optimizers", type=_comma_list, default=list(s.DEFAULT_OPTIMIZERS),
                   help=f"comma-separated, from {', '.join(OPTIMIZERS)} (default all: "
                        f"{','.join(s.DEFAULT_OPTIMIZERS)})")
    p.add_argument("--schedules", type=_comma_list, default=list(s.DEFAULT_SCHEDULES),
                   help=f"comma-separated, from {', '.join(SCHEDULES)} (default all: "
                        f"{','.join(s.DEFAULT_SCHEDULES)})")
    p.add_argument("--epochs", "--epochs-per-trial", dest="epochs", type=int,
                   help=f"epochs of each trial (default {s.DEFAULT_EPOCHS}; {s.QUICK_EPOCHS} "
                        "with --quick)")
    common.add_max_minutes(p)
    p.add_argument("--learning-rates", type=_training.json_object, help="JSON {optimizer: "
                   f"learning rate}} over the defaults {json.dumps(s.LEARNING_RATES)}")
    common.add_data(p)
    common.add_out(p, "the search folder", "models")
    p.add_argument("--name", help="search directory name (default search_<arch>, plus _quick "
                                  "with --quick); rerun with the same name to continue")
    common.add_seed(p)
    p.add_argument("--subset", type=float, help="stratified fraction of Training (default 1; "
                   f"{s.QUICK_SUBSET} with --quick)")
    p.add_argument("--model-options", type=_training.json_object, help="builder options as a "
                   "JSON object, e.g. '{\"fc_units\": 1024}'")
    p.add_argument("--quick", action="store_true", help=f"tiny model options, {s.QUICK_EPOCHS} "
                   f"epoch, {s.QUICK_SUBSET} of Training: a smoke test")
    common.add_verbose(p)
    return p


@common.command
def main(argv=None) -> int:
    """Run the trials still to run; prints the results table and where it is written."""
    args = build_parser().parse_args(argv)
    common.quiet_tensorflow()
    from fer_keras.experiments.search import search

    result = search(args.arch, args.optimizers, args.schedules, epochs_per_trial=args.epochs,
                    minutes_per_trial=args.max_minutes, learning_rates=args.learning_rates,
                    data_path=args.data, out=args.out, name=args.name, seed=args.seed,
                    subset=args.subset, model_options=args.model_options,
                    config=_training.base_config(args), quick=args.quick, verbose=args.verbose)
    print(result["table"])
    print(f"\nWritten: {result['dir'] / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
