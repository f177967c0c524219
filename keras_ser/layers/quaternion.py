"""Quaternion convolution, transposed convolution and dense layers (Parcollet et al.; thesis Appendix A).

A layer with ``C`` real channels holds ``C / 4`` quaternion channels laid out as four
contiguous blocks ``[r | i | j | k]`` along the (last) channel axis. Channel counts
are given in real units, like ``keras.layers.Conv2D(filters)``.
"""

import keras
import numpy as np
from keras import ops

from keras_ser.layers import quaternion_initializers  # noqa: F401  (registers "quaternion_glorot"/"quaternion_he")
from keras_ser.layers.arguments import add_kernel_and_bias, int_tuple, padding_mode


def hamilton_kernel(components, transposed=False):
    """The real kernel applying the Hamilton product ``W ⊗ x`` over quaternion channels.

    ``components`` is ``(4, *spatial, in_q, out_q)`` (the ``[r, i, j, k]`` component
    kernels); the result is ``(*spatial, 4 in_q, 4 out_q)`` with input and output
    channels in ``[r | i | j | k]`` blocks. With ``transposed=True`` the last two axes
    of both are swapped, ``(…, out_q, in_q)`` → ``(…, 4 out_q, 4 in_q)``, the layout
    of a ``Conv2DTranspose`` kernel.
    """
    r, i, j, k = ops.unstack(ops.convert_to_tensor(components), 4, axis=0)
    neg_i, neg_j, neg_k = -i, -j, -k
    # blocks[input component][output component]; output r = Wr r - Wi i - Wj j - Wk k, etc.
    blocks = (
        (r, i, j, k),
        (neg_i, r, k, neg_j),
        (neg_j, neg_k, r, i),
        (neg_k, j, neg_i, r),
    )
    in_axis, out_axis = (-1, -2) if transposed else (-2, -1)
    return ops.concatenate([ops.concatenate(row, axis=out_axis) for row in blocks], axis=in_axis)


class _QuaternionLayer(keras.layers.Layer):
    """Shared weights, bias, activation and config of the quaternion layers.

    A subclass sets ``channels_argument`` ("filters"/"units"), gives
    :meth:`_kernel_shape` (the component kernel shape for ``in_q`` input and
    ``out_q`` output quaternion channels) and applies :meth:`_real_kernel` with one
    backend op, then :meth:`_finish`.
    """

    channels_argument = None
    transposed = False

    def __init__(
        self,
        channels,
        activation=None,
        use_bias=True,
        kernel_initializer="quaternion_glorot",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 4 or channels % 4:
            raise ValueError(
                f"{name}: `{self.channels_argument}` counts real channels and must be a positive multiple of 4 "
                f"(4 per quaternion channel), got {channels!r}."
            )
        self.channels = int(channels)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _kernel_shape(self, in_q, out_q):
        raise NotImplementedError

    def build(self, input_shape):
        name = type(self).__name__
        in_channels = input_shape[-1]
        if in_channels is None or in_channels % 4:
            raise ValueError(
                f"{name}: the input's channel axis (last) must be a known multiple of 4 holding the "
                f"[r | i | j | k] quaternion blocks, got {in_channels} input channels."
            )
        add_kernel_and_bias(self, self._kernel_shape(in_channels // 4, self.channels // 4), self.channels)
        self.input_spec = keras.layers.InputSpec(
            ndim=self.input_spec.ndim, min_ndim=self.input_spec.min_ndim, axes={-1: in_channels}
        )

    def _real_kernel(self):
        """The full real kernel assembled from the four component kernels."""
        return hamilton_kernel(self.kernel, transposed=self.transposed)

    def _finish(self, outputs):
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                self.channels_argument: self.channels,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config


class _QuaternionConvBase(_QuaternionLayer):
    """Argument handling shared by the 2-D quaternion convolutions (channels-last)."""

    channels_argument = "filters"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, **kwargs):
        super().__init__(filters, **kwargs)
        name = type(self).__name__
        self.filters = self.channels
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", name)
        self.strides = int_tuple(strides, 2, "strides", name)
        self.padding = padding_mode(padding, name)
        self.dilation_rate = int_tuple(dilation_rate, 2, "dilation_rate", name)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{name}: `strides`={self.strides} > 1 cannot be combined with "
                f"`dilation_rate`={self.dilation_rate} > 1; set one of them to 1."
            )
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def _kernel_extent(self, axis):
        """Span of the dilated kernel along spatial ``axis`` (0 or 1)."""
        return self.dilation_rate[axis] * (self.kernel_size[axis] - 1) + 1

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_ser")
class QuaternionConv2D(_QuaternionConvBase):
    """2-D quaternion convolution, the counterpart of ``keras.layers.Conv2D``.

    Input ``(batch, height, width, C_in)`` and output ``(…, filters)`` are
    channels-last with ``C_in`` and ``filters`` multiples of 4 in ``[r | i | j | k]``
    blocks. The layer stores the component kernels ``kernel`` of shape
    ``(4, kh, kw, C_in / 4, filters / 4)`` (a quarter of ``Conv2D``'s kernel) and a
    real bias per output channel; each call assembles the real kernel of the
    Hamilton product ``W ⊗ x`` (:func:`hamilton_kernel`) and runs one convolution.

    Args:
        filters: output channels in real units (a multiple of 4).
        kernel_size, strides, padding ("valid"/"same"), dilation_rate, activation,
        use_bias, kernel_initializer (default "quaternion_glorot"), bias_initializer,
        kernel_regularizer, bias_regularizer: as in ``keras.layers.Conv2D``.
    """

    def _kernel_shape(self, in_q, out_q):
        return (4, *self.kernel_size, in_q, out_q)

    def call(self, inputs):
        outputs = ops.conv(
            inputs,
            self._real_kernel(),
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
        )
        return self._finish(outputs)

    def compute_output_shape(self, input_shape):
        sizes = []
        for axis in (0, 1):
            size = input_shape[axis + 1]
            if size is not None:
                if self.padding == "valid":
                    size = (size - self._kernel_extent(axis)) // self.strides[axis] + 1
                else:
                    size = -(-size // self.strides[axis])
            sizes.append(size)
        return (input_shape[0], *sizes, self.filters)


@keras.saving.register_keras_serializable(package="keras_ser")
class QuaternionConv2DTranspose(_QuaternionConvBase):
    """2-D quaternion transposed convolution, the counterpart of ``keras.layers.Conv2DTranspose``.

    Like :class:`QuaternionConv2D`, but the component kernels ``kernel`` are stored
    ``(4, kh, kw, filters / 4, C_in / 4)`` as Keras stores a transposed kernel
    (output channels before input channels) and the assembled real kernel
    ``(kh, kw, filters, C_in)``, its taps spread ``dilation_rate`` apart, goes to one
    transposed convolution. Output sizes are those of ``Conv2DTranspose``
    (``input · stride`` with ``padding="same"``).

    Args:
        filters: output channels in real units (a multiple of 4).
        kernel_size, strides, padding ("valid"/"same"), output_padding, dilation_rate,
        activation, use_bias, kernel_initializer (default "quaternion_glorot"),
        bias_initializer, kernel_regularizer, bias_regularizer: as in
        ``keras.layers.Conv2DTranspose``.
    """

    transposed = True

    def __init__(
        self, filters, kernel_size, strides=1, padding="valid", output_padding=None, dilation_rate=1, **kwargs
    ):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate, **kwargs)
        self.output_padding = (
            None
            if output_padding is None
            else int_tuple(output_padding, 2, "output_padding", type(self).__name__, minimum=0)
        )
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(
                f"QuaternionConv2DTranspose: `output_padding`={self.output_padding} must be smaller than "
                f"`strides`={self.strides} along each axis."
            )

    def _kernel_shape(self, in_q, out_q):
        return (4, *self.kernel_size, out_q, in_q)

    def _real_kernel(self):
        """The real kernel with ``rate - 1`` zeros inserted between taps along each dilated axis.

        A transposed convolution with this kernel and no dilation is the dilated one;
        TensorFlow's CPU kernels reject dilated transposed convolutions unless oneDNN is on.
        """
        kernel = super()._real_kernel()
        for axis, rate in enumerate(self.dilation_rate):
            if rate > 1:
                shape = list(kernel.shape)
                gaps = [(0, 0)] * (len(shape) + 1)
                gaps[axis + 1] = (0, rate - 1)
                spread = ops.pad(ops.expand_dims(kernel, axis + 1), gaps)  # each tap followed by rate - 1 zeros
                shape[axis] *= rate
                kernel = ops.reshape(spread, shape)
                shape[axis] = self._kernel_extent(axis)  # drop the zeros after the last tap
                kernel = ops.slice(kernel, [0] * len(shape), shape)
        return kernel

    def call(self, inputs):
        outputs = ops.conv_transpose(
            inputs,
            self._real_kernel(),
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            data_format="channels_last",
        )
        return self._finish(outputs)

    def compute_output_shape(self, input_shape):
        # The sizes keras.ops.conv_transpose produces (Keras's TF-style rule).
        sizes = []
        for axis in (0, 1):
            size, stride, extent = input_shape[axis + 1], self.strides[axis], self._kernel_extent(axis)
            extra = None if self.output_padding is None else self.output_padding[axis]
            if size is not None:
                if self.padding == "valid":
                    size = (size - 1) * stride + extent + (max(extent, stride) - extent if extra is None else extra)
                elif extra is None:
                    size = size * stride
                else:
                    size = (size - 1) * stride + extent % 2 + extra
            sizes.append(size)
        return (input_shape[0], *sizes, self.filters)

    def get_config(self):
        config = super().get_config()
        config["output_padding"] = self.output_padding
        return config


@keras.saving.register_keras_serializable(package="keras_ser")
class QuaternionDense(_QuaternionLayer):
    """Quaternion fully connected layer, the counterpart of ``keras.layers.Dense``.

    Acts on the last axis (a multiple of 4 in ``[r | i | j | k]`` blocks) of an input
    of rank >= 2. Stores ``kernel`` of shape ``(4, C_in / 4, units / 4)`` and a real
    bias per output unit; each call assembles the real ``(C_in, units)`` kernel and
    runs one matmul.

    Args:
        units: output units in real units (a multiple of 4).
        activation, use_bias, kernel_initializer (default "quaternion_glorot"),
        bias_initializer, kernel_regularizer, bias_regularizer: as in
        ``keras.layers.Dense``.
    """

    channels_argument = "units"

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.units = self.channels
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def _kernel_shape(self, in_q, out_q):
        return (4, in_q, out_q)

    def call(self, inputs):
        return self._finish(ops.matmul(inputs, self._real_kernel()))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)
