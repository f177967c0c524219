"""Counting the floating-point operations of a model from its layer shapes.

What is counted, per example, forward pass only: the multiply-accumulates
(MACs) of convolutions, transposed convolutions and dense layers, times 2.
Bias additions, normalisation, activations, pooling, the residual additions
and the MTS branch merge are not counted (they are a few per output value,
against hundreds of MACs). A training step costs roughly 3x the forward pass.

- Conv2D: out_h · out_w · C_out · k_h · k_w · C_in.
- Conv2DTranspose: in_h · in_w · C_in · k_h · k_w · C_out (each input value
  is scattered through the whole kernel).
- Dense: in_features · units (times any leading non-batch axes).
- Quaternion layers assemble one real kernel of the full size from their four
  component blocks and run one real convolution / matmul, so they cost what the
  real layer of the same widths costs (they save parameters, not operations);
  the assembly itself, once per call rather than per example, is not counted.
- MTSConv2D: the sum over branches of a convolution with that branch's
  resampled kernel, at that branch's output size (the kernel resampling and
  the resizing of 'valid' branch outputs are not counted).
"""

import math

import keras

from keras_ser.layers import MTSConv2D, QuaternionConv2D, QuaternionConv2DTranspose, QuaternionDense


def _size(shape):
    return math.prod(int(d) for d in shape)


def _conv_macs(layer):
    kernel_h, kernel_w = layer.kernel_size
    channels_in = layer.input.shape[-1] // getattr(layer, "groups", 1)
    return _size(layer.output.shape[1:3]) * layer.filters * kernel_h * kernel_w * channels_in


def _conv_transpose_macs(layer):
    kernel_h, kernel_w = layer.kernel_size
    return _size(layer.input.shape[1:]) * kernel_h * kernel_w * layer.filters


def _dense_macs(layer):
    return _size(layer.input.shape[1:]) * layer.units


def _mts_macs(layer):
    height, width, channels_in = layer.input.shape[1:]
    total = 0
    for kernel_h, kernel_w in layer.branch_kernel_sizes:
        if layer.padding == "same":
            out_h, out_w = layer.output.shape[1:3]
        else:
            extent_h, extent_w = (d * (k - 1) + 1 for d, k in zip(layer.dilation_rate, (kernel_h, kernel_w)))
            out_h = (height - extent_h) // layer.strides[0] + 1
            out_w = (width - extent_w) // layer.strides[1] + 1
        total += out_h * out_w * layer.filters * kernel_h * kernel_w * channels_in
    return total


# Quaternion and real twins share one rule.
_RULES = (
    ((keras.layers.Conv2DTranspose, QuaternionConv2DTranspose), _conv_transpose_macs),
    ((keras.layers.Conv2D, QuaternionConv2D), _conv_macs),
    ((keras.layers.Dense, QuaternionDense), _dense_macs),
    ((MTSConv2D,), _mts_macs),
)


def _layer_macs(layer):
    for kinds, rule in _RULES:
        if isinstance(layer, kinds):
            return rule(layer)
    return 0


def layer_flops(model):
    """{layer name: forward FLOPs per example} for the counted layers of functional `model`.

    Layers of nested models are named "<model>/<layer>". Each layer must be
    called once in its model (shared layers have no single input shape).
    """
    counts = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            counts.update({f"{layer.name}/{name}": flops for name, flops in layer_flops(layer).items()})
            continue
        macs = _layer_macs(layer)
        if macs:
            counts[layer.name] = 2 * macs
    return counts


def count_flops(model):
    """Forward-pass FLOPs per example of `model`: 2 x the MACs of its conv, transposed conv and dense layers."""
    return sum(layer_flops(model).values())
