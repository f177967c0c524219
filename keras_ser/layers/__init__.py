"""Keras layers for speech emotion recognition: quaternion, multi-time-scale and anti-transfer."""

from keras_ser.layers.anti_transfer_loss import AntiTransferLoss
from keras_ser.layers.anti_transfer_model import AntiTransferModel
from keras_ser.layers.introspection import conv_layers, find_conv_layer, post_activation_layer
from keras_ser.layers.mts_conv import MTSConv2D
from keras_ser.layers.quaternion import QuaternionConv2D, QuaternionConv2DTranspose, QuaternionDense, hamilton_kernel
from keras_ser.layers.quaternion_batch_norm import QuaternionBatchNormalization
from keras_ser.layers.quaternion_initializers import QuaternionGlorot, QuaternionHe, QuaternionInitializer

__all__ = [
    "AntiTransferLoss",
    "AntiTransferModel",
    "MTSConv2D",
    "QuaternionBatchNormalization",
    "QuaternionConv2D",
    "QuaternionConv2DTranspose",
    "QuaternionDense",
    "QuaternionGlorot",
    "QuaternionHe",
    "QuaternionInitializer",
    "conv_layers",
    "find_conv_layer",
    "hamilton_kernel",
    "post_activation_layer",
]
