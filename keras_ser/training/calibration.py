"""Confidence calibration: expected calibration error, temperature scaling fitted in numpy, and its Keras layer.

Temperature scaling (Guo et al., 2017) divides a classifier's logits by one
T > 0: softmax(z / T). On softmax outputs p it is softmax(log p / T), which is
how both `temperature_scaled` and `TemperatureScaling` compute it, so it applies
to a model that outputs probabilities. The argmax, hence accuracy and UAR, is
unchanged for each window.
"""

import math
import warnings

import keras
import numpy as np
from keras import ops

from keras_ser.training.metrics import aggregate_windows
from keras_ser.training.sampling import balanced_weights

ECE_BINS = 15
# Temperatures searched by `fit_temperature`.
TEMPERATURE_BOUNDS = (0.05, 20.0)
# Probabilities are floored here before the logarithm, so a softmax output that underflowed to 0 stays finite.
_TINY = float(np.finfo(np.float32).tiny)


def expected_calibration_error(probabilities, labels, bins=ECE_BINS):
    """ECE of (N, C) probabilities against N integer labels, with `bins` equal-width confidence bins.

    Confidence is each row's top probability; bin m holds the rows with confidence in
    ((m - 1) / bins, m / bins]. ECE = sum over bins of |B_m| / N x |accuracy(B_m) - mean confidence(B_m)|.
    """
    probabilities = _checked_probabilities(probabilities)
    labels = _checked_labels(labels, len(probabilities), probabilities.shape[1], "row of probabilities")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    members = np.digitize(confidence, np.linspace(0.0, 1.0, bins + 1)[1:-1], right=True)
    gaps = np.abs(np.bincount(members, correct, minlength=bins) - np.bincount(members, confidence, minlength=bins))
    return float(gaps.sum() / len(labels))


def temperature_scaled(probabilities, temperature):
    """softmax(log p / temperature) of (N, C) probabilities p, as float64."""
    _check_temperature(temperature)
    logits = np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), _TINY)) / temperature
    scaled = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return scaled / scaled.sum(axis=-1, keepdims=True)


def fit_temperature(probabilities, labels, groups=None, strata=None):
    """The temperature minimising the negative log-likelihood of `labels` under `temperature_scaled(probabilities, T)`.

    `groups` (one id per row, e.g. each window's clip) averages the scaled rows per group, as
    `aggregate_windows(..., method="mean")` does, before the likelihood; `labels` then holds one label per group,
    in `np.unique(groups)` order. `strata` (one key per label, e.g. each clip's corpus) weights every stratum
    equally: the likelihood is the mean over strata of each one's mean, so a large corpus does not set T alone.
    T is searched within TEMPERATURE_BOUNDS; a warning says when it ends on a bound.
    """
    probabilities = _checked_probabilities(probabilities)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != probabilities.shape[:1]:
            raise ValueError(f"groups must hold one id per row: got shape {groups.shape} for {len(probabilities)} rows")
    count, unit = (len(probabilities), "row of probabilities") if groups is None else (len(np.unique(groups)), "group")
    labels = _checked_labels(labels, count, probabilities.shape[1], unit)
    rows = np.arange(len(labels))
    weights = _stratum_weights(strata, len(labels), unit)

    def negative_log_likelihood(log_temperature):
        scaled = temperature_scaled(probabilities, math.exp(log_temperature))
        if groups is not None:
            _, scaled = aggregate_windows(scaled, groups, method="mean")
        return -(weights * np.log(np.maximum(scaled[rows, labels], _TINY))).sum()

    from scipy import optimize  # here, not at the top: importing it costs 0.3 s of every `keras-ser predict`

    low, high = np.log(TEMPERATURE_BOUNDS)
    result = optimize.minimize_scalar(negative_log_likelihood, bounds=(low, high), method="bounded",
                                      options={"xatol": 1e-4})
    if min(result.x - low, high - result.x) < 1e-2:
        warnings.warn(
            f"the fitted temperature {math.exp(result.x):.3g} is at the edge of the range searched, "
            f"{TEMPERATURE_BOUNDS}, so a better one may lie beyond it: the {len(labels)} calibration examples are too "
            "few, (almost) all right or all wrong, or scored (almost) uniformly; calibrate on more or other data",
            stacklevel=2)
    return float(math.exp(result.x))


def _stratum_weights(strata, count, unit):
    """Weights summing to 1 that give each stratum the same total (all equal without strata)."""
    if strata is None:
        return np.full(count, 1.0 / count)
    strata = np.asarray(strata)
    if strata.shape != (count,):
        raise ValueError(f"strata must hold one key per {unit} ({count}), got shape {strata.shape}")
    return balanced_weights(strata)


def _check_temperature(temperature):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"temperature must be a positive finite number (1 leaves scores unchanged), got {temperature!r}")


def _checked_probabilities(probabilities):
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0 or probabilities.shape[1] < 2:
        raise ValueError(f"probabilities must have shape (N > 0, classes > 1), got {probabilities.shape}")
    return probabilities


def _checked_labels(labels, count, classes, unit):
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise ValueError(f"labels must hold one class index per {unit} ({count}), got shape {labels.shape}")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be integers in 0..{classes - 1}, got {labels.dtype} values "
                         f"{sorted(set(labels.tolist()))[:10]}")
    return labels


@keras.saving.register_keras_serializable(package="keras_ser")
class TemperatureScaling(keras.layers.Layer):
    """(B, C) softmax probabilities → softmax(log p / temperature); `temperature` > 1 softens, < 1 sharpens."""

    def __init__(self, temperature, **kwargs):
        super().__init__(**kwargs)
        _check_temperature(temperature)
        self.temperature = float(temperature)
        self.trainable = False

    def call(self, probabilities):
        return ops.softmax(ops.log(ops.maximum(probabilities, _TINY)) / self.temperature, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}
