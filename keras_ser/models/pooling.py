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
    frequency a feature fires and how much it varies over the window.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"{self.name}: epsilon must be positive, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[2] is None or input_shape[3] is None:
            raise ValueError(
                f"{self.name}: needs a (batch, time, frequency, channels) input with known frequency and channels, "
                f"got {tuple(input_shape)}"
            )

    def call(self, x):
        frames = ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], -1))
        return ops.concatenate([ops.mean(frames, axis=1), ops.sqrt(ops.var(frames, axis=1) + self.epsilon)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[2] * input_shape[3])

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
