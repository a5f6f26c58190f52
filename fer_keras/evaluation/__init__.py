"""The evaluation layer: metrics, test-time augmentation, the run-directory API and `evaluate`.

Imports flow one way: core -> data -> models -> evaluation -> training -> experiments; explain
and inference import only data, models and evaluation. The public names below load on first use.
"""

from fer_keras._lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_MODEL": "fer_keras.evaluation.packaged",
    "packaged_models": "fer_keras.evaluation.packaged",
    "resolve_model": "fer_keras.evaluation.packaged",
    "Run": "fer_keras.evaluation.run_dir",
    "load_run": "fer_keras.evaluation.run_dir",
    "RunRecord": "fer_keras.evaluation.run_files",
    "read_run": "fer_keras.evaluation.run_files",
    "read_config": "fer_keras.evaluation.run_files",
    "read_metrics": "fer_keras.evaluation.run_files",
    "read_history": "fer_keras.evaluation.run_files",
    "write_config": "fer_keras.evaluation.run_files",
    "write_metrics": "fer_keras.evaluation.run_files",
    "find_runs": "fer_keras.evaluation.run_files",
    "is_run": "fer_keras.evaluation.run_files",
    "make_run_dir": "fer_keras.evaluation.run_files",
    "evaluate_run": "fer_keras.evaluation.evaluate",
    "format_metrics": "fer_keras.evaluation.evaluate",
    "classification_metrics": "fer_keras.evaluation.metrics",
    "label_set_metrics": "fer_keras.evaluation.metrics",
    "plot_confusion_matrix": "fer_keras.evaluation.metrics",
    "plot_history": "fer_keras.evaluation.metrics",
    "TTA_MODES": "fer_keras.evaluation.tta",
    "tta_scores": "fer_keras.evaluation.tta",
    "view_model": "fer_keras.evaluation.tta",
    "average_model": "fer_keras.evaluation.averaging",
    "EnsembleMemberError": "fer_keras.evaluation.averaging",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
