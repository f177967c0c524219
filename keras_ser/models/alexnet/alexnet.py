"""AlexNet in the torchvision layout (Ch. 4 A4, Ch. 6-7)."""

import keras

from keras_ser.models.pooling import AdaptiveAveragePooling2D
from keras_ser.models.variants import LayerFactory, check_num_classes, output_layer, resolve_input_shape

# (filters, kernel, stride, padding, followed by max pooling) of the five conv layers.
ALEXNET_CONVS = (
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, True),
)
# Conv 11x11/4 (pad 2) and three 3x3/2 max poolings need at least 63 steps per axis.
ALEXNET_MIN_SIZE = (63, 63)
POOLED_SIZE = (6, 6)


def alexnet(
    variant="real",
    num_classes=4,
    input_shape=None,
    dropout=0.5,
    classifier_activation="softmax",
    scales=None,
    mts_layers=None,
    name="alexnet",
):
    """Build AlexNet: conv1..conv5, adaptive average pooling to 6x6, fc1, fc2, predictions.

    The adaptive pooling (PyTorch bins) makes the classifier 9216 -> 4096 ->
    4096 -> classes for any input size. `variant` is "real", "quaternion" or
    "mts"; the MTS variant (architecture A4 of Ch. 4) puts MTS in conv layers
    1 and 2 unless `mts_layers` says otherwise.
    """
    check_num_classes(num_classes, name)
    shape = resolve_input_shape(variant, input_shape, name, ALEXNET_MIN_SIZE)
    layers = LayerFactory(variant, name, scales=scales, mts_layers=mts_layers, default_mts_layers=(1, 2))
    inputs = keras.Input(shape, name="inputs")
    x = inputs
    pools = 0
    for index, (filters, kernel, stride, padding, pooled) in enumerate(ALEXNET_CONVS, start=1):
        x = layers.conv(x, filters, kernel, name=f"conv{index}", strides=stride, padding=padding, activation="relu")
        if pooled:
            pools += 1
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{pools}")(x)
    layers.finish()
    x = AdaptiveAveragePooling2D(POOLED_SIZE, name="avg_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout1")(x)
    x = layers.dense(x, 4096, name="fc1", activation="relu")
    x = keras.layers.Dropout(dropout, name="dropout2")(x)
    x = layers.dense(x, 4096, name="fc2", activation="relu")
    outputs = output_layer(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
