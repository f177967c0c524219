"""Quaternion layers against explicit quaternion arithmetic in numpy."""

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy import stats

from keras_ser.layers import (
    QuaternionBatchNormalization,
    QuaternionConv2D,
    QuaternionConv2DTranspose,
    QuaternionDense,
    QuaternionGlorot,
    QuaternionHe,
    QuaternionInitializer,
    hamilton_kernel,
)

# ---------------------------------------------------------------- numpy quaternion reference


def hamilton(p, q):
    """Hamilton product p ⊗ q of quaternion arrays (last axis (a, b, c, d) = a + bi + cj + dk)."""
    a1, b1, c1, d1 = np.moveaxis(p, -1, 0)
    a2, b2, c2, d2 = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
            a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
            a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
            a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
        ],
        axis=-1,
    )


def to_quaternions(x):
    """Real channels [r | i | j | k] (..., 4C) → quaternion array (..., C, 4)."""
    return np.moveaxis(x.reshape(*x.shape[:-1], 4, x.shape[-1] // 4), -2, -1)


def to_real(q):
    """Quaternion array (..., C, 4) → real channels [r | i | j | k] (..., 4C)."""
    return np.moveaxis(q, -1, -2).reshape(*q.shape[:-2], 4 * q.shape[-2])


def weights_of(layer):
    """The layer's component kernel (4, ..., a, b) as quaternion weights (..., a, b, 4), and its bias."""
    return np.moveaxis(keras.ops.convert_to_numpy(layer.kernel), 0, -1), keras.ops.convert_to_numpy(layer.bias)


def same_padding(size, kernel_extent, stride):
    """TensorFlow's 'same' padding (before, after) for a convolution over `size` samples."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_extent - size, 0)
    return total // 2, total - total // 2


def reference_conv(x, w, strides, padding, dilation=(1, 1)):
    """y[b, oh, ow, o] = Σ_{taps, i} w[th, tw, i, o] ⊗ x[b, oh·s + th·d, ow·s + tw·d, i]."""
    (kh, kw), (sh, sw), (dh, dw) = w.shape[:2], strides, dilation
    if padding == "same":
        pad_h = same_padding(x.shape[1], (kh - 1) * dh + 1, sh)
        pad_w = same_padding(x.shape[2], (kw - 1) * dw + 1, sw)
        x = np.pad(x, [(0, 0), pad_h, pad_w, (0, 0), (0, 0)])
    out_h = (x.shape[1] - ((kh - 1) * dh + 1)) // sh + 1
    out_w = (x.shape[2] - ((kw - 1) * dw + 1)) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w, w.shape[3], 4))
    for th in range(kh):
        for tw in range(kw):
            patch = x[:, th * dh : th * dh + sh * (out_h - 1) + 1 : sh, tw * dw : tw * dw + sw * (out_w - 1) + 1 : sw]
            y += hamilton(w[th, tw], patch[..., :, None, :]).sum(axis=-3)
    return y


def reference_conv_transpose(x, w, strides, padding, dilation=(1, 1)):
    """Scatter w[th, tw, o, i] ⊗ x[b, h, w, i] to y[b, h·s + th·d, w·s + tw·d, o]; crop as TensorFlow does."""
    (kh, kw), (sh, sw), (dh, dw) = w.shape[:2], strides, dilation
    extent_h, extent_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    batch, height, width = x.shape[:3]
    full = np.zeros((batch, (height - 1) * sh + extent_h, (width - 1) * sw + extent_w, w.shape[2], 4))
    for th in range(kh):
        for tw in range(kw):
            contribution = hamilton(w[th, tw], x[..., None, :, :]).sum(axis=-2)
            rows = slice(th * dh, th * dh + sh * (height - 1) + 1, sh)
            cols = slice(tw * dw, tw * dw + sw * (width - 1) + 1, sw)
            full[:, rows, cols] += contribution
    sizes, starts = [], []
    for size, k, s in ((height, extent_h, sh), (width, extent_w, sw)):
        if padding == "valid":
            sizes.append(size * s + max(k - s, 0))
            starts.append(0)
        else:  # the adjoint of a 'same' convolution from size·s samples to size
            sizes.append(size * s)
            starts.append(same_padding(size * s, k, s)[0])
    missing = [max(size - full.shape[1 + axis], 0) for axis, size in enumerate(sizes)]
    full = np.pad(full, [(0, 0), (0, missing[0]), (0, missing[1]), (0, 0), (0, 0)])
    return full[:, starts[0] : starts[0] + sizes[0], starts[1] : starts[1] + sizes[1]]


def random_inputs(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def randomise_bias(layer, seed=1):
    layer.bias.assign(random_inputs(layer.bias.shape, seed))


# ---------------------------------------------------------------- kernel assembly


def test_hamilton_kernel_matches_the_explicit_formula():
    in_q, out_q = 2, 3
    components = random_inputs((4, 3, 2, in_q, out_q))
    wr, wi, wj, wk = components
    # coefficient[output component][input component], read off
    # out_r = Wr*r - Wi*i - Wj*j - Wk*k;  out_i = Wr*i + Wi*r + Wj*k - Wk*j
    # out_j = Wr*j - Wi*k + Wj*r + Wk*i;  out_k = Wr*k + Wi*j - Wj*i + Wk*r
    coefficient = {
        "r": {"r": wr, "i": -wi, "j": -wj, "k": -wk},
        "i": {"i": wr, "r": wi, "k": wj, "j": -wk},
        "j": {"j": wr, "k": -wi, "r": wj, "i": wk},
        "k": {"k": wr, "j": wi, "i": -wj, "r": wk},
    }
    expected = np.zeros((3, 2, 4 * in_q, 4 * out_q), "float32")
    for o, out_name in enumerate("rijk"):
        for n, in_name in enumerate("rijk"):
            expected[:, :, n * in_q : (n + 1) * in_q, o * out_q : (o + 1) * out_q] = coefficient[out_name][in_name]
    assembled = keras.ops.convert_to_numpy(hamilton_kernel(components))
    np.testing.assert_array_equal(assembled, expected)
    transposed = keras.ops.convert_to_numpy(hamilton_kernel(np.swapaxes(components, -1, -2), transposed=True))
    np.testing.assert_array_equal(transposed, np.swapaxes(expected, -1, -2))


def test_hamilton_kernel_applies_the_quaternion_product():
    components = random_inputs((4, 3, 2))
    x = random_inputs((5, 12), seed=2)
    real = x @ keras.ops.convert_to_numpy(hamilton_kernel(components))
    quaternion = hamilton(np.moveaxis(components, 0, -1), to_quaternions(x)[:, :, None, :]).sum(axis=1)
    np.testing.assert_allclose(real, to_real(quaternion), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- layer outputs


@pytest.mark.parametrize(
    "kernel_size, strides, padding, dilation",
    [
        ((3, 3), (1, 1), "valid", (1, 1)),
        ((3, 2), (2, 2), "same", (1, 1)),
        ((2, 3), (2, 1), "valid", (1, 1)),
        ((3, 3), (1, 1), "same", (2, 1)),
    ],
)
def test_conv_matches_quaternion_reference(kernel_size, strides, padding, dilation):
    x = random_inputs((2, 9, 7, 8))
    layer = QuaternionConv2D(
        12, kernel_size, strides=strides, padding=padding, dilation_rate=dilation, activation="tanh"
    )
    layer.build(x.shape)
    randomise_bias(layer)
    y = keras.ops.convert_to_numpy(layer(x))
    w, bias = weights_of(layer)
    expected = np.tanh(to_real(reference_conv(to_quaternions(x), w, strides, padding, dilation)) + bias)
    assert y.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kernel_size, strides, padding, dilation",
    [
        ((3, 3), (2, 2), "same", (1, 1)),
        ((3, 3), (2, 1), "same", (1, 1)),
        ((3, 3), (2, 2), "valid", (1, 1)),
        ((4, 3), (2, 1), "same", (1, 1)),
        ((2, 2), (3, 1), "valid", (1, 1)),
        # dilated: TensorFlow's own dilated transposed convolution needs oneDNN on CPU
        ((3, 3), (1, 1), "valid", (2, 2)),
        ((3, 2), (1, 1), "same", (2, 2)),
        ((2, 3), (1, 1), "valid", (2, 3)),
        ((3, 2), (1, 1), "same", (2, 3)),
    ],
)
def test_conv_transpose_matches_quaternion_reference(kernel_size, strides, padding, dilation):
    x = random_inputs((2, 5, 4, 8))
    layer = QuaternionConv2DTranspose(4, kernel_size, strides=strides, padding=padding, dilation_rate=dilation)
    layer.build(x.shape)
    randomise_bias(layer)
    y = keras.ops.convert_to_numpy(layer(x))
    w, bias = weights_of(layer)
    assert w.shape == (*kernel_size, 1, 2, 4)  # stored (kh, kw, out, in) like Conv2DTranspose
    expected = to_real(reference_conv_transpose(to_quaternions(x), w, strides, padding, dilation)) + bias
    assert y.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_dense_matches_quaternion_reference_on_any_rank():
    x = random_inputs((3, 2, 8))
    layer = QuaternionDense(16, activation="relu")
    layer.build(x.shape)
    randomise_bias(layer)
    y = keras.ops.convert_to_numpy(layer(x))
    w, bias = weights_of(layer)
    expected = to_real(hamilton(w, to_quaternions(x)[..., :, None, :]).sum(axis=-3)) + bias
    np.testing.assert_allclose(y, np.maximum(expected, 0), rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape(x.shape) == (3, 2, 16)


@pytest.mark.parametrize(
    "options",
    [
        dict(kernel_size=3, strides=2, padding="same"),
        dict(kernel_size=3, strides=(2, 1), padding="valid"),
        dict(kernel_size=(3, 4), strides=2, padding="same", output_padding=1),
        dict(kernel_size=3, strides=3, padding="valid", output_padding=(2, 0)),
        dict(kernel_size=3, strides=1, padding="valid", dilation_rate=2),
    ],
)
def test_conv_transpose_output_shape_matches_keras(options):
    shape = (None, 7, 5, 8)
    ours = QuaternionConv2DTranspose(8, **options)
    expected = tuple(keras.layers.Conv2DTranspose(8, **options).compute_output_shape(shape))
    assert ours.compute_output_shape(shape) == expected
    assert keras.ops.convert_to_numpy(ours(random_inputs((1, 7, 5, 8)))).shape[1:] == expected[1:]


def test_conv_output_shape_with_unknown_sizes_in_a_functional_model():
    inputs = keras.Input((None, 10, 4))
    outputs = QuaternionConv2D(8, (3, 3), strides=(1, 2), padding="valid")(inputs)
    assert tuple(outputs.shape) == (None, None, 4, 8)
    outputs = QuaternionConv2DTranspose(4, 3, strides=(2, 1), padding="same")(outputs)
    assert tuple(outputs.shape) == (None, None, 4, 4)


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("use_bias", [True, False])
def test_parameter_counts_are_a_quarter_of_the_real_kernel(use_bias):
    cases = [
        (
            QuaternionConv2D(16, (3, 2), use_bias=use_bias),
            keras.layers.Conv2D(16, (3, 2), use_bias=use_bias),
            (1, 6, 6, 8),
            3 * 2 * 8 * 16,
        ),
        (
            QuaternionConv2DTranspose(8, 3, strides=2, use_bias=use_bias),
            keras.layers.Conv2DTranspose(8, 3, strides=2, use_bias=use_bias),
            (1, 4, 4, 12),
            3 * 3 * 12 * 8,
        ),
        (QuaternionDense(20, use_bias=use_bias), keras.layers.Dense(20, use_bias=use_bias), (1, 36), 36 * 20),
    ]
    for quaternion, real, shape, real_kernel in cases:
        quaternion.build(shape)
        real.build(shape)
        bias = quaternion.channels if use_bias else 0
        assert real.count_params() == real_kernel + bias
        assert quaternion.count_params() == real_kernel // 4 + bias
        assert len(quaternion.trainable_weights) == (2 if use_bias else 1)


# ---------------------------------------------------------------- initialiser


def test_initialiser_variance_follows_parcollet_glorot_and_he():
    # σ = 1/sqrt(2(n_in + n_out)) (Glorot) or 1/sqrt(2 n_in) (He), fans in quaternion units;
    # |w|² = m² with m/σ ~ chi(4): E|w|² = 4σ², E[w_r²] = 4σ²·E[cos²φ] = 2σ²,
    # E[w_i²] = 4σ²·E[sin²φ]·E[u_i²] = 4σ²·(1/2)·(1/3) = 2σ²/3.
    for criterion, shape, sigma2 in [
        ("glorot", (4, 3, 3, 48, 64), 1 / (2 * 9 * (48 + 64))),
        ("he", (4, 160, 240), 1 / (2 * 160)),
    ]:
        w = keras.ops.convert_to_numpy(QuaternionInitializer(criterion, seed=3)(shape)).reshape(4, -1).astype("float64")
        assert w.shape[1] >= 27_000
        np.testing.assert_allclose((w**2).sum(axis=0).mean(), 4 * sigma2, rtol=0.02)
        np.testing.assert_allclose((w**2).mean(axis=1), [2 * sigma2] + [2 * sigma2 / 3] * 3, rtol=0.03)
        np.testing.assert_allclose(w.mean(axis=1), 0, atol=0.02 * math.sqrt(sigma2))
        # modulus² / σ² ~ chi²(4); the pure part's direction is uniform on the sphere, so each of its
        # coordinates is uniform on [-1, 1]
        assert stats.kstest((w**2).sum(axis=0) / sigma2, stats.chi2(4).cdf).pvalue > 1e-3
        direction = w[1:] / np.linalg.norm(w[1:], axis=0)
        for coordinate in direction:
            assert stats.kstest(coordinate, stats.uniform(-1, 2).cdf).pvalue > 1e-3


def test_initialiser_is_seeded():
    shape = (4, 3, 3, 2, 5)
    first = keras.ops.convert_to_numpy(QuaternionInitializer(seed=7)(shape))
    np.testing.assert_array_equal(first, keras.ops.convert_to_numpy(QuaternionInitializer(seed=7)(shape)))
    assert not np.allclose(first, keras.ops.convert_to_numpy(QuaternionInitializer(seed=8)(shape)))
    unseeded = QuaternionInitializer()
    assert not np.allclose(keras.ops.convert_to_numpy(unseeded(shape)), keras.ops.convert_to_numpy(unseeded(shape)))
    np.random.seed(5)
    again = keras.ops.convert_to_numpy(unseeded(shape))
    np.random.seed(5)
    np.testing.assert_array_equal(again, keras.ops.convert_to_numpy(unseeded(shape)))


def test_initialiser_aliases_and_layer_default():
    assert isinstance(keras.initializers.get("quaternion_glorot"), QuaternionGlorot)
    he = keras.initializers.get("quaternion_he")
    assert isinstance(he, QuaternionHe) and he.criterion == "he"
    assert isinstance(QuaternionDense(8).kernel_initializer, QuaternionGlorot)
    layer = QuaternionDense(256, kernel_initializer="quaternion_he")
    layer.build((1, 512))
    w = keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_allclose((w**2).sum(axis=0).mean(), 4 / (2 * 128), rtol=0.03)
    restored = keras.initializers.deserialize(keras.initializers.serialize(QuaternionHe(seed=4)))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored((4, 2, 2))), keras.ops.convert_to_numpy(QuaternionHe(seed=4)((4, 2, 2)))
    )


def test_initialiser_rejects_bad_arguments():
    with pytest.raises(ValueError, match="criterion.*'xavier'"):
        QuaternionInitializer("xavier")
    with pytest.raises(ValueError, match=r"QuaternionInitializer: `shape`.*\(3, 4, 4\)"):
        QuaternionInitializer()((3, 4, 4))
    with pytest.raises(ValueError, match="seed.*1.5"):
        QuaternionInitializer(seed=1.5)


# ---------------------------------------------------------------- quaternion batch normalisation


def qbn_reference(x, mean, variance, gamma, beta, epsilon):
    """γ (q - μ) / sqrt(V + ε) + β; μ, β per real channel, V, γ per quaternion channel."""
    return (x - mean) / np.tile(np.sqrt(variance + epsilon) / gamma, 4) + beta


def quaternion_channel_statistics(x):
    """Mean per real channel and E|q - μ|² per quaternion channel over all but the last axis."""
    flat = x.reshape(-1, x.shape[-1]).astype("float64")
    mean = flat.mean(axis=0)
    power = ((flat - mean) ** 2).mean(axis=0)
    return mean, power.reshape(4, -1).sum(axis=0)


@pytest.mark.parametrize("shape", [(64, 8), (6, 5, 3, 12)])
def test_qbn_training_normalises_each_quaternion_channel(shape):
    rng = np.random.default_rng(0)
    channels = shape[-1]
    x = (rng.standard_normal(shape) * rng.uniform(0.5, 5, channels) + rng.uniform(-3, 3, channels)).astype("float32")
    layer = QuaternionBatchNormalization(momentum=0.9, epsilon=1e-5)
    y = keras.ops.convert_to_numpy(layer(x, training=True)).reshape(-1, channels)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    energy = (y**2).mean(axis=0).reshape(4, -1).sum(axis=0)
    np.testing.assert_allclose(energy, 1, rtol=1e-3)
    # the four components of a quaternion channel are scaled by one common factor
    ratios = (y**2).mean(axis=0) / (x.reshape(-1, channels).var(axis=0))
    ratios = ratios.reshape(4, -1)
    np.testing.assert_allclose(ratios, np.broadcast_to(ratios[0], ratios.shape), rtol=1e-3)

    mean, variance = quaternion_channel_statistics(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), 0.1 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), 0.9 + 0.1 * variance, rtol=1e-4)
    assert layer.moving_mean.shape == (channels,) and layer.moving_variance.shape == (channels // 4,)
    assert layer.gamma.shape == (channels // 4,) and layer.beta.shape == (channels,)


def test_qbn_training_and_inference_match_numpy_formula():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((4, 6, 5, 8)) * 2 + 1).astype("float32")
    layer = QuaternionBatchNormalization(momentum=0.5, epsilon=1e-3)
    layer.build(x.shape)
    gamma, beta = rng.uniform(0.5, 2, 2).astype("float32"), rng.standard_normal(8).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    mean, variance = quaternion_channel_statistics(x)
    trained = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(trained, qbn_reference(x, mean, variance, gamma, beta, 1e-3), rtol=1e-4, atol=1e-4)

    moving_mean, moving_variance = 0.5 * mean, 0.5 + 0.5 * variance
    other = rng.standard_normal(x.shape).astype("float32")
    expected = qbn_reference(other, moving_mean, moving_variance, gamma, beta, 1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(other, training=False)), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), moving_mean, rtol=1e-5, atol=1e-6)

    layer.trainable = False  # a frozen layer runs on its moving statistics and leaves them alone
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(other, training=True)), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), moving_variance, rtol=1e-5)


def test_qbn_without_center_and_scale_has_no_weights():
    layer = QuaternionBatchNormalization(center=False, scale=False)
    layer.build((None, 8))
    assert layer.trainable_weights == [] and layer.count_params() == 8 + 2


# ---------------------------------------------------------------- errors


def test_channel_counts_not_divisible_by_4_are_rejected():
    with pytest.raises(ValueError, match=r"QuaternionConv2D: `filters`.*multiple of 4.*got 6"):
        QuaternionConv2D(6, 3)
    with pytest.raises(ValueError, match=r"QuaternionConv2DTranspose: `filters`.*got 5"):
        QuaternionConv2DTranspose(5, 3)
    with pytest.raises(ValueError, match=r"QuaternionDense: `units`.*got 10"):
        QuaternionDense(10)
    with pytest.raises(ValueError, match="QuaternionConv2D: the input's channel axis.*got 6 input channels"):
        QuaternionConv2D(8, 3)(random_inputs((1, 5, 5, 6)))
    with pytest.raises(ValueError, match="QuaternionConv2DTranspose: the input's channel axis.*got 3 input channels"):
        QuaternionConv2DTranspose(8, 3)(random_inputs((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="QuaternionDense: the input's channel axis.*got 7 input channels"):
        QuaternionDense(8)(random_inputs((2, 7)))
    with pytest.raises(ValueError, match="QuaternionBatchNormalization: the input's channel axis.*got 9 input"):
        QuaternionBatchNormalization()(random_inputs((2, 9)))


def test_bad_layer_arguments_are_rejected():
    with pytest.raises(ValueError, match="QuaternionConv2D: `padding`.*'full'"):
        QuaternionConv2D(8, 3, padding="full")
    with pytest.raises(ValueError, match="QuaternionConv2D: `kernel_size`.*0"):
        QuaternionConv2D(8, (3, 0))
    with pytest.raises(ValueError, match="QuaternionConv2DTranspose: `strides`.*cannot be combined with `dilation"):
        QuaternionConv2DTranspose(8, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="QuaternionConv2DTranspose: `output_padding`.*smaller than `strides`"):
        QuaternionConv2DTranspose(8, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="QuaternionBatchNormalization: `momentum`.*1.5"):
        QuaternionBatchNormalization(momentum=1.5)


# ---------------------------------------------------------------- serialisation and other backends

SMALL_INPUT_SHAPE = (6, 4, 4)


def small_model():
    """All four layers, seeded so that every backend builds the same weights."""
    inputs = keras.Input(SMALL_INPUT_SHAPE)
    x = QuaternionConv2D(8, 3, padding="same", activation="relu", kernel_initializer=QuaternionGlorot(seed=1))(inputs)
    x = QuaternionBatchNormalization(momentum=0.5)(x)
    x = QuaternionConv2DTranspose(4, 3, strides=(2, 1), padding="same", kernel_initializer=QuaternionHe(seed=2))(x)
    x = keras.layers.Flatten()(x)
    outputs = QuaternionDense(8, kernel_initializer=QuaternionInitializer("glorot", seed=3))(x)
    return keras.Model(inputs, outputs)


def small_batch():
    return np.random.default_rng(0).uniform(0, 1, (3, *SMALL_INPUT_SHAPE)).astype("float32")


def test_keras_file_round_trip_reproduces_outputs(tmp_path):
    model = small_model()
    x = small_batch()
    model(x, training=True)  # move the batch-norm statistics away from their initial values
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            randomise_bias(layer)
    path = tmp_path / "quaternion.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in restored.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    assert restored.layers[3].get_config() == model.layers[3].get_config()


JAX_SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import jax
import keras
from test_quaternion_layers import small_batch, small_model

model = small_model()
x = small_batch()
trainable = [v.value for v in model.trainable_variables]
frozen = [v.value for v in model.non_trainable_variables]

def loss(trainable):
    outputs, _ = model.stateless_call(trainable, frozen, x, training=True)
    return keras.ops.sum(outputs ** 2)

value, gradients = jax.value_and_grad(loss)(trainable)
np.savez(sys.argv[2], loss=np.asarray(value), predictions=np.asarray(model(x, training=False)),
         **{f"gradient_{n}": np.asarray(g) for n, g in enumerate(gradients)})
"""


def test_jax_forward_and_gradients_match_tensorflow(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed in this environment")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("compares JAX against the TensorFlow backend the test suite runs on")
    import tensorflow as tf

    result = tmp_path / "jax.npz"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    process = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, str(Path(__file__).parent), str(result)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    jax_run = np.load(result)

    model = small_model()
    x = small_batch()
    predictions = model(x, training=False).numpy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x, training=True) ** 2)
    gradients = tape.gradient(loss, model.trainable_variables)
    np.testing.assert_allclose(jax_run["loss"], loss.numpy(), rtol=1e-4)
    for n, gradient in enumerate(gradients):
        assert np.abs(gradient.numpy()).max() > 0
        np.testing.assert_allclose(jax_run[f"gradient_{n}"], gradient.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(jax_run["predictions"], predictions, rtol=1e-4, atol=1e-5)
