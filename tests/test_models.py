"""The model zoo: exact parameter counts, PyTorch-equivalent shapes and numerics, one training step each."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_ser.models import (
    AdaptiveAveragePooling2D,
    TemporalStatisticsPooling,
    a1,
    a2,
    a3,
    a4,
    alexnet,
    conv_layers,
    resnet18,
    resnet50,
    resnet_block_output,
    vgg16,
)

# A slow module: its tests run in a child process beside the others (tests/conftest.py).
pytestmark = pytest.mark.isolated(group="models")


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def train_one_step(model, batch_size=2, seed=0, eager=False):
    """One SGD step on random data: the loss is finite and the first and last kernels move.

    `eager=True` skips tracing, for the full-size networks: TensorFlow never frees a traced
    train function's memory (2-3 GB for VGG16 or A2), and tracing ResNet-50 takes 20 s.
    """
    rng = np.random.default_rng(seed)
    # zero-mean inputs: with inputs in [0, 1), A1's single ReLU filter is dead for every position
    # under about 1 in 150 Glorot draws (its kernel sums far below zero), and its kernel gets no gradient
    x = rng.standard_normal((batch_size, *model.input.shape[1:]), dtype=np.float32)
    y = rng.integers(0, model.output.shape[-1], batch_size)
    first, last = model.trainable_weights[0], model.trainable_weights[-2]
    before = [keras.ops.convert_to_numpy(w).copy() for w in (first, last)]
    # SGD: no optimizer state, where Adam would add two copies of VGG16's 165 M weights
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="sparse_categorical_crossentropy", run_eagerly=eager)
    loss = float(model.train_on_batch(x, y))
    assert np.isfinite(loss)
    for weight, old in zip((first, last), before):
        assert not np.array_equal(keras.ops.convert_to_numpy(weight), old), f"{weight.path} did not change"


def output_shapes(model, names):
    return {name: tuple(model.get_layer(name).output.shape[1:]) for name in names}


# --- exact parameter counts (4 classes) and feature-map sizes ---------------------
# Feature-map sizes follow PyTorch's floor((n + 2p - k) / s) + 1, i.e. the torchvision
# layouts. Counts: a quaternion layer has 1/4 of the real weights and one bias per real
# output channel; quaternion batch norm has one scale per quaternion channel and one
# offset per real channel (METHODS.md §2, §6).

PARAMETER_CASES = [
    pytest.param(
        vgg16, "real", 165_733_060,
        {"conv1": (512, 128, 64), "pool5": (16, 4, 512), "flatten": (32768,)},
        id="vgg16-real", marks=pytest.mark.isolated,
    ),
    pytest.param(
        vgg16, "quaternion", 9_998_020,
        {"conv1": (64, 64, 64), "pool5": (2, 2, 512), "flatten": (2048,)},
        id="vgg16-quaternion",
    ),
    pytest.param(
        alexnet, "real", 57_004_740,
        {"conv1": (127, 31, 64), "pool1": (63, 15, 64), "pool2": (31, 7, 192), "pool3": (15, 3, 256),
         "avg_pool": (6, 6, 256)},
        id="alexnet-real", marks=pytest.mark.isolated(group="alexnet"),
    ),
    pytest.param(
        alexnet, "quaternion", 14_276_292,
        {"conv1": (15, 15, 64), "pool3": (1, 1, 256), "avg_pool": (6, 6, 256)},
        id="alexnet-quaternion",
    ),
    pytest.param(
        resnet50, "real", 23_509_956,
        {"conv1": (256, 64, 64), "pool1": (128, 32, 64), "stage1_block3_out": (128, 32, 256),
         "stage2_block4_out": (64, 16, 512), "stage3_block6_out": (32, 8, 1024),
         "stage4_block3_out": (16, 4, 2048)},
        id="resnet50-real",
    ),
    # The thesis reports 4.9e6; the faithful build (every conv quaternion, 4-channel stem) has
    # 5,905,908 (METHODS.md §6): (torchvision's conv weights with a 4-channel stem) / 4
    # + 26,560/4 + 26,560 batch-norm parameters + the real 2048 x 4 classifier.
    pytest.param(
        resnet50, "quaternion", 5_905_908,
        {"conv1": (32, 32, 64), "stage4_block3_out": (2, 2, 2048)},
        id="resnet50-quaternion",
    ),
    # torchvision's 11,689,512 with a 1-channel stem (-6,272) and 4 classes (-510,948).
    pytest.param(
        resnet18, "real", 11_172_292,
        {"conv1": (256, 64, 64), "stage4_block2_out": (16, 4, 512)},
        id="resnet18-real",
    ),
    # (11,166,912 conv weights + 3,136 for the 4-channel stem) / 4 + 4,800/4 + 4,800 BN + 2,052.
    pytest.param(
        resnet18, "quaternion", 2_800_564,
        {"stage4_block2_out": (2, 2, 512)},
        id="resnet18-quaternion",
    ),
    # A1: conv 10x5 (51) - flatten 503 x 124 - dense 200 (12,474,600) - 4 (804).
    pytest.param(a1, "real", 12_475_455, {"conv1": (503, 124, 1), "flatten": (62_372,)}, id="a1-real"),
    # A2: conv 10 ch (510) - flatten 503 x 124 x 10 - dense 200 (124,744,200) - 4 (804).
    # Its child also runs tests/test_training.py's A2 trainings: 2.8 GB at most (measured), below VGG16's child.
    pytest.param(a2, "real", 124_745_514, {"conv1": (503, 124, 10)}, id="a2-real",
                 marks=pytest.mark.isolated(group="a2")),
    # A3: conv (510) - pool (251, 62) - conv (5,010) - flatten 242 x 58 x 10 - 200 - 4.
    pytest.param(a3, "real", 28_078_524, {"pool1": (251, 62, 10), "conv2": (242, 58, 10)}, id="a3-real"),
    # MTS layers hold exactly the parameters of the conv they replace.
    pytest.param(a1, "mts", 12_475_455, {"conv1": (503, 124, 1)}, id="a1-mts"),
    pytest.param(a3, "mts", 28_078_524, {"conv2": (242, 58, 10)}, id="a3-mts"),
    pytest.param(alexnet, "mts", 57_004_740, {"conv1": (127, 31, 64), "pool3": (15, 3, 256)}, id="a4-alexnet-mts",
                 marks=pytest.mark.isolated(group="alexnet")),
]


@pytest.mark.parametrize("builder, variant, expected_params, expected_shapes", PARAMETER_CASES)
def test_default_build_parameter_count_shapes_and_one_training_step(builder, variant, expected_params,
                                                                     expected_shapes):
    model = builder(variant=variant)
    assert trainable_count(model) == expected_params
    assert output_shapes(model, expected_shapes) == expected_shapes
    assert model.output.shape[1:] == (4,)
    train_one_step(model, batch_size=2, eager=True)  # graph-mode steps: the small-input MTS test below


# MTS variants of the deep networks train on a small input to keep the test quick; their
# parameter count must equal the real network's on that input.
@pytest.mark.parametrize(
    "builder, input_shape",
    [(vgg16, (64, 32, 1)), (resnet18, (64, 32, 1)), (a2, (40, 20, 1))],
    ids=["vgg16", "resnet18", "a2"],
)
def test_mts_variant_has_the_real_parameter_count_and_trains(builder, input_shape):
    model = builder(variant="mts", input_shape=input_shape)
    assert trainable_count(model) == trainable_count(builder(input_shape=input_shape))
    train_one_step(model, batch_size=2)


def test_a4_is_alexnet_with_mts_in_its_first_two_conv_layers():
    model = a4(input_shape=(64, 64, 1))
    assert model.name == "a4"
    kinds = [type(layer).__name__ for layer in conv_layers(model)]
    assert kinds == ["MTSConv2D", "MTSConv2D", "Conv2D", "Conv2D", "Conv2D"]
    assert conv_layers(model)[0].scales == (0.7, 1.0, 1.428)


def test_quaternion_small_cnns_need_filters_divisible_by_four():
    model = a3(variant="quaternion", filters=8, input_shape=(64, 64, 4))
    # conv 4 -> 8: 10·5·4·8/4 + 8 = 408; conv 8 -> 8: 808; (64, 64) -> (55, 60) -> pool (27, 30)
    # -> (18, 26); dense 18·26·8 -> 200: /4 + 200; output 200·4 + 4.
    assert trainable_count(model) == 408 + 808 + (18 * 26 * 8 * 200 // 4 + 200) + 804
    train_one_step(model, batch_size=2)
    with pytest.raises(ValueError, match=r"'conv1' has 1 filters, but quaternion layers need a multiple of 4"):
        a1(variant="quaternion")
    with pytest.raises(ValueError, match=r"'conv1' has 10 filters"):
        a2(variant="quaternion")


# --- layer names and conv-layer numbering --------------------------------------------

def test_conv_layers_are_numbered_in_forward_order():
    assert [layer.name for layer in conv_layers(vgg16(input_shape=(32, 32, 1)))] == [
        f"conv{i}" for i in range(1, 14)
    ]
    assert [layer.name for layer in conv_layers(alexnet(input_shape=(64, 64, 1)))] == [
        f"conv{i}" for i in range(1, 6)
    ]
    names = [layer.name for layer in conv_layers(resnet50(input_shape=(32, 32, 1)))]
    expected = ["conv1"]
    for stage, depth in enumerate((3, 4, 6, 3), start=1):
        for block in range(1, depth + 1):
            expected += [f"stage{stage}_block{block}_conv{i}" for i in (1, 2, 3)]
            if block == 1:
                expected.append(f"stage{stage}_block{block}_shortcut_conv")
    assert names == expected  # 53 convs: torchvision's module order


def test_mts_layers_pick_conv_layers_by_forward_number():
    model = resnet50(variant="mts", input_shape=(32, 32, 1), mts_layers=(1, 3, 7))
    chosen = [layer.name for layer in conv_layers(model) if type(layer).__name__ == "MTSConv2D"]
    assert chosen == ["conv1", "stage1_block1_conv2", "stage1_block2_conv2"]
    # "all" (the default) leaves 1x1 convs plain: a one-step kernel has nothing to stretch.
    model = resnet18(variant="mts", input_shape=(32, 32, 1), scales=(0.5, 1.0, 2.0))
    plain = [layer.name for layer in conv_layers(model) if type(layer).__name__ != "MTSConv2D"]
    assert plain == [f"stage{s}_block1_shortcut_conv" for s in (2, 3, 4)]
    assert all(layer.scales == (0.5, 1.0, 2.0) for layer in conv_layers(model) if layer.name not in plain)


def test_resnet_block_output_addresses_stage_and_block():
    model = resnet50(input_shape=(64, 64, 1))
    assert tuple(resnet_block_output(model, 2, 4).shape[1:]) == (8, 8, 512)
    assert resnet_block_output(model, 3, 1) is model.get_layer("stage3_block1_out").output
    with pytest.raises(ValueError, match=r"no stage 2 block 5; it has stage 1: blocks 1..3, stage 2: blocks 1..4"):
        resnet_block_output(model, 2, 5)
    with pytest.raises(ValueError, match=r"has no ResNet blocks"):
        resnet_block_output(vgg16(input_shape=(32, 32, 1)), 1, 1)


# --- numerics: PyTorch-style padding and adaptive pooling ---------------------------

def conv2d_reference(x, kernel, bias, stride, pad):
    """Direct convolution of one (H, W, C_in) map, symmetric zero padding as in PyTorch."""
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    k_h, k_w = kernel.shape[:2]
    out_h, out_w = (x.shape[0] - k_h) // stride + 1, (x.shape[1] - k_w) // stride + 1
    out = np.zeros((out_h, out_w, kernel.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[i * stride : i * stride + k_h, j * stride : j * stride + k_w]
            out[i, j] = np.tensordot(patch, kernel, axes=3)
    return out + (0 if bias is None else bias)


@pytest.mark.parametrize(
    "builder, layer_name, stride, pad, relu",
    [(alexnet, "conv1", 4, 2, True), (resnet18, "conv1", 2, 3, False), (resnet18, "stage2_block1_conv1", 2, 1, False)],
)
def test_strided_convs_pad_like_pytorch(builder, layer_name, stride, pad, relu):
    model = builder(input_shape=(67, 70, 1))
    layer = model.get_layer(layer_name)
    unpadded = model.get_layer(f"{layer_name}_pad").input
    probe = keras.Model(model.input, [unpadded, layer.output])
    x = np.random.default_rng(1).standard_normal((1, 67, 70, 1)).astype(np.float32)
    layer_input, got = probe.predict(x, verbose=0)
    bias = keras.ops.convert_to_numpy(layer.bias) if layer.use_bias else None
    expected = conv2d_reference(layer_input[0], keras.ops.convert_to_numpy(layer.kernel), bias, stride, pad)
    if relu:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(got[0], expected, rtol=1e-4, atol=1e-4)


def adaptive_average_pool_reference(x, size):
    """PyTorch's bins: rows floor(i·H/n) .. ceil((i+1)·H/n), likewise columns."""
    height, width = x.shape[1:3]
    out = np.zeros((x.shape[0], size, size, x.shape[-1]))
    for i in range(size):
        rows = slice(i * height // size, -(-(i + 1) * height // size))
        for j in range(size):
            cols = slice(j * width // size, -(-(j + 1) * width // size))
            out[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("height, width", [(1, 1), (1, 2), (2, 7), (5, 3), (6, 6), (7, 13), (13, 1)])
def test_adaptive_average_pooling_matches_pytorch_bins_for_any_size(height, width):
    inputs = keras.Input((height, width, 3))
    model = keras.Model(inputs, AdaptiveAveragePooling2D((6, 6))(inputs))
    x = np.random.default_rng(3).random((2, height, width, 3), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), adaptive_average_pool_reference(x, 6), rtol=1e-5, atol=1e-6)


def test_adaptive_average_pooling_round_trips_its_config_and_checks_arguments():
    layer = AdaptiveAveragePooling2D((6, 4), name="pool")
    assert AdaptiveAveragePooling2D.from_config(layer.get_config()).output_size == (6, 4)
    with pytest.raises(ValueError, match=r"output_size must be a positive int or \(height, width\), got 0"):
        AdaptiveAveragePooling2D(0)
    with pytest.raises(ValueError, match=r"with known height and width"):
        AdaptiveAveragePooling2D(6)(keras.Input((None, 5, 3)))


def test_temporal_statistics_pooling_gives_numpy_mean_and_std_over_time():
    x = np.random.default_rng(4).normal(2.0, 3.0, size=(3, 17, 5, 6)).astype(np.float32)
    inputs = keras.Input((None, 5, 6))
    model = keras.Model(inputs, TemporalStatisticsPooling(epsilon=1e-5)(inputs))
    pooled = model.predict(x, verbose=0)
    frames = x.reshape(3, 17, 30)  # (frequency, channel) pairs in row-major order
    expected = np.concatenate([frames.mean(axis=1), np.sqrt(frames.var(axis=1) + 1e-5)], axis=1)
    np.testing.assert_allclose(pooled, expected, rtol=1e-4, atol=1e-5)
    assert model.output.shape == (None, 60)


def test_temporal_statistics_pooling_round_trips_its_config_and_checks_arguments():
    layer = TemporalStatisticsPooling(epsilon=1e-3, name="stats")
    assert TemporalStatisticsPooling.from_config(layer.get_config()).epsilon == 1e-3
    with pytest.raises(ValueError, match="epsilon must be positive, got 0"):
        TemporalStatisticsPooling(epsilon=0)
    with pytest.raises(ValueError, match="with known frequency and channels"):
        TemporalStatisticsPooling()(keras.Input((10, None, 3)))
    with pytest.raises(ValueError, match=r"needs a \(batch, time, frequency, channels\) input"):
        TemporalStatisticsPooling()(keras.Input((10, 3)))


def test_temporal_statistics_pooling_over_audio_weighs_each_step_by_its_share_of_non_padding_frames():
    rng = np.random.default_rng(5)
    spectrogram = rng.normal(size=(3, 64, 40, 1)).astype(np.float32)
    spectrogram[0, 40:] = -1.3  # padding from frame 40: steps of 16 frames hold 16, 16, 8 and 0 audio frames
    spectrogram[1, :, :, :] = 0.7  # nothing but padding: every step counts
    spectrogram[2, 10:12] = 2.0  # two padding frames inside the audio: step 0 holds 14 audio frames
    x = rng.normal(size=(3, 4, 2, 3)).astype(np.float32)
    inputs, features = keras.Input((64, 40, 1)), keras.Input((4, 2, 3))
    model = keras.Model([inputs, features], TemporalStatisticsPooling()(features, spectrogram=inputs))
    pooled = model.predict([spectrogram, x], verbose=0)
    for row, weights in enumerate([(1, 1, 0.5, 0), (1, 1, 1, 1), (14 / 16, 1, 1, 1)]):
        weights = np.array(weights)[:, None]
        frames = x[row].reshape(4, 6)
        mean = (frames * weights).sum(axis=0) / weights.sum()
        std = np.sqrt((np.square(frames - mean) * weights).sum(axis=0) / weights.sum() + 1e-5)
        np.testing.assert_allclose(pooled[row], np.concatenate([mean, std]), rtol=1e-4, atol=1e-5)


def test_temporal_statistics_pooling_over_audio_names_a_spectrogram_it_cannot_align():
    with pytest.raises(ValueError, match=r"at least as many time steps as the pooled map \(4\)"):
        TemporalStatisticsPooling()(keras.Input((4, 2, 3)), spectrogram=keras.Input((3, 40, 1)))
    with pytest.raises(ValueError, match="both known"):
        TemporalStatisticsPooling()(keras.Input((4, 2, 3)), spectrogram=keras.Input((None, 40, 1)))


# Four full AlexNets leave about 800 MB behind on TensorFlow; with the two AlexNet builds above, its child peaks at
# 2.6 GB (measured).
@pytest.mark.isolated(group="alexnet")
def test_alexnet_adaptive_pooling_matches_pytorch_bins():
    for input_shape, pooled_from in [((512, 128, 1), (15, 3)), ((300, 200, 1), (8, 5)), ((224, 224, 1), (6, 6)),
                                     ((64, 100, 1), (1, 2))]:
        model = alexnet(input_shape=input_shape)
        probe = keras.Model(model.input, [model.get_layer("pool3").output, model.get_layer("avg_pool").output])
        x = np.random.default_rng(2).random((2, *input_shape), dtype=np.float32)
        features, pooled = probe.predict(x, verbose=0)
        assert features.shape[1:3] == pooled_from, input_shape
        np.testing.assert_allclose(pooled, adaptive_average_pool_reference(features, 6), rtol=1e-5, atol=1e-6)


# --- argument checking ----------------------------------------------------------------

@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: vgg16(variant="complex"), r"unknown variant 'complex': choose one of 'real', 'quaternion', 'mts'"),
        (lambda: alexnet(variant="quaternion", input_shape=(64, 64, 1)), r"input channels divisible by 4"),
        (lambda: vgg16(input_shape=(31, 128, 1)), r"too small; this architecture needs at least 32 time steps"),
        (lambda: alexnet(input_shape=(64, 62, 1)), r"needs at least 63 time steps x 63 frequency bins"),
        (lambda: a3(input_shape=(28, 64, 1)), r"needs at least 29 time steps x 14 frequency bins"),
        (lambda: vgg16(input_shape=(64, 64)), r"input_shape must be three positive sizes"),
        (lambda: resnet18(num_classes=0), r"num_classes must be a positive integer, got 0"),
        (lambda: vgg16(variant="mts", input_shape=(32, 32, 1), mts_layers=(2, 14)), r"mts_layers \[14\] do not exist"),
        (lambda: alexnet(mts_layers=(1,)), r"apply only to variant='mts', got variant='real'"),
        (lambda: alexnet(variant="quaternion", scales=(0.5, 1, 2)), r"apply only to variant='mts'"),
        (lambda: a1(variant="mts", mts_layers="first"), r"mts_layers must be 'all' or conv-layer numbers"),
        (lambda: a3(l2=-0.1), r"a3: l2 must be a number >= 0"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("variant, channels, filters", [("real", 1, 10), ("mts", 1, 10), ("quaternion", 4, 8)])
def test_l2_penalty_is_l2_times_the_squared_kernels(tmp_path, variant, channels, filters):
    model = a3(variant=variant, filters=filters, input_shape=(40, 20, channels), l2=0.01)
    kernels = [model.get_layer(name).kernel for name in ("conv1", "conv2", "fc1")]
    expected = 0.01 * sum(float(np.sum(np.square(keras.ops.convert_to_numpy(k)))) for k in kernels)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
    assert not a3(variant=variant, filters=filters, input_shape=(40, 20, channels)).losses
    model.save(tmp_path / "a3.keras")
    reloaded = keras.saving.load_model(tmp_path / "a3.keras")
    np.testing.assert_allclose(float(sum(reloaded.losses)), expected, rtol=1e-5)


@pytest.mark.parametrize("build, shape", [(vgg16, (32, 32, 1)), (alexnet, (63, 63, 1)), (a3, (29, 14, 1))],
                         ids=["vgg16", "alexnet", "a3"])
def test_smallest_inputs_build(build, shape):
    """The smallest input each network accepts (one less is refused: the "too small" cases above) gives probabilities."""
    model = build(input_shape=shape)
    assert tuple(model.output.shape) == (None, 4)
    probabilities = keras.ops.convert_to_numpy(model(np.random.default_rng(0).random((2, *shape), np.float32)))
    assert probabilities.shape == (2, 4) and np.isfinite(probabilities).all() and (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


# --- JAX ----------------------------------------------------------------------------

JAX_SCRIPT = textwrap.dedent(
    """
    import keras, numpy as np
    from keras_ser.models import resnet18, vgg16, a3
    assert keras.backend.backend() == "jax"
    rng = np.random.default_rng(0)
    # MTS layers on JAX: tests/test_mts_conv.py::test_jax_backend_smoke.
    for model in (vgg16(variant="quaternion", input_shape=(32, 32, 4)), resnet18(variant="quaternion", input_shape=(32, 32, 4)),
                  a3(input_shape=(40, 20, 1))):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        x = rng.random((2, *model.input.shape[1:]), dtype=np.float32)
        loss = float(model.train_on_batch(x, np.array([0, 3])))
        assert np.isfinite(loss), (model.name, loss)
        print(model.name, loss)
    """
)


def test_models_train_on_jax():
    pytest.importorskip("jax", reason="JAX is not installed")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["vgg16", "resnet18", "a3"]
