"""VGG16 (Simonyan & Zisserman, 2015) as used in Ch. 5-7, without adaptive pooling."""

import keras

from keras_ser.models.variants import LayerFactory, check_num_classes, output_layer, resolve_input_shape

# Output widths of the 13 conv layers, grouped by the max pooling that ends each block.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
# Five 2x2 poolings need at least 32 steps on each axis.
VGG16_MIN_SIZE = (32, 32)


def vgg16(
    variant="real",
    num_classes=4,
    input_shape=None,
    dropout=0.5,
    classifier_activation="softmax",
    scales=None,
    mts_layers=None,
    name="vgg16",
):
    """Build VGG16: 13 3x3 conv layers ("conv1".."conv13") and fc1, fc2, predictions.

    As in the thesis, the torchvision adaptive pooling is removed: the last
    feature map is flattened directly, so on (512, 128, 1) the classifier sees
    16 x 4 x 512 values and on a (64, 64, 4) RH-emo embedding 2 x 2 x 512.
    `variant` is "real", "quaternion" (default input (64, 64, 4)) or "mts"
    (MTS in the conv layers numbered in `mts_layers`, default all, with `scales`).
    """
    check_num_classes(num_classes, name)
    shape = resolve_input_shape(variant, input_shape, name, VGG16_MIN_SIZE)
    layers = LayerFactory(variant, name, scales=scales, mts_layers=mts_layers)
    inputs = keras.Input(shape, name="inputs")
    x = inputs
    for block, widths in enumerate(VGG16_BLOCKS, start=1):
        for width in widths:
            x = layers.conv(x, width, 3, name=f"conv{layers.conv_count + 1}", padding=1, activation="relu")
        x = keras.layers.MaxPooling2D(2, name=f"pool{block}")(x)
    layers.finish()
    x = keras.layers.Flatten(name="flatten")(x)
    x = layers.dense(x, 4096, name="fc1", activation="relu")
    x = keras.layers.Dropout(dropout, name="dropout1")(x)
    x = layers.dense(x, 4096, name="fc2", activation="relu")
    x = keras.layers.Dropout(dropout, name="dropout2")(x)
    outputs = output_layer(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
