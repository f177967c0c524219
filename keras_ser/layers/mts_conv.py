"""Multi-time-scale (MTS) 2-D convolution (Guizzo et al., ICASSP 2020; thesis Ch. 4)."""

import functools
import math

import keras
import numpy as np
from keras import ops

from keras_ser.layers.arguments import add_kernel_and_bias, int_tuple, padding_mode


def resampled_length(length, scale):
    """Length of a kernel axis of ``length`` taps resampled by ``scale``: round half up, at least 1."""
    return max(1, math.floor(round(length * scale, 9) + 0.5))


def linear_interpolation_matrix(new_length, length):
    """(new_length, length) matrix resampling a sequence by linear interpolation.

    Sample ``i`` of the result lies at position ``i * (length - 1) / (new_length - 1)``
    of the original, so the first and last samples are kept ("align corners"); a
    single sample lies at the centre.
    """
    if new_length == 1:
        positions = np.array([(length - 1) / 2.0])
    else:
        positions = np.arange(new_length) * ((length - 1) / (new_length - 1))
    lower = np.minimum(np.floor(positions).astype(int), length - 1)
    upper = np.minimum(lower + 1, length - 1)
    weight_upper = positions - lower
    matrix = np.zeros((new_length, length))
    rows = np.arange(new_length)
    np.add.at(matrix, (rows, lower), 1.0 - weight_upper)
    np.add.at(matrix, (rows, upper), weight_upper)
    return matrix


def _pad_or_crop(x, before, after, axis):
    """Zero-pad (positive counts) or crop (negative counts) ``x`` at both ends of ``axis``."""
    if before < 0 or after < 0:
        index = [slice(None)] * len(x.shape)
        index[axis] = slice(max(-before, 0), after if after < 0 else None)
        x = x[tuple(index)]
    if before > 0 or after > 0:
        widths = [(0, 0)] * len(x.shape)
        widths[axis] = (max(before, 0), max(after, 0))
        x = ops.pad(x, widths)
    return x


def _positive_factors(values, name):
    """Validate a non-empty sequence of positive finite numbers and return it as floats."""
    try:
        factors = tuple(float(v) for v in values) if not isinstance(values, str) and np.ndim(values) == 1 else None
    except (TypeError, ValueError):
        factors = None
    if factors is None:
        raise ValueError(
            f"MTSConv2D: `{name}` must be a sequence of positive numbers such as (0.7, 1.0, 1.428), got {values!r}."
        )
    if not factors:
        raise ValueError(f"MTSConv2D: `{name}` is empty; give at least one scale factor, e.g. (1.0,).")
    bad = [v for v in factors if not (math.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"MTSConv2D: `{name}` must contain only positive finite numbers, got {bad}.")
    return factors


@keras.saving.register_keras_serializable(package="keras_ser")
class MTSConv2D(keras.layers.Layer):
    """Multi-time-scale 2-D convolution: one kernel matched at several time scales.

    Input and output are channels-last ``(batch, time, freq, channels)``. The layer
    holds exactly the trainable parameters of ``Conv2D(filters, kernel_size)``: one
    kernel ``(k_t, k_f, C_in, filters)`` and one bias. Branch ``i`` convolves the
    input, with the same padding, strides and dilation as every other branch, with
    that kernel resampled by linear interpolation to ``round(k_t * scales[i])`` taps
    along time (and ``round(k_f * freq_scales[i])`` along frequency; rounding half
    up, at least one tap; branches must differ in size). The branches
    are merged by an element-wise maximum, then the bias and the activation are
    applied. The output has the shape of ``Conv2D(filters, kernel_size)``'s.

    Args:
        filters: number of output channels.
        kernel_size: int or ``(time, freq)`` pair; the size of the stored kernel.
        scales: time scale factor of each branch.
        freq_scales: frequency scale factor of each branch (default all 1.0).
        strides, padding ("valid" or "same"), dilation_rate, activation, use_bias,
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer:
            as in ``keras.layers.Conv2D``.
        rescale_kernels: if True (default), a resampled kernel is multiplied by
            ``(k_t * k_f) / (n_t * n_f)`` (stored over resampled tap count), so its
            response to a pattern stretched like the kernel equals the stored
            kernel's response to the original pattern, and the branches compete on
            how well the pattern matches rather than on how many taps they sum. If
            False the resampled taps are used as they are, as in the authors' code:
            a kernel stretched by ``s`` then answers about ``s`` times as strongly,
            so the max picks the longest kernel wherever the response is positive
            and the shortest wherever it is negative, whatever the input's time
            scale (consistent with the near 50/50 use of the two extreme branches
            in thesis Table 4.2).
        track_usage: if True (default), inference calls (``training`` falsy, as in
            ``model.predict`` / ``evaluate``) count, per branch, the output
            positions where that branch attains the maximum; see
            :attr:`branch_usage`. Training steps never pay for it. If False the
            layer holds no extra (non-trainable) variables.

    Differences from the authors' PyTorch code:

    * They copy the resampled kernels into separate convolution layers through
      ``.data`` and average the weights back into the original kernel once per
      epoch, so no gradient from a stretched branch reaches the kernel. Here the
      resampling is a differentiable linear map applied in every call, so the one
      kernel is trained through every branch (the thesis's intended semantics) and
      nothing needs averaging.
    * Kernels are resampled with "align corners" linear interpolation (first and
      last taps kept) to ``round(k * s)`` taps; they call
      ``torch.nn.functional.interpolate`` (half-pixel sampling, ``floor(k * s)``).
    * With ``padding="valid"`` they resize each branch's (differently sized) output
      to the unscaled branch's size by linear interpolation, which shifts output
      positions by up to half the length difference near the edges and smooths
      them. Here every branch is centred on the unscaled kernel's output positions
      instead: the input is zero-padded for a longer kernel and cropped for a
      shorter one, so all branches answer for the same input centre at each output
      position. This equals the 'same' output cropped to the unscaled kernel's
      valid region, and is cheaper.

    Each branch is an exact convolution with its resampled kernel. Compressing the
    input by ``1/s`` instead of stretching the kernel would save about a quarter of
    the convolution work for (0.7, 1, 1.428), but it is not shift-equivariant and
    differs from the exact branch by about 13 % RMS on speech spectrograms, so it is
    not used (see BENCHMARKS.md for the measured cost).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        scales=(0.7, 1.0, 1.428),
        freq_scales=None,
        strides=1,
        padding="valid",
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        rescale_kernels=True,
        track_usage=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"MTSConv2D: `filters` must be a positive int, got {filters!r}.")
        self.filters = int(filters)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", "MTSConv2D")
        self.scales = _positive_factors(scales, "scales")
        if freq_scales is None:
            self.freq_scales = None
        else:
            self.freq_scales = _positive_factors(freq_scales, "freq_scales")
            if len(self.freq_scales) != len(self.scales):
                raise ValueError(
                    "MTSConv2D: `freq_scales` needs one factor per time scale: got "
                    f"{len(self.freq_scales)} for {len(self.scales)} `scales`."
                )
        branch_factors = list(zip(self.scales, self.freq_scales or (1.0,) * len(self.scales)))
        self.branch_kernel_sizes = [
            (resampled_length(self.kernel_size[0], st), resampled_length(self.kernel_size[1], sf))
            for st, sf in branch_factors
        ]
        if len(set(self.branch_kernel_sizes)) != len(self.branch_kernel_sizes):
            raise ValueError(
                f"MTSConv2D: `scales`/`freq_scales` {branch_factors} give kernel_size {self.kernel_size} the "
                f"resampled sizes {self.branch_kernel_sizes}, some of them equal; every branch needs its own "
                "size, so drop or spread out the scale factors."
            )
        self.strides = int_tuple(strides, 2, "strides", "MTSConv2D")
        self.dilation_rate = int_tuple(dilation_rate, 2, "dilation_rate", "MTSConv2D")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"MTSConv2D: `strides`={self.strides} > 1 cannot be combined with "
                f"`dilation_rate`={self.dilation_rate} > 1; set one of them to 1."
            )
        self.padding = padding_mode(padding, "MTSConv2D")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.rescale_kernels = bool(rescale_kernels)
        self.track_usage = bool(track_usage)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("MTSConv2D: the channel axis (last) of the input must be known when building.")
        for axis, name in ((1, "time"), (2, "freq")):
            size = input_shape[axis]
            extent = self.dilation_rate[axis - 1] * (self.kernel_size[axis - 1] - 1) + 1
            if self.padding == "valid" and size is not None and size < extent:
                raise ValueError(
                    f"MTSConv2D: input {name} size {size} is shorter than the kernel ({extent} taps with "
                    "dilation) with padding='valid'; use padding='same' or a longer input."
                )
        add_kernel_and_bias(self, (*self.kernel_size, channels, self.filters), self.filters)
        if self.track_usage:
            self.branch_wins = self.add_weight(
                name="branch_wins", shape=(len(self.scales),), initializer="zeros", trainable=False
            )
            self.positions_seen = self.add_weight(
                name="positions_seen", shape=(), initializer="zeros", trainable=False
            )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def _branch_kernel(self, kernel, branch_size):
        """The kernel resampled to ``branch_size`` taps (time, freq), differentiably."""
        if branch_size == self.kernel_size:
            return kernel
        (time_taps, freq_taps), (new_time, new_freq) = self.kernel_size, branch_size
        gain = (time_taps * freq_taps) / (new_time * new_freq) if self.rescale_kernels else 1.0
        time_matrix = ops.convert_to_tensor(linear_interpolation_matrix(new_time, time_taps) * gain, kernel.dtype)
        freq_matrix = ops.convert_to_tensor(linear_interpolation_matrix(new_freq, freq_taps), kernel.dtype)
        return ops.einsum("st,gf,tfio->sgio", time_matrix, freq_matrix, kernel)

    def _valid_alignment(self, branch_size, axis):
        """Input padding (>0) / cropping (<0) before and after along ``axis`` (1 time, 2 freq)
        that centres a 'valid' branch on the unscaled kernel's output positions."""
        dilation = self.dilation_rate[axis - 1]
        extent = dilation * (self.kernel_size[axis - 1] - 1) + 1
        branch_extent = dilation * (branch_size[axis - 1] - 1) + 1
        before = (branch_extent - 1) // 2 - (extent - 1) // 2
        return before, branch_extent - extent - before

    def call(self, inputs, training=None):
        kernel = self.kernel
        branches = []
        for branch_size in self.branch_kernel_sizes:
            branch_inputs = inputs
            if self.padding == "valid":
                for axis in (1, 2):
                    branch_inputs = _pad_or_crop(branch_inputs, *self._valid_alignment(branch_size, axis), axis)
            branches.append(
                ops.conv(
                    branch_inputs,
                    self._branch_kernel(kernel, branch_size),
                    strides=self.strides,
                    padding=self.padding,
                    data_format="channels_last",
                    dilation_rate=self.dilation_rate,
                )
            )
        merged = functools.reduce(ops.maximum, branches)
        if self.track_usage and not training:
            wins = ops.stack([ops.sum(ops.cast(ops.equal(b, merged), "float32")) for b in branches])
            self.branch_wins.assign_add(ops.cast(wins, self.branch_wins.dtype))
            self.positions_seen.assign_add(ops.cast(ops.size(merged), self.positions_seen.dtype))
        if self.use_bias:
            merged = merged + self.bias
        return self.activation(merged)

    @property
    def branch_usage(self):
        """Share of output positions where each branch attained the max (ties count for each branch).

        A numpy array aligned with ``scales``, accumulated over the inference calls since
        the layer was built or :meth:`reset_branch_usage` was called; NaN before any.
        """
        if not self.track_usage:
            raise RuntimeError("MTSConv2D: branch usage is not tracked; create the layer with track_usage=True.")
        if not self.built:
            raise RuntimeError("MTSConv2D: the layer is not built yet; call it on data first.")
        seen = float(keras.ops.convert_to_numpy(self.positions_seen))
        wins = keras.ops.convert_to_numpy(self.branch_wins).astype("float64")
        return wins / seen if seen > 0 else np.full(len(self.scales), np.nan)

    def reset_branch_usage(self):
        """Forget the branch usage counted so far."""
        if self.track_usage and self.built:
            self.branch_wins.assign(np.zeros(len(self.scales)))
            self.positions_seen.assign(0.0)

    def compute_output_shape(self, input_shape):
        sizes = []
        for axis in (1, 2):
            size = input_shape[axis]
            if size is not None:
                extent = self.dilation_rate[axis - 1] * (self.kernel_size[axis - 1] - 1) + 1
                if self.padding == "valid":
                    size = (size - extent) // self.strides[axis - 1] + 1
                else:
                    size = -(-size // self.strides[axis - 1])
            sizes.append(size)
        return (input_shape[0], *sizes, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "scales": self.scales,
                "freq_scales": self.freq_scales,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "rescale_kernels": self.rescale_kernels,
                "track_usage": self.track_usage,
            }
        )
        return config
