"""The compact CNN (the recipe experiments' fast network): sizes, variants and bad options."""

import keras
import numpy as np
import pytest

from keras_ser.layers import MTSConv2D, QuaternionConv2D
from keras_ser.models import compact_cnn
from keras_ser.training.config import config_from_dict
from keras_ser.training.run import build_network


def _expected_parameters(in_channels, filters, classes, quaternion=False, pooled_features=None):
    """Bias-free 3x3 convs, their batch norms and the real output layer (on `pooled_features` inputs, by
    default the last block's channels, as global average pooling gives).

    A quaternion conv has 1/4 of a real one's weights (METHODS.md §2). A real batch norm has 4 numbers
    per channel (gamma, beta, moving mean and variance); a quaternion one, per quaternion channel of 4
    components, one gamma, one moving variance, and a beta and a moving mean per component: 2.5 per channel.
    """
    widths = (in_channels, *filters)
    conv = sum(9 * a * b for a, b in zip(widths, widths[1:])) // (4 if quaternion else 1)
    batch_norm = sum(filters) * (2.5 if quaternion else 4)
    pooled = filters[-1] if pooled_features is None else pooled_features
    return conv + int(batch_norm) + pooled * classes + classes


def test_real_network_has_the_counted_parameters_and_takes_any_window_length():
    model = compact_cnn(input_shape=(512, 40, 1))
    assert model.count_params() == _expected_parameters(1, (16, 32, 64, 64), 4) == 61012
    shorter = compact_cnn(input_shape=(100, 40, 1), filters=[8, 8], num_classes=7)
    assert shorter.count_params() == _expected_parameters(1, (8, 8), 7)
    assert shorter.output.shape == (None, 7)
    probabilities = keras.ops.convert_to_numpy(shorter(np.random.default_rng(0).normal(size=(3, 100, 40, 1))))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_statistics_pooling_feeds_the_output_layer_a_mean_and_std_per_frequency_and_channel(tmp_path):
    model = compact_cnn(input_shape=(400, 40, 1), filters=[8, 16, 32, 64], pooling="statistics")
    # 40 bands halve to 20, 10, 5, then 2 (floor); 2 bands x 64 channels, a mean and a std each.
    assert model.get_layer("statistics_pool").output.shape == (None, 2 * 2 * 64)
    assert model.count_params() == _expected_parameters(1, (8, 16, 32, 64), 4, pooled_features=256) == 25772
    x = np.random.default_rng(1).normal(size=(2, 400, 40, 1)).astype("float32")
    model.save(tmp_path / "net.keras")
    loaded = keras.saving.load_model(tmp_path / "net.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_audio_statistics_pooling_ignores_how_much_padding_follows_a_clip(tmp_path):
    def pooled(pooling, windows, weights):
        model = compact_cnn(input_shape=windows.shape[1:], filters=[8, 16, 32, 64], pooling=pooling)
        model.set_weights(weights)
        return keras.Model(model.input, model.get_layer("statistics_pool").output).predict(windows, verbose=0)[0]

    model = compact_cnn(input_shape=(512, 40, 1), filters=[8, 16, 32, 64], pooling="audio_statistics")
    assert model.count_params() == 25772  # the same weights as pooling="statistics"
    clip = np.random.default_rng(2).normal(size=(192, 40, 1)).astype("float32")
    windows = [np.full((1, frames, 40, 1), -2.0, np.float32) for frames in (352, 512)]  # padding: one value per bin
    for window in windows:
        window[0, :192] = clip
    # The features before the pooling are the same over the clip in both windows (the padding after it reaches
    # farther than the network sees), so its statistics over the audio are the same; over all steps they are not.
    weights = model.get_weights()
    np.testing.assert_allclose(*(pooled("audio_statistics", window, weights) for window in windows), atol=1e-5)
    assert np.abs(np.subtract(*(pooled("statistics", window, weights) for window in windows))).max() > 1e-2
    window = windows[1]
    model.save(tmp_path / "net.keras")
    loaded = keras.saving.load_model(tmp_path / "net.keras")
    np.testing.assert_allclose(loaded.predict(window, verbose=0), model.predict(window, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_mts_variant_scales_the_first_two_convs_without_new_parameters():
    real = compact_cnn(input_shape=(64, 40, 1))
    mts = compact_cnn(variant="mts", input_shape=(64, 40, 1), scales=(0.5, 1.0, 2.0))
    kinds = [type(mts.get_layer(f"conv{i}")) for i in range(1, 5)]
    assert kinds == [MTSConv2D, MTSConv2D, keras.layers.Conv2D, keras.layers.Conv2D]
    trainable = [sum(int(np.prod(w.shape)) for w in m.trainable_weights) for m in (real, mts)]
    assert trainable[0] == trainable[1]  # METHODS.md §3: MTS adds no trainable parameters


def test_quaternion_variant_has_a_quarter_of_the_conv_weights():
    model = compact_cnn(variant="quaternion", input_shape=(64, 64, 4), filters=[16, 32])
    assert isinstance(model.get_layer("conv1"), QuaternionConv2D)
    assert model.count_params() == _expected_parameters(4, (16, 32), 4, quaternion=True)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"filters": []}, "filters must be a non-empty list of positive integers"),
        ({"filters": [16, 0]}, "filters must be a non-empty list of positive integers"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"input_shape": (8, 40, 1)}, "too small; this architecture needs at least 16 time steps"),
        ({"variant": "quaternion", "input_shape": (64, 64, 4), "filters": [16, 30]}, "has 30 filters"),
        ({"num_classes": 0}, "num_classes must be a positive integer"),
        ({"pooling": "max"}, r"pooling must be one of \('average', 'statistics', 'audio_statistics'\), got 'max'"),
    ],
)
def test_bad_options_raise_errors_naming_them(options, message):
    with pytest.raises(ValueError, match=message):
        compact_cnn(**{"input_shape": (64, 40, 1), **options})


def test_run_configuration_builds_it_and_names_a_bad_option():
    config = config_from_dict({"model": {"builder": "compact_cnn", "options": {"filters": [8, 16]}}})
    assert build_network(config, (512, 40, 1), 4).count_params() == _expected_parameters(1, (8, 16), 4)
    bad = config_from_dict({"model": {"builder": "compact_cnn", "options": {"filters": [8, -1]}}})
    with pytest.raises(ValueError, match="model.options.*filters must be"):
        build_network(bad, (512, 40, 1), 4)
