"""The residual blocks of ResNet-18 (basic) and ResNet-50 (bottleneck, v1.5)."""

import keras


def _shortcut(layers, x, filters, stride, prefix):
    """Identity, or a 1x1 conv + batch norm when the shape changes."""
    if stride == 1 and x.shape[-1] == filters:
        return x
    x = layers.conv(x, filters, 1, name=f"{prefix}_shortcut_conv", strides=stride, use_bias=False)
    return layers.batch_norm(x, name=f"{prefix}_shortcut_bn")


def _merge(shortcut, residual, prefix):
    x = keras.layers.Add(name=f"{prefix}_add")([residual, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_out")(x)


def _conv_bn(layers, x, filters, kernel, prefix, index, stride=1, relu=True):
    x = layers.conv(
        x, filters, kernel, name=f"{prefix}_conv{index}", strides=stride, padding=kernel // 2, use_bias=False
    )
    x = layers.batch_norm(x, name=f"{prefix}_bn{index}")
    return keras.layers.ReLU(name=f"{prefix}_relu{index}")(x) if relu else x


def basic_block(layers, x, filters, stride, prefix):
    """Two 3x3 conv + BN layers with a residual connection; output width `filters`."""
    residual = _conv_bn(layers, x, filters, 3, prefix, 1, stride=stride)
    residual = _conv_bn(layers, residual, filters, 3, prefix, 2, relu=False)
    return _merge(_shortcut(layers, x, filters, stride, prefix), residual, prefix)



def bottleneck_block(layers, x, filters, stride, prefix):
    """1x1, 3x3 (carrying the stride, as in v1.5), 1x1 conv + BN; output width 4·`filters`."""
    residual = _conv_bn(layers, x, filters, 1, prefix, 1)
    residual = _conv_bn(layers, residual, filters, 3, prefix, 2, stride=stride)
    residual = _conv_bn(layers, residual, 4 * filters, 1, prefix, 3, relu=False)
    return _merge(_shortcut(layers, x, 4 * filters, stride, prefix), residual, prefix)

