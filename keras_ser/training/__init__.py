"""Training recipes: a TOML run configuration, data preparation, strategies, metrics and plots.

Names load on first use, so importing one submodule (e.g. metrics) stays cheap.
"""

from keras_ser.lazy import lazy_attributes

_EXPORTS = {
    "ConfigError": "config",
    "RunConfig": "config",
    "ValidationUAR": "callbacks",
    "classification_metrics": "metrics",
    "config_from_dict": "config",
    "confusion_matrix": "metrics",
    "dump_toml": "config",
    "evaluate_part": "evaluation",
    "load_config": "config",
    "train": "run",
    "wilcoxon_signed_rank": "metrics",
}


__getattr__ = lazy_attributes(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
