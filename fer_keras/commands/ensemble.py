"""``fer-keras ensemble`` (``python -m fer_keras.ensemble``): k-fold ensembles of several
architectures (``--members``), or a family's members trained on all of Training (``--family``);
both resumable (see :mod:`fer_keras.experiments.ensemble` and
:mod:`fer_keras.experiments.family_ensemble`).

Example:
    $ fer-keras ensemble --folds 4 --members susa_cnn:8,resnet18:8 --recipe cpu_fast
"""

from __future__ import annotations

import argparse

from fer_keras import VAL_SPLIT
from fer_keras.commands import _common as common
from fer_keras.commands import _training
from fer_keras.experiments import families
from fer_keras.models.names import ARCHITECTURES


def build_parser() -> argparse.ArgumentParser:
    p = common.parser("ensemble", "Train and combine ensembles: k-fold (--members) or members on "
                      "all of Training (--family).")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--members",
                      help="k-fold: comma list of [LABEL=]ARCH:EPOCHS, e.g. susa_cnn:8,resnet18:8"
                           f"; architectures: {', '.join(ARCHITECTURES)}")
    kind.add_argument("--family", choices=families.list_families(),
                      help="members on all of Training, averaged (see "
                           "fer_keras.experiments.families); --set changes every member")
    _training.add_config_options(p)
    p.add_argument("--folds", type=int, help="K stratified folds of Training (4)")
    common.add_data(p)
    common.add_out(p, "the ensemble folder", "models")
    p.add_argument("--name", help="ensemble folder name (default: from the members, folds and "
                                  "seed, so that re-running the command finds it)")
    common.add_seed(p)
    common.add_tta(p, "the members' predictions")
    p.add_argument("--member-options", action="append", default=[], metavar="LABEL=JSON",
                   help="one member's builder options, e.g. shallow_cnn='{\"filters\": [8, 16]}'"
                        "; repeatable (--set model_options.KEY=VALUE sets every member's)")
    common.add_max_minutes(p)
    p.add_argument("--quick", action="store_true",
                   help="one epoch per fold run, in a separate *_quick folder (a smoke test)")
    common.add_verbose(p)
    return p


@common.command
def main(argv=None) -> int:
    """Train what is missing, combine, print the table and where it is written."""
    args = build_parser().parse_args(argv)
    common.quiet_tensorflow()
    from fer_keras.experiments import kfold
    from fer_keras.experiments.ensemble import EnsembleError, ensemble

    if args.family:
        return _family_main(args)
    member_options = {}
    for item in args.member_options:
        label, sep, text = item.partition("=")
        if not sep:
            raise EnsembleError(f"--member-options takes LABEL=JSON. Received: {item!r}")
        try:
            member_options[label] = _training.json_object(text)
        except argparse.ArgumentTypeError as err:
            raise EnsembleError(f"--member-options {label}: {err}") from None
    try:
        result = ensemble(args.members, config=_training.base_config(args),
                          folds=4 if args.folds is None else args.folds,
                          data_path=args.data, out=args.out, name=args.name, seed=args.seed,
                          tta=args.tta, model_options=member_options, quick=args.quick,
                          max_minutes=args.max_minutes, verbose=args.verbose)
    except kfold.StaleRunError as err:
        raise kfold.StaleRunError(f"{err} Give another --name, or remove that folder.") from None
    print(result["table"])
    print(f"\nBest on {VAL_SPLIT}: {result['best']['name']}\nWritten: {result['markdown']}")
    return 0


def _family_main(args) -> int:
    from fer_keras.experiments import kfold
    from fer_keras.experiments.ensemble import EnsembleError
    from fer_keras.experiments.family_ensemble import family_ensemble

    given = [flag for flag, value in (("--folds", args.folds), ("--tta", args.tta),
                                      ("--member-options", args.member_options),
                                      ("--quick", args.quick),
                                      ("--recipe", getattr(args, "recipe", None)))
             if value]
    if given:
        raise EnsembleError(f"--family sets each member's recipe, views and data; drop "
                            f"{', '.join(given)} (--set KEY=VALUE changes every member).")
    changes = _training.base_config(args)
    if args.max_minutes is not None:
        changes["max_minutes"] = args.max_minutes
    try:
        result = family_ensemble(args.family, changes=changes, data_path=args.data,
                                 out=args.out, name=args.name, seed=args.seed,
                                 verbose=args.verbose)
    except kfold.StaleRunError as err:
        raise kfold.StaleRunError(f"{err} Give another --name, or remove that folder.") from None
    average = result["rows"][-1][VAL_SPLIT]
    print(result["table"])
    print(f"\nThe ensemble: {VAL_SPLIT} accuracy {100 * average['accuracy']:.2f}%, macro-F1 "
          f"{average['macro_f1']:.3f}\nWritten: {result['markdown']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
