"""One network, three variants: the layers that differ between real, quaternion and MTS builds.

Every architecture in `keras_ser.models` is written once against a
`LayerFactory`; the factory decides which class each convolution, hidden dense
layer and batch normalisation becomes (METHODS.md §3, §6):

- ``"real"``: `Conv2D`, `Dense`, `BatchNormalization`.
- ``"quaternion"``: `QuaternionConv2D`, `QuaternionDense` for hidden layers,
  `QuaternionBatchNormalization`; the output layer stays a real `Dense`.
- ``"mts"``: `MTSConv2D` in the chosen conv layers, real layers elsewhere.

Padding follows PyTorch: an integer pads symmetrically with zeros, so that
feature-map sizes match the torchvision architectures exactly.
"""

import keras

from keras_ser.layers import (
    MTSConv2D,
    QuaternionBatchNormalization,
    QuaternionConv2D,
    QuaternionConv2DTranspose,
    QuaternionDense,
)

VARIANTS = ("real", "quaternion", "mts")
DEFAULT_INPUT_SHAPES = {
    "real": (512, 128, 1),
    "quaternion": (64, 64, 4),
    "mts": (512, 128, 1),
}
DEFAULT_SCALES = (0.7, 1.0, 1.428)
# PyTorch BatchNorm2d defaults (momentum 0.1 there is 0.9 here).
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5


def check_variant(variant):
    """Raise a ValueError naming the choices unless `variant` is one of VARIANTS."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: choose one of {', '.join(map(repr, VARIANTS))}")


def resolve_input_shape(variant, input_shape, model_name, min_size=(1, 1)):
    """Return `input_shape` as a tuple (or the variant's default), checked for `model_name`.

    `min_size` is the smallest (time, frequency) size the architecture can take.
    """
    check_variant(variant)
    shape = DEFAULT_INPUT_SHAPES[variant] if input_shape is None else input_shape
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise ValueError(
            f"{model_name}: input_shape must be (time, frequency, channels), got {input_shape!r}"
        ) from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"{model_name}: input_shape must be three positive sizes (time, frequency, channels), got {input_shape!r}"
        )
    if variant == "quaternion" and shape[-1] % 4:
        raise ValueError(
            f"{model_name}: the quaternion variant needs input channels divisible by 4 "
            f"(an RH-emo embedding has 4), got input_shape {shape}"
        )
    if shape[0] < min_size[0] or shape[1] < min_size[1]:
        raise ValueError(
            f"{model_name}: input_shape {shape} is too small; this architecture needs at least "
            f"{min_size[0]} time steps x {min_size[1]} frequency bins"
        )
    return shape


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _mts_layer_numbers(mts_layers, model_name):
    """Return "all" or the sorted distinct conv-layer numbers in `mts_layers`."""
    if isinstance(mts_layers, str):
        if mts_layers == "all":
            return mts_layers
    else:
        try:
            return tuple(sorted({int(i) for i in mts_layers}))
        except (TypeError, ValueError):
            pass
    raise ValueError(f"{model_name}: mts_layers must be 'all' or conv-layer numbers (1-based), got {mts_layers!r}")


class LayerFactory:
    """Builds the conv, dense and batch-norm layers of one network variant.

    Conv layers are numbered 1, 2, ... in the order they are created (forward
    order); `mts_layers` picks which of them become MTS layers when
    ``variant="mts"``: a tuple of those numbers, or ``"all"`` for every conv whose
    kernel spans more than one time step (a 1-step kernel cannot be time-scaled).
    Call `finish()` once the network is built to check the numbers were valid.
    """

    def __init__(self, variant, model_name, scales=None, mts_layers=None, default_mts_layers="all", l2=0.0):
        check_variant(variant)
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 >= 0:
            raise ValueError(f"{model_name}: l2 must be a number >= 0 (0 turns the penalty off), got {l2!r}")
        # Ch. 4's "Adam with L2 regularisation": l2 * sum(kernel ** 2) of every conv and hidden dense layer.
        self.kernel_regularizer = keras.regularizers.L2(l2) if l2 else None
        if variant != "mts" and (scales is not None or mts_layers is not None):
            raise ValueError(
                f"{model_name}: scales and mts_layers apply only to variant='mts', got variant={variant!r}"
            )
        self.variant = variant
        self.model_name = model_name
        self.scales = DEFAULT_SCALES if scales is None else tuple(scales)
        self.mts_layers = _mts_layer_numbers(default_mts_layers if mts_layers is None else mts_layers, model_name)
        self.conv_count = 0

    def _uses_mts(self, kernel_size):
        if self.variant != "mts":
            return False
        if self.mts_layers == "all":
            return kernel_size[0] > 1
        return self.conv_count in self.mts_layers

    def conv(self, x, filters, kernel_size, name, strides=1, padding=0, activation=None, use_bias=True):
        """Apply conv layer `name` to `x`; `padding` is PyTorch-style symmetric zero padding."""
        self.conv_count += 1
        kernel_size, strides, padding = _pair(kernel_size), _pair(strides), _pair(padding)
        if strides == (1, 1) and all(k == 2 * p + 1 for k, p in zip(kernel_size, padding)):
            mode = "same"
        else:
            mode = "valid"
            if any(padding):
                x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        options = dict(strides=strides, padding=mode, activation=activation, use_bias=use_bias, name=name,
                       kernel_regularizer=self.kernel_regularizer)
        if self.variant == "quaternion":
            self._check_quaternion_width(name, filters, "filters")
            return QuaternionConv2D(filters, kernel_size, **options)(x)
        if self._uses_mts(kernel_size):
            return MTSConv2D(filters, kernel_size, scales=self.scales, **options)(x)
        return keras.layers.Conv2D(filters, kernel_size, **options)(x)

    def conv_transpose(self, x, filters, kernel_size, name, strides=1, activation=None):
        """Apply transposed conv `name` with 'same' padding (output size = input size x stride)."""
        options = dict(strides=strides, padding="same", activation=activation, name=name,
                       kernel_regularizer=self.kernel_regularizer)
        if self.variant == "quaternion":
            self._check_quaternion_width(name, filters, "filters")
            return QuaternionConv2DTranspose(filters, kernel_size, **options)(x)
        return keras.layers.Conv2DTranspose(filters, kernel_size, **options)(x)

    def dense(self, x, units, name, activation=None):
        """Apply hidden dense layer `name` (quaternion in the quaternion variant)."""
        if self.variant == "quaternion":
            self._check_quaternion_width(name, units, "units")
            return QuaternionDense(units, activation=activation, name=name, kernel_regularizer=self.kernel_regularizer)(x)
        return keras.layers.Dense(units, activation=activation, name=name, kernel_regularizer=self.kernel_regularizer)(x)

    def batch_norm(self, x, name):
        """Apply batch normalisation `name` (quaternion in the quaternion variant)."""
        options = dict(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON, name=name)
        if self.variant == "quaternion":
            return QuaternionBatchNormalization(**options)(x)
        return keras.layers.BatchNormalization(**options)(x)

    def _check_quaternion_width(self, name, width, argument):
        if width % 4:
            raise ValueError(
                f"{self.model_name}: layer {name!r} has {width} {argument}, but quaternion layers need a "
                f"multiple of 4; choose {argument} divisible by 4 or another variant"
            )

    def finish(self):
        """Check that every requested MTS layer number exists; return the conv count."""
        if self.variant == "mts" and self.mts_layers != "all":
            missing = [i for i in self.mts_layers if not 1 <= i <= self.conv_count]
            if missing:
                raise ValueError(
                    f"{self.model_name}: mts_layers {missing} do not exist; "
                    f"its conv layers are numbered 1..{self.conv_count}"
                )
        return self.conv_count


def check_num_classes(num_classes, model_name):
    """Raise a ValueError unless `num_classes` is a positive integer."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"{model_name}: num_classes must be a positive integer, got {num_classes!r}")


def output_layer(x, num_classes, activation, name="predictions"):
    """The real-valued classification layer every variant ends with."""
    return keras.layers.Dense(num_classes, activation=activation, name=name)(x)
