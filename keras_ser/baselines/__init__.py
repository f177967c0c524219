"""The field's reference baseline: openSMILE eGeMAPSv02 functionals with a linear classifier.

Needs the `[baselines]` extra (opensmile, scikit-learn).
"""

from keras_ser.baselines.egemaps import EGEMAPS_FEATURES, EGeMAPSFrontEnd, egemaps_features
from keras_ser.baselines.linear import CLASSIFIERS, STANDARDIZATIONS, LinearBaseline, standardize

__all__ = [
    "CLASSIFIERS",
    "EGEMAPS_FEATURES",
    "EGeMAPSFrontEnd",
    "LinearBaseline",
    "STANDARDIZATIONS",
    "egemaps_features",
    "standardize",
]
