"""The experiments layer: compare heads, k-fold and family ensembles, sweeps, the search.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments. The public
names below load on first use.
"""

from fer_keras._lazy import lazy_exports

_EXPORTS = {  # names that are not also module names, so an import of a module never hides one
    "compare_heads": "fer_keras.experiments.compare:compare",
    "kfold_ensemble": "fer_keras.experiments.ensemble:ensemble",
    "parse_members": "fer_keras.experiments.ensemble",
    "ensemble_family": "fer_keras.experiments.family_ensemble:family_ensemble",
    "list_families": "fer_keras.experiments.families",
    "fraction_sweep": "fer_keras.experiments.sweep",
    "plot_fraction_sweep": "fer_keras.experiments.sweep",
    "grid_search": "fer_keras.experiments.search:search",
    "cross_fit": "fer_keras.experiments.kfold",
    "weighted_average": "fer_keras.experiments.blend",
    "fit_weights": "fer_keras.experiments.blend",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
