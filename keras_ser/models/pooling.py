"""Pooling layers: adaptive average pooling with PyTorch's bins, and statistics pooling over time."""

import keras
import numpy as np
from keras import ops


def adaptive_pooling_matrix(length, size):
    """(size, length) averaging matrix: row i averages positions floor(i·L/n) .. ceil((i+1)·L/n) - 1."""
    matrix = np.zeros((size, length), dtype=np.float32)
    for i in range(size):
        start, stop = (i * length) // size, -(-((i + 1) * length) // size)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


@keras.saving.register_keras_serializable(package="keras_ser")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average-pool a channels-last (B, H, W, C) map to (B, *output_size, C), bins as torch.nn.AdaptiveAvgPool2d.

    Bins overlap or repeat when the map is smaller than the output, so any
    (static) input size works. `keras.layers.AdaptiveAveragePooling2D` (Keras
    3.15) fails in TensorFlow graph mode when an input axis has length 1, as a
    quaternion AlexNet's 1x1 map on a 64x64 embedding does; this layer applies
    the pooling as two small matrix products instead.
    """

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
            raise ValueError(f"{self.name}: output_size must be a positive int or (height, width), got {output_size!r}")
        self.output_size = size

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                f"{self.name}: needs a (batch, height, width, channels) input with known height and width, "
                f"got {tuple(input_shape)}"
            )
        self._rows = adaptive_pooling_matrix(input_shape[1], self.output_size[0])
        self._cols = adaptive_pooling_matrix(input_shape[2], self.output_size[1])

    def call(self, x):
        rows = ops.convert_to_tensor(self._rows, dtype=x.dtype)
        cols = ops.convert_to_tensor(self._cols, dtype=x.dtype)
        return ops.einsum("ih,bhwc,jw->bijc", rows, x, cols)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


@keras.saving.register_keras_serializable(package="keras_ser")
class TemporalStatisticsPooling(keras.layers.Layer):
    """(B, time, frequency, C) → (B, 2·frequency·C): each (frequency, channel) feature's mean and std over time.

    The x-vector's statistics pooling: unlike global average pooling it keeps where in
    frequency a feature fires and how much it varies over the window. Called with the
    network's input `spectrogram` (B, input time, bins, channels), the statistics cover only
    its audio: each time step of `x` weighs by the share of its input frames that are not
    padding (a frame whose bins all hold one value, as padding and digital silence do after
    any per-window normalisation), so they do not depend on how much of the window a clip
    fills. A spectrogram with no audio frame weighs all steps equally.
    """

    AUDIO_SPREAD = 1e-4  # a frame whose bins span less than this is padding

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"{self.name}: epsilon must be positive, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def build(self, x_shape, spectrogram_shape=None):
        if len(x_shape) != 4 or x_shape[2] is None or x_shape[3] is None:
            raise ValueError(
                f"{self.name}: needs a (batch, time, frequency, channels) input with known frequency and channels, "
                f"got {tuple(x_shape)}"
            )
        if spectrogram_shape is not None and (
                len(spectrogram_shape) != 4 or None in (x_shape[1], spectrogram_shape[1])
                or spectrogram_shape[1] < x_shape[1]):
            raise ValueError(
                f"{self.name}: the spectrogram must be a (batch, time, bins, channels) input with at least as many "
                f"time steps as the pooled map ({x_shape[1]}), both known, got {tuple(spectrogram_shape)}"
            )

    def call(self, x, spectrogram=None):
        # With a spectrogram, build checked that the time steps are known: the audio share needs them statically.
        steps = ops.shape(x)[1] if spectrogram is None else x.shape[1]
        frames = ops.reshape(x, (ops.shape(x)[0], steps, -1))
        if spectrogram is None:
            mean, variance = ops.mean(frames, axis=1), ops.var(frames, axis=1)
        else:
            weights = ops.cast(ops.expand_dims(self._audio_share(spectrogram, steps), -1), frames.dtype)
            total = ops.sum(weights, axis=1)
            mean = ops.sum(frames * weights, axis=1) / total
            variance = ops.sum(ops.square(frames - ops.expand_dims(mean, 1)) * weights, axis=1) / total
        return ops.concatenate([mean, ops.sqrt(variance + self.epsilon)], axis=-1)

    @classmethod
    def _audio_share(cls, spectrogram, steps):
        """(B, steps): the share of each step's input frames (time // steps of them) holding audio."""
        spectrogram = ops.cast(spectrogram, "float32")
        spread = ops.max(spectrogram, axis=(2, 3)) - ops.min(spectrogram, axis=(2, 3))  # 0 on padding
        audio = ops.cast(spread > cls.AUDIO_SPREAD, "float32")
        per_step = spectrogram.shape[1] // steps
        share = ops.mean(ops.reshape(audio[:, : steps * per_step], (-1, steps, per_step)), axis=-1)
        return ops.where(ops.sum(share, axis=1, keepdims=True) > 0, share, 1.0)

    def compute_output_shape(self, x_shape, spectrogram_shape=None):
        return (x_shape[0], 2 * x_shape[2] * x_shape[3])

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
