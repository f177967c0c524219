"""Hyperparameter search with KerasTuner over anti-transfer layer, beta, orthogonal task, learning rate and MTS scales."""

from keras_ser.tuning.hypermodel import OBJECTIVE, SERHyperModel, objective
from keras_ser.tuning.report import write_report
from keras_ser.tuning.search import TUNERS, distributed_environment, make_tuner, tune
from keras_ser.tuning.space import MTS_SCALE_SETS, load_tuning, parse_space

__all__ = [
    "MTS_SCALE_SETS",
    "OBJECTIVE",
    "SERHyperModel",
    "TUNERS",
    "distributed_environment",
    "load_tuning",
    "make_tuner",
    "objective",
    "parse_space",
    "tune",
    "write_report",
]
