"""Keras layers for speech emotion recognition: quaternion, multi-time-scale and anti-transfer."""

from keras_ser.layers.quaternion import (  # noqa: F401
    QuaternionConv2D,
    QuaternionConv2DTranspose,
    QuaternionDense,
    hamilton_kernel,
)
from keras_ser.layers.quaternion_batch_norm import QuaternionBatchNormalization  # noqa: F401
from keras_ser.layers.quaternion_initializers import (  # noqa: F401
    QuaternionGlorot,
    QuaternionHe,
    QuaternionInitializer,
)
from keras_ser.layers.mts_conv import MTSConv2D  # noqa: F401
from keras_ser.layers.anti_transfer_loss import AntiTransferLoss  # noqa: F401
from keras_ser.layers.anti_transfer_model import AntiTransferModel  # noqa: F401
from keras_ser.layers.introspection import conv_layers, find_conv_layer, post_activation_layer  # noqa: F401
