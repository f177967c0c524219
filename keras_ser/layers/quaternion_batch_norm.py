"""Quaternion batch normalisation with per-quaternion-channel statistics (thesis Appendix A)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ser")
class QuaternionBatchNormalization(keras.layers.Layer):
    """Batch normalisation of quaternion channels ``[r | i | j | k]`` on the last axis.

    For each of the ``C / 4`` quaternion channels ``q`` (channels-last input of rank
    >= 2, ``C`` a multiple of 4) the layer computes over all other axes a mean ``μ``
    per component (one per real channel) and one shared variance
    ``V = E|q - μ|²`` (the sum of the four component variances), and outputs
    ``γ (q - μ) / sqrt(V + ε) + β`` with ``γ`` one scale per quaternion channel and
    ``β`` one offset per real channel. A normalised quaternion channel so has zero
    mean per component and ``E|q|² ≈ 1``, and its four components are scaled alike,
    which keeps the quaternion's direction.

    Training (``training=True`` on a trainable layer) uses the batch statistics and
    moves ``moving_mean`` (``C``) and ``moving_variance`` (``C / 4``) towards them:
    ``moving = momentum · moving + (1 - momentum) · batch``, with the biased batch
    variance as ``keras.layers.BatchNormalization`` does. Inference, and any call of a
    non-trainable (frozen) layer, normalises with the moving statistics. Statistics
    are computed in at least float32.

    Difference from the reference code: it normalises with 4 scalar means and one
    scalar variance taken over the whole tensor (all channels pooled), so channels of
    different scales are not equalised. Here every quaternion channel has its own
    statistics, as a real BatchNormalization has per real channel.

    Args:
        momentum: momentum of the moving statistics.
        epsilon: added to the variance before the square root.
        center: whether to learn the offset ``β``.
        scale: whether to learn the scale ``γ``.
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer:
            for ``β`` and ``γ``, as in ``keras.layers.BatchNormalization``.
    """

    def __init__(
        self,
        momentum=0.99,
        epsilon=1e-5,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"QuaternionBatchNormalization: `momentum` must lie in [0, 1], got {momentum!r}.")
        if not epsilon > 0:
            raise ValueError(f"QuaternionBatchNormalization: `epsilon` must be positive, got {epsilon!r}.")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % 4:
            raise ValueError(
                "QuaternionBatchNormalization: the input's channel axis (last) must be a known multiple of 4 "
                f"holding the [r | i | j | k] quaternion blocks, got {channels} input channels."
            )
        quaternions = channels // 4
        self.gamma = (
            self.add_weight(
                name="gamma",
                shape=(quaternions,),
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
            )
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(
                name="beta", shape=(channels,), initializer=self.beta_initializer, regularizer=self.beta_regularizer
            )
            if self.center
            else None
        )
        self.moving_mean = self.add_weight(name="moving_mean", shape=(channels,), initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=(quaternions,), initializer="ones", trainable=False
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: channels})

    def call(self, inputs, training=None):
        inputs = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        if training and self.trainable:
            mean, component_variance = ops.moments(inputs, axes=tuple(range(len(inputs.shape) - 1)))
            variance = ops.sum(ops.reshape(component_variance, (4, -1)), axis=0)
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.assign(
                    ops.cast(moving, batch.dtype) * self.momentum + ops.stop_gradient(batch) * (1.0 - self.momentum)
                )
        else:
            mean = ops.cast(self.moving_mean, inputs.dtype)
            variance = ops.cast(self.moving_variance, inputs.dtype)
        multiplier = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            multiplier = multiplier * ops.cast(self.gamma, inputs.dtype)
        outputs = (inputs - mean) * ops.tile(multiplier, (4,))
        if self.center:
            outputs = outputs + ops.cast(self.beta, inputs.dtype)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "beta_initializer": keras.initializers.serialize(self.beta_initializer),
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            }
        )
        return config
