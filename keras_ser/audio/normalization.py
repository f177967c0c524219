"""Feature normalisers: training-set statistics saved with the model, or each example's own."""

import keras
import numpy as np
from keras import ops


def _batches(data, rows=256):
    """Yield float64 numpy batches from an array (in chunks of `rows`), a PyDataset,
    or an iterable of arrays or (x, y) pairs."""
    if hasattr(data, "shape"):
        for start in range(0, max(len(data), 1), rows):
            yield np.asarray(data[start : start + rows], dtype=np.float64)
        return
    if isinstance(data, keras.utils.PyDataset):
        data = (data[i] for i in range(len(data)))
    for batch in data:
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        yield np.asarray(batch, dtype=np.float64)


class _Normalizer(keras.layers.Layer):
    """Shared plumbing: statistics held as non-trainable weights and mirrored in the config."""

    _statistics = ()

    def __init__(self, **kwargs):
        initial = {name: kwargs.pop(name, None) for name in self._statistics}
        super().__init__(**kwargs)
        self.trainable = False
        self._adapted = all(value is not None for value in initial.values())
        for name, value in initial.items():
            setattr(self, f"_{name}_weight", self.add_weight(
                name=name, shape=(), initializer=keras.initializers.Constant(
                    np.nan if value is None else float(value)), trainable=False))

    @property
    def statistics(self):
        """The fitted statistics as plain floats (NaN when not adapted yet)."""
        return {name: float(ops.convert_to_numpy(getattr(self, f"_{name}_weight")))
                for name in self._statistics}

    def _set(self, **values):
        for name, value in values.items():
            getattr(self, f"_{name}_weight").assign(float(value))
        self._adapted = True

    def __call__(self, x, *args, **kwargs):
        # Symbolic calls (model construction) may come before `adapt`; data may not.
        if not self._adapted and not isinstance(x, keras.KerasTensor):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' has no statistics: call "
                "`adapt(training_features)` first, or pass them to the constructor"
            )
        return super().__call__(x, *args, **kwargs)

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._adapted = all(np.isfinite(value) for value in self.statistics.values())

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), **self.statistics}


@keras.saving.register_keras_serializable(package="keras_ser")
class ZScoreNormalizer(_Normalizer):
    """(x − mean) / std with the training set's global mean and standard deviation."""

    kind = "zscore"
    _statistics = ("mean", "std")

    def __init__(self, mean=None, std=None, **kwargs):
        super().__init__(mean=mean, std=std, **kwargs)

    def adapt(self, data):
        """Fit mean and std on training features (array or iterable of batches)."""
        count, total, total_sq = 0, 0.0, 0.0
        for batch in _batches(data):
            count += batch.size
            total += batch.sum()
            total_sq += np.square(batch).sum()
        if count == 0:
            raise ValueError("ZScoreNormalizer.adapt got no data")
        mean = total / count
        std = np.sqrt(max(total_sq / count - mean**2, 0.0))
        if std == 0:
            raise ValueError("ZScoreNormalizer.adapt: the training features are constant (std = 0)")
        self._set(mean=mean, std=std)
        return self

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        return (x - ops.cast(self._mean_weight, x.dtype)) / ops.cast(self._std_weight, x.dtype)


@keras.saving.register_keras_serializable(package="keras_ser")
class MaxNormalizer(_Normalizer):
    """x / maximum, scaling non-negative features to [0, 1] by the training set's maximum."""

    kind = "max"
    _statistics = ("maximum",)

    def __init__(self, maximum=None, **kwargs):
        super().__init__(maximum=maximum, **kwargs)

    def adapt(self, data):
        """Fit the maximum on training features (array or iterable of batches)."""
        maximum = -np.inf
        for batch in _batches(data):
            if batch.size:
                maximum = max(maximum, batch.max())
        if not np.isfinite(maximum) or maximum <= 0:
            raise ValueError(
                f"MaxNormalizer.adapt needs non-empty features with a positive maximum, got {maximum}"
            )
        self._set(maximum=maximum)
        return self

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        return x / ops.cast(self._maximum_weight, x.dtype)


@keras.saving.register_keras_serializable(package="keras_ser")
class UtteranceNormalizer(keras.layers.Layer):
    """Each example's own z-score per frequency bin: mean and variance over its time axis (axis 1).

    (B, time, frequency, channels) → the same shape. The statistics cover the window's
    audio frames: padding (a frame whose every bin holds the window's minimum, as silence
    does) is left out, so a clip's statistics do not depend on how much of the window it
    fills; a window of nothing but such frames uses all of them. `EPSILON` is added to the
    variance, so a bin constant over the audio frames becomes 0 (up to rounding). Nothing is fitted.
    """

    kind = "utterance"
    EPSILON = 1e-8
    _statistics = ()
    _axes = (1,)  # the axes one mean and variance cover

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trainable = False

    @property
    def statistics(self):
        """None are fitted: {}."""
        return {}

    def adapt(self, data):
        """Nothing to fit: each example is normalised by its own statistics."""
        return self

    def call(self, x):
        x = ops.cast(x, "float32")  # EPSILON would vanish in float16
        x = x - ops.min(x, axis=(1, 2), keepdims=True)  # padding and silence at exactly 0
        audio = ops.cast(ops.max(x, axis=2, keepdims=True) > 0, "float32")  # (B, time, 1, channels)
        audio = ops.where(ops.sum(audio, axis=1, keepdims=True) > 0, audio, 1.0)
        audio = audio * ops.ones_like(x)
        count = ops.sum(audio, axis=self._axes, keepdims=True)
        mean = ops.sum(x * audio, axis=self._axes, keepdims=True) / count
        variance = ops.sum(ops.square(x - mean) * audio, axis=self._axes, keepdims=True) / count
        return ops.cast((x - mean) / ops.sqrt(variance + self.EPSILON), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_ser")
class UtteranceGlobalNormalizer(UtteranceNormalizer):
    """Each example's own z-score with one mean and variance over all its time-frequency bins.

    Unlike `UtteranceNormalizer`, the spectrum's shape (its tilt, the balance between bands) is
    kept; only the window's level and scale are removed. Padding is left out in the same way.
    """

    kind = "utterance_global"
    _axes = (1, 2)


NORMALIZERS = {layer.kind: layer for layer in
               (ZScoreNormalizer, MaxNormalizer, UtteranceNormalizer, UtteranceGlobalNormalizer)}
