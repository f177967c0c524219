"""The model zoo: VGG16, AlexNet, ResNet-18/50, the Ch. 4 CNNs and a compact CNN, in real, quaternion and MTS
variants, and RH-emo."""

from keras_ser.models.alexnet import alexnet
from keras_ser.models.compact_cnn import compact_cnn
from keras_ser.models.cost import cost_table, format_cost_table, print_cost_table
from keras_ser.models.flops import count_flops, layer_flops
from keras_ser.models.introspection import conv_layers, resnet_block_output
from keras_ser.models.mts_cnn import a1, a2, a3, a4
from keras_ser.models.pooling import AdaptiveAveragePooling2D, TemporalStatisticsPooling
from keras_ser.models.resnet import resnet18, resnet50
from keras_ser.models.rhemo import RHEMO_VARIANTS, embed, fit_rhemo, rhemo
from keras_ser.models.variants import DEFAULT_INPUT_SHAPES, DEFAULT_SCALES, VARIANTS
from keras_ser.models.vgg import vgg16

# The classification networks, by the name of their builder function here.
NETWORK_BUILDERS = ("a1", "a2", "a3", "a4", "alexnet", "compact_cnn", "vgg16", "resnet18", "resnet50")

__all__ = [
    "AdaptiveAveragePooling2D",
    "DEFAULT_INPUT_SHAPES",
    "DEFAULT_SCALES",
    "NETWORK_BUILDERS",
    "RHEMO_VARIANTS",
    "TemporalStatisticsPooling",
    "VARIANTS",
    "a1",
    "a2",
    "a3",
    "a4",
    "alexnet",
    "compact_cnn",
    "conv_layers",
    "cost_table",
    "count_flops",
    "embed",
    "fit_rhemo",
    "format_cost_table",
    "layer_flops",
    "print_cost_table",
    "resnet18",
    "resnet50",
    "resnet_block_output",
    "rhemo",
    "vgg16",
]
