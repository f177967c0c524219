"""Training recipes: a TOML run configuration, data preparation, strategies, metrics and plots."""

from keras_ser.training.config import ConfigError, RunConfig, config_from_dict, dump_toml, load_config
from keras_ser.training.metrics import classification_metrics, confusion_matrix, wilcoxon_signed_rank
from keras_ser.training.run import train

__all__ = [
    "ConfigError",
    "RunConfig",
    "classification_metrics",
    "config_from_dict",
    "confusion_matrix",
    "dump_toml",
    "load_config",
    "train",
    "wilcoxon_signed_rank",
]
