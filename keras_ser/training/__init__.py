"""Training recipes: a TOML run configuration, data preparation, strategies, metrics and plots.

Names load on first use, so importing one submodule (e.g. metrics) stays cheap.
"""

import importlib

_EXPORTS = {
    "ConfigError": "config",
    "RunConfig": "config",
    "classification_metrics": "metrics",
    "config_from_dict": "config",
    "confusion_matrix": "metrics",
    "dump_toml": "config",
    "load_config": "config",
    "train": "run",
    "wilcoxon_signed_rank": "metrics",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"keras_ser.training.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'keras_ser.training' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
