"""The CNNs A1-A4 of Ch. 4, with [time, frequency] kernels and valid padding.

A4 is AlexNet with MTS in its first two conv layers: `alexnet(variant="mts")`.
`l2` adds the thesis's L2 penalty, l2 * sum(kernel ** 2), for its conv and hidden dense layers.
"""

import keras

from keras_ser.models.alexnet import alexnet
from keras_ser.models.variants import LayerFactory, check_num_classes, output_layer, resolve_input_shape

EMOTION_KERNEL = (10, 5)  # Ch. 4 used (5, 5) for word recognition.


def _small_cnn(depth, *, variant, num_classes, input_shape, filters, kernel_size, hidden_units,
               classifier_activation, scales, mts_layers, l2, name):
    """conv [- 2x2 max pool - conv] - flatten - dense `hidden_units` - predictions (depth 1 or 2)."""
    check_num_classes(num_classes, name)
    kernel_size = tuple(kernel_size)
    # Two convs around a 2x2 pooling need 3k - 1 steps on an axis with kernel length k.
    min_size = kernel_size if depth == 1 else tuple(3 * k - 1 for k in kernel_size)
    shape = resolve_input_shape(variant, input_shape, name, min_size)
    layers = LayerFactory(variant, name, scales=scales, mts_layers=mts_layers, l2=l2)
    inputs = keras.Input(shape, name="inputs")
    x = layers.conv(inputs, filters, kernel_size, name="conv1", activation="relu")
    if depth == 2:
        x = keras.layers.MaxPooling2D(2, name="pool1")(x)
        x = layers.conv(x, filters, kernel_size, name="conv2", activation="relu")
    layers.finish()
    x = keras.layers.Flatten(name="flatten")(x)
    x = layers.dense(x, hidden_units, name="fc1", activation="relu")
    outputs = output_layer(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def a1(variant="real", num_classes=4, input_shape=None, filters=1, kernel_size=EMOTION_KERNEL, hidden_units=200,
       classifier_activation="softmax", scales=None, mts_layers=None, l2=0.0, name="a1"):
    """A1: conv (1 filter, [10, 5]) - dense 200 - predictions.

    The quaternion variant needs `filters` divisible by 4, which A1's single
    filter is not; the MTS variant makes the conv an MTS layer.
    """
    return _small_cnn(1, variant=variant, num_classes=num_classes, input_shape=input_shape, filters=filters,
                      kernel_size=kernel_size, hidden_units=hidden_units, classifier_activation=classifier_activation,
                      scales=scales, mts_layers=mts_layers, l2=l2, name=name)


def a2(variant="real", num_classes=4, input_shape=None, filters=10, kernel_size=EMOTION_KERNEL, hidden_units=200,
       classifier_activation="softmax", scales=None, mts_layers=None, l2=0.0, name="a2"):
    """A2: conv (10 filters, [10, 5]) - dense 200 - predictions.

    The quaternion variant needs `filters` divisible by 4 (e.g. 8 or 12).
    """
    return _small_cnn(1, variant=variant, num_classes=num_classes, input_shape=input_shape, filters=filters,
                      kernel_size=kernel_size, hidden_units=hidden_units, classifier_activation=classifier_activation,
                      scales=scales, mts_layers=mts_layers, l2=l2, name=name)


def a3(variant="real", num_classes=4, input_shape=None, filters=10, kernel_size=EMOTION_KERNEL, hidden_units=200,
       classifier_activation="softmax", scales=None, mts_layers=None, l2=0.0, name="a3"):
    """A3: conv (10, [10, 5]) - 2x2 max pool - conv (10, [10, 5]) - dense 200 - predictions.

    The MTS variant makes both convs MTS layers unless `mts_layers` says otherwise.
    """
    return _small_cnn(2, variant=variant, num_classes=num_classes, input_shape=input_shape, filters=filters,
                      kernel_size=kernel_size, hidden_units=hidden_units, classifier_activation=classifier_activation,
                      scales=scales, mts_layers=mts_layers, l2=l2, name=name)


def a4(variant="mts", num_classes=4, input_shape=None, **kwargs):
    """A4: AlexNet, by default with MTS in conv layers 1 and 2 (see `alexnet`)."""
    kwargs.setdefault("name", "a4")
    return alexnet(variant=variant, num_classes=num_classes, input_shape=input_shape, **kwargs)
