"""The Conv2D-style constructor arguments shared by the layers: validation, and the weights they describe."""

import numpy as np


def int_tuple(value, rank, name, layer, minimum=1):
    """Normalise an int or a ``rank``-tuple of ints ``>= minimum`` to a tuple; raise naming `layer` and `name`."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank
    if len(values) != rank or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in values
    ):
        raise ValueError(
            f"{layer}: `{name}` must be an int >= {minimum} or a tuple of {rank} such ints, got {value!r}."
        )
    return tuple(int(v) for v in values)


def padding_mode(padding, layer):
    """'valid' or 'same' (any case); raise naming `layer` otherwise."""
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{layer}: `padding` must be 'valid' or 'same', got {padding!r}.")
    return padding.lower()


def add_kernel_and_bias(layer, kernel_shape, bias_size):
    """Create `layer.kernel` and, when `layer.use_bias`, `layer.bias` with the layer's initializers and regularizers."""
    layer.kernel = layer.add_weight(
        name="kernel",
        shape=kernel_shape,
        initializer=layer.kernel_initializer,
        regularizer=layer.kernel_regularizer,
    )
    layer.bias = (
        layer.add_weight(
            name="bias",
            shape=(bias_size,),
            initializer=layer.bias_initializer,
            regularizer=layer.bias_regularizer,
        )
        if layer.use_bias
        else None
    )
