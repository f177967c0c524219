"""FLOP counting against hand computations, and the cost table's rows."""

import keras
import pytest

from keras_ser.layers import MTSConv2D, QuaternionConv2D, QuaternionDense
from keras_ser.models import cost_table, count_flops, format_cost_table, layer_flops, rhemo, vgg16


def test_flops_of_a_tiny_model_match_a_hand_count():
    inputs = keras.Input((8, 6, 2))
    x = keras.layers.Conv2D(3, (3, 2), name="conv")(inputs)  # -> (6, 5, 3)
    x = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="deconv")(x)  # -> (12, 10, 4)
    x = keras.layers.Flatten()(x)
    x = keras.layers.ReLU()(x)
    outputs = keras.layers.Dense(7, name="dense")(x)
    model = keras.Model(inputs, outputs)
    expected = {
        "conv": 2 * 6 * 5 * 3 * (3 * 2 * 2),  # outputs x MACs per output
        "deconv": 2 * 6 * 5 * 3 * (3 * 3 * 4),  # inputs x kernel taps x output channels
        "dense": 2 * (12 * 10 * 4) * 7,
    }
    assert layer_flops(model) == expected
    assert count_flops(model) == 2160 + 6480 + 6720


def test_quaternion_layers_cost_what_real_layers_of_the_same_width_cost():
    inputs = keras.Input((8, 6, 4))
    x = QuaternionConv2D(8, 3, padding="same", name="qconv")(inputs)
    outputs = QuaternionDense(12, name="qdense")(keras.layers.Flatten()(x))
    assert layer_flops(keras.Model(inputs, outputs)) == {"qconv": 2 * 8 * 6 * 8 * 9 * 4, "qdense": 2 * 384 * 12}


def test_mts_flops_sum_the_branches_at_their_own_output_sizes():
    inputs = keras.Input((10, 7, 1))
    outputs = MTSConv2D(2, (4, 3), scales=(0.5, 1.0, 2.0), name="mts")(inputs)
    # Branch kernels (2, 3), (4, 3), (8, 3) give valid outputs (9, 5), (7, 5), (3, 5).
    macs = 9 * 5 * 2 * (2 * 3) + 7 * 5 * 2 * (4 * 3) + 3 * 5 * 2 * (8 * 3)
    assert count_flops(keras.Model(inputs, outputs)) == 2 * macs == 4200


def test_nested_models_are_counted_with_their_prefix():
    flops = layer_flops(rhemo("reconstruction_only", input_shape=(16, 8, 1)))
    # Encoder conv2 (2 -> 4 channels, 3x3, same) on the (8, 4) map after the first pooling.
    assert flops["encoder/conv2"] == 2 * 8 * 4 * 4 * 9 * 2
    # Decoder deconv1 (quaternion, 4 -> 4, 3x3) reads the (2, 4, 4) embedding.
    assert flops["decoder/deconv1"] == 2 * 2 * 4 * 4 * 9 * 4


@pytest.mark.isolated(group="model_cost")  # one child for both: 2.9 GB, VGG16's own peak (measured)
def test_quaternion_vgg16_on_an_embedding_costs_a_sixteenth_of_the_real_convolutions():
    # Same widths on 64 x 64 instead of 512 x 128 positions; conv1 reads 4 channels instead of 1.
    real, quaternion = layer_flops(vgg16()), layer_flops(vgg16(variant="quaternion"))
    assert quaternion["conv1"] * 16 == real["conv1"] * 4
    assert all(quaternion[f"conv{i}"] * 16 == real[f"conv{i}"] for i in range(2, 14))


def test_cost_table_rows_without_timing():
    rows = cost_table(names=("a1", "a1 mts"), timing=False)
    assert [row["name"] for row in rows] == ["a1", "a1 mts"]
    assert rows[0]["params"] == rows[1]["params"] == 12_475_455
    assert rows[0]["input_shape"] == (512, 128, 1)
    assert "train_step_s" not in rows[0] and "params_ratio" not in rows[0]
    assert rows[1]["params_ratio"] == 1.0
    # MTS (0.7, 1, 1.428) on a [10, 5] kernel: branch kernels 7, 10 and 14 steps long.
    output_rows = {7: 506, 10: 503, 14: 499}
    mts_conv = sum(rows_out * 124 * length * 5 for length, rows_out in output_rows.items())
    assert rows[1]["flops"] - rows[0]["flops"] == 2 * (mts_conv - 503 * 124 * 10 * 5)


@pytest.mark.isolated(group="model_cost")
def test_cost_table_timing_and_formatting():
    rows = cost_table(names=("a3", "a3 mts"), batch_size=1, repeats=1)
    assert all(row["train_step_s"] > 0 and row["inference_s"] > 0 for row in rows)
    assert rows[1]["train_step_ratio"] == rows[1]["train_step_s"] / rows[0]["train_step_s"]
    table = format_cost_table(rows).splitlines()
    assert table[0].split("|")[1].strip() == "model" and "train step s" in table[0]
    assert len(table) == 4 and table[3].startswith("| a3 mts")


def test_cost_table_rejects_unknown_models():
    with pytest.raises(ValueError, match=r"unknown cost-table models \['vgg19'\]: choose from vgg16, "):
        cost_table(names=("vgg19",), timing=False)
