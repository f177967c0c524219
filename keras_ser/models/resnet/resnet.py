"""ResNet-18 and ResNet-50 (He et al., 2016) in the torchvision layout."""

import keras

from keras_ser.models.resnet.blocks import basic_block, bottleneck_block
from keras_ser.models.variants import LayerFactory, check_num_classes, output_layer, resolve_input_shape

STAGE_FILTERS = (64, 128, 256, 512)
RESNET18_DEPTHS = (2, 2, 2, 2)
RESNET50_DEPTHS = (3, 4, 6, 3)


def _resnet(block, depths, variant, num_classes, input_shape, classifier_activation, scales, mts_layers, name):
    check_num_classes(num_classes, name)
    shape = resolve_input_shape(variant, input_shape, name)
    layers = LayerFactory(variant, name, scales=scales, mts_layers=mts_layers)
    inputs = keras.Input(shape, name="inputs")
    x = layers.conv(inputs, 64, 7, name="conv1", strides=2, padding=3, use_bias=False)
    x = layers.batch_norm(x, name="bn1")
    x = keras.layers.ReLU(name="relu1")(x)
    # Zero padding equals PyTorch's -inf padding here: the input is post-ReLU (>= 0).
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, (filters, depth) in enumerate(zip(STAGE_FILTERS, depths), start=1):
        for index in range(1, depth + 1):
            stride = 2 if stage > 1 and index == 1 else 1
            x = block(layers, x, filters, stride, prefix=f"stage{stage}_block{index}")
    layers.finish()
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = output_layer(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def resnet18(
    variant="real",
    num_classes=4,
    input_shape=None,
    classifier_activation="softmax",
    scales=None,
    mts_layers=None,
    name="resnet18",
):
    """Build ResNet-18: 7x7/2 stem, basic blocks [2, 2, 2, 2], global average pooling, predictions.

    Convs have no bias and are followed by batch norm (quaternion in the
    quaternion variant). Block outputs are named "stage{s}_block{b}_out"
    (see `resnet_block_output`). The MTS variant (Ch. 4) puts MTS in every conv
    with a kernel longer than one time step unless `mts_layers` lists others.
    """
    return _resnet(
        basic_block, RESNET18_DEPTHS, variant, num_classes, input_shape, classifier_activation, scales, mts_layers, name
    )


def resnet50(
    variant="real",
    num_classes=4,
    input_shape=None,
    classifier_activation="softmax",
    scales=None,
    mts_layers=None,
    name="resnet50",
):
    """Build ResNet-50 v1.5: 7x7/2 stem, bottlenecks [3, 4, 6, 3] (stride on the 3x3), predictions.

    Convs have no bias and are followed by batch norm (quaternion in the
    quaternion variant, whose hidden layers are all quaternion; the output
    layer stays real). Block outputs are named "stage{s}_block{b}_out".
    """
    return _resnet(
        bottleneck_block,
        RESNET50_DEPTHS,
        variant,
        num_classes,
        input_shape,
        classifier_activation,
        scales,
        mts_layers,
        name,
    )
