"""Anti-transfer: the loss against a numpy reference, and AntiTransferModel on tiny conv nets."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_ser.layers import AntiTransferLoss, AntiTransferModel, conv_layers, find_conv_layer, post_activation_layer

# A slow module: its tests run beside the others, in the one child process of the slow modules (tests/conftest.py).
pytestmark = pytest.mark.isolated(group="slow_modules")

AGGREGATIONS = ("gram", "mean", "sum", "max", "comp_mul")
SIMILARITIES = ("cos_squared", "sigmoid_mse")


# --- numpy reference of METHODS.md §4 / thesis eq. 5.1-5.2 and Table 5.6 -------------------------


def reference_aggregate(features, aggregation):
    features = features.astype(np.float64)
    batch = features.shape[0]
    if aggregation == "gram":
        grams = []
        for example in features:
            positions = example.reshape(-1, example.shape[-1])  # (H*W, C)
            grams.append(positions.T @ positions)  # (C, C)
        return np.stack(grams).reshape(batch, -1)
    if aggregation == "comp_mul":
        return np.prod((features + 1e-10) ** 0.001, axis=-1).reshape(batch, -1)
    reduce = {"mean": np.mean, "sum": np.sum, "max": np.max}[aggregation]
    return reduce(features, axis=-1).reshape(batch, -1)


def reference_similarities(a, b, similarity):
    if similarity == "cos_squared":
        return np.array([(u @ v / (np.linalg.norm(u) * np.linalg.norm(v))) ** 2 for u, v in zip(a, b)])
    return np.array([-1.0 / (1.0 + np.exp(-np.mean((u - v) ** 2))) for u, v in zip(a, b)])


def reference_at_loss(pretrained, trained, aggregation="gram", similarity="cos_squared", beta=1.0):
    sims = reference_similarities(
        reference_aggregate(pretrained, aggregation), reference_aggregate(trained, aggregation), similarity
    )
    return beta * sims.mean()


def relu_maps(seed, shape=(3, 5, 4, 6)):
    return np.maximum(np.random.default_rng(seed).normal(size=shape), 0).astype("float32")


# --- AntiTransferLoss ---------------------------------------------------------------------------


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_loss_matches_numpy_reference(aggregation, similarity):
    pretrained, trained = relu_maps(0), relu_maps(1)
    loss = AntiTransferLoss(aggregation, similarity, beta=0.7)
    expected = reference_at_loss(pretrained, trained, aggregation, similarity, beta=0.7)
    np.testing.assert_allclose(float(loss(pretrained, trained)), expected, rtol=2e-5, atol=1e-7)


def test_gram_cos_squared_is_one_for_identical_maps_and_scale_free():
    maps = relu_maps(2)
    loss = AntiTransferLoss()
    np.testing.assert_allclose(float(loss(maps, maps)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(loss(maps, 3.0 * maps)), 1.0, rtol=1e-6)


def test_gram_is_per_example():
    # Swapping two examples of one batch changes per-example Grams, hence the loss;
    # a batch-level (B*C x B*C) Gram with cross terms would behave differently.
    pretrained, trained = relu_maps(3), relu_maps(4)
    swapped = trained[[1, 0, 2]]
    loss = AntiTransferLoss()
    np.testing.assert_allclose(float(loss(pretrained, swapped)), reference_at_loss(pretrained, swapped), rtol=2e-5)
    assert abs(float(loss(pretrained, swapped)) - float(loss(pretrained, trained))) > 1e-4


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("similarity", SIMILARITIES)
def test_loss_finite_on_all_zero_maps(aggregation, similarity):
    zeros, maps = np.zeros((2, 5, 4, 6), "float32"), relu_maps(5, (2, 5, 4, 6))
    loss = AntiTransferLoss(aggregation, similarity)
    for pretrained, trained in ((zeros, zeros), (zeros, maps), (maps, zeros)):
        assert np.isfinite(float(loss(pretrained, trained)))
    if similarity == "cos_squared" and aggregation != "comp_mul":
        assert float(loss(zeros, maps)) == 0.0


def test_comp_mul_uses_magnitudes_of_negative_activations():
    pretrained, trained = relu_maps(9), relu_maps(10)
    loss = AntiTransferLoss("comp_mul")
    np.testing.assert_allclose(float(loss(-pretrained, -trained)), float(loss(pretrained, trained)), rtol=1e-6)
    assert np.isfinite(float(loss(-pretrained, trained)))


def test_gradient_finite_on_all_zero_maps():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check written with tf.GradientTape")
    import tensorflow as tf

    for aggregation in AGGREGATIONS:
        trained = tf.Variable(np.zeros((2, 5, 4, 6), "float32"))
        with tf.GradientTape() as tape:
            value = AntiTransferLoss(aggregation)(relu_maps(6, (2, 5, 4, 6)), trained)
        assert np.all(np.isfinite(tape.gradient(value, trained).numpy())), aggregation


def test_negative_beta_rewards_similarity():
    pretrained, trained = relu_maps(7), relu_maps(8)
    positive = float(AntiTransferLoss(beta=1.0)(pretrained, trained))
    negative = float(AntiTransferLoss(beta=-2.0)(pretrained, trained))
    assert positive > 0
    np.testing.assert_allclose(negative, -2.0 * positive, rtol=1e-6)
    np.testing.assert_allclose(negative, reference_at_loss(pretrained, trained, beta=-2.0), rtol=2e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"aggregation": "median"}, r"unknown aggregation 'median'; choose one of gram, mean, sum, max, comp_mul"),
        ({"similarity": "l1"}, r"unknown similarity 'l1'; choose one of cos_squared, sigmoid_mse"),
        ({"beta": "1"}, r"beta must be a finite real number, got '1'"),
        ({"beta": float("nan")}, r"beta must be a finite real number, got nan"),
        ({"beta": float("inf")}, r"beta must be a finite real number, got inf"),
        ({"beta": True}, r"beta must be a finite real number, got True"),
    ],
)
def test_loss_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AntiTransferLoss(**kwargs)


def test_loss_rejects_mismatched_or_non_4d_maps():
    loss = AntiTransferLoss()
    with pytest.raises(ValueError, match=r"differ in shape: \(2, 5, 4, 6\) vs \(2, 5, 4, 7\)"):
        loss(np.ones((2, 5, 4, 6), "float32"), np.ones((2, 5, 4, 7), "float32"))
    with pytest.raises(ValueError, match=r"must be \(batch, height, width, channels\), got shape \(2, 5, 4\)"):
        loss(np.ones((2, 5, 4), "float32"), np.ones((2, 5, 4), "float32"))


def test_loss_serialises():
    loss = AntiTransferLoss("max", "sigmoid_mse", beta=-0.5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is AntiTransferLoss
    assert restored.get_config() == loss.get_config()
    assert (restored.aggregation, restored.similarity, restored.beta) == ("max", "sigmoid_mse", -0.5)
    assert keras.saving.get_registered_name(AntiTransferLoss) == "keras_ser>AntiTransferLoss"


# --- tiny networks ------------------------------------------------------------------------------

INPUT_SHAPE = (16, 12, 1)


def tiny_net(seed, name="tiny"):
    """conv1 (linear) -> ReLU, pool, conv2 (fused ReLU), conv3 (linear, no bias) -> BN -> ReLU, classifier."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(INPUT_SHAPE, name="spectrogram")
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = keras.layers.ReLU(name="r1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="c3")(x)  # a bias before BN has no gradient
    x = keras.layers.BatchNormalization(name="bn3")(x)
    x = keras.layers.ReLU(name="r3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((48, *INPUT_SHAPE), dtype=np.float32), rng.integers(0, 3, 48)


def compiled(at_model, learning_rate=1e-2):
    at_model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    return at_model


def numpy_similarity(at_model, x):
    """The reference Gram cos² between trained and pretrained features of every AT layer, summed."""
    trained = at_model.feature_model.predict(x, verbose=0)["anti_transfer_features"]
    pretrained = at_model.pretrained_features.predict(x, verbose=0)
    pretrained = pretrained if isinstance(pretrained, list) else [pretrained]
    return sum(reference_at_loss(p, t) for p, t in zip(pretrained, trained))


# --- introspection ------------------------------------------------------------------------------


def test_conv_layers_in_forward_order_and_post_activation_rule():
    model = tiny_net(0)
    assert [layer.name for layer in conv_layers(model)] == ["c1", "c2", "c3"]
    assert [post_activation_layer(model, layer).name for layer in conv_layers(model)] == ["r1", "c2", "r3"]

    # Forward order follows the graph, not creation order; a conv feeding two layers keeps its own output.
    late, early = keras.layers.Conv2D(2, 3, name="late"), keras.layers.Conv2D(2, 3, name="early")
    inputs = keras.Input((9, 9, 1))
    branch = early(inputs)
    merged = keras.layers.Add()([keras.layers.ReLU()(branch), branch])
    model = keras.Model(inputs, late(merged))
    assert [layer.name for layer in conv_layers(model)] == ["early", "late"]
    assert post_activation_layer(model, early) is early


def quaternion_mts_net(seed):
    """QuaternionConv2D (fused ReLU) -> MTSConv2D -> ReLU, with a Conv3D and a QuaternionDense that are not convs."""
    from keras_ser.layers import MTSConv2D, QuaternionConv2D, QuaternionDense

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 8, 4))
    x = QuaternionConv2D(8, 3, padding="same", activation="relu", name="q1")(inputs)
    x = MTSConv2D(4, 3, padding="same", track_usage=False, name="m2")(x)
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.Conv3D(2, 3, name="not_2d")(keras.layers.Reshape((12, 8, 4, 1))(x))
    x = QuaternionDense(8, name="qdense")(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_quaternion_and_mts_convs_count_and_train_with_anti_transfer():
    model = quaternion_mts_net(0)
    assert [layer.name for layer in conv_layers(model)] == ["q1", "m2"]
    at_model = compiled(AntiTransferModel(model, quaternion_mts_net(1), [1, 2]))
    assert at_model.feature_layer_names == ["q1", "r2"]
    rng = np.random.default_rng(1)
    logs = at_model.train_on_batch(rng.random((4, 12, 8, 4), dtype=np.float32), np.arange(4) % 3, return_dict=True)
    assert np.isfinite(logs["at_loss"]) and logs["at_loss"] > 0


def test_find_conv_layer_errors_name_the_culprit():
    model = tiny_net(0)
    assert find_conv_layer(model, 2).name == "c2"
    assert find_conv_layer(model, "pool1").name == "pool1"
    with pytest.raises(ValueError, match=r"no conv layer 4: its 3 conv layers are numbered 1\.\.3 \(c1, c2, c3\)"):
        find_conv_layer(model, 4)
    with pytest.raises(ValueError, match=r"no conv layer 0: .* numbered 1\.\.3"):
        find_conv_layer(model, 0)
    with pytest.raises(ValueError, match=r"no layer named 'conv9'; its conv layers are: c1, c2, c3"):
        find_conv_layer(model, "conv9")
    with pytest.raises(TypeError, match=r"by name \(str\) or 1-based number \(int\), got 1\.5"):
        find_conv_layer(model, 1.5)
    with pytest.raises(TypeError, match=r"expected a functional keras.Model"):
        conv_layers(keras.layers.Dense(2))


# --- AntiTransferModel --------------------------------------------------------------------------


def test_layers_by_index_and_by_name_agree():
    by_index = AntiTransferModel(tiny_net(0), tiny_net(1), [1, 2, 3])
    by_name = AntiTransferModel(tiny_net(0), tiny_net(1), ["c1", "c2", "c3"])
    assert by_index.feature_layer_names == by_name.feature_layer_names == ["r1", "c2", "r3"]
    assert AntiTransferModel(tiny_net(0), tiny_net(1), "pool1").feature_layer_names == ["pool1"]


@pytest.mark.parametrize(
    "at_layers, beta, error, match",
    [
        (4, 1.0, ValueError, r"no conv layer 4: its 3 conv layers are numbered 1\.\.3 \(c1, c2, c3\)"),
        ("conv7", 1.0, ValueError, r"no layer named 'conv7'; its conv layers are: c1, c2, c3"),
        ("gap", 1.0, ValueError, r"layer 'gap' \(at_layers entry 'gap'\) outputs shape \(None, 8\)"),
        ([], 1.0, ValueError, r"at_layers is empty"),
        ([1, 2], [1.0, 2.0, 3.0], ValueError, r"got 3 beta values for 2 at_layers"),
        (1, "high", ValueError, r"AntiTransferModel: beta must be a finite real number, got 'high'"),
    ],
)
def test_model_rejects_bad_layer_choices(at_layers, beta, error, match):
    with pytest.raises(error, match=match):
        AntiTransferModel(tiny_net(0), tiny_net(1), at_layers, beta=beta)


def test_model_rejects_mismatched_pretrained_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input(INPUT_SHAPE)
    wide = keras.layers.Conv2D(5, 3, padding="same", name="wide")(inputs)
    short = keras.Model(inputs, wide, name="short")
    with pytest.raises(ValueError, match=r"'short' has 2 layers, fewer than the 3 of 'tiny' up to its deepest AT"):
        AntiTransferModel(tiny_net(0), short, 1)
    other = keras.Model(inputs, keras.layers.ReLU()(wide), name="other")
    with pytest.raises(ValueError, match=r"layer 1 differs between the models: 'c1' .* 'wide' .* in 'other'"):
        AntiTransferModel(tiny_net(0), other, 1)
    task = tiny_net(0)
    with pytest.raises(ValueError, match=r"pretrained is the task model itself"):
        AntiTransferModel(task, task, 1)


def test_pretrained_network_truncated_at_deepest_layer_and_frozen(data):
    at_model = AntiTransferModel(tiny_net(0), tiny_net(1, name="speaker"), [2, 1])
    assert [layer.name for layer in at_model.pretrained_features.layers] == ["spectrogram", "c1", "r1", "pool1", "c2"]
    assert all(not layer.trainable for layer in at_model.pretrained_model.layers)
    # Only the task network is trained; the wrapper holds its weights once.
    assert len(at_model.trainable_weights) == len(at_model.task_model.trainable_weights) == 9


def test_fit_trains_task_only_and_logs_at_loss(data):
    x, y = data
    at_model = compiled(AntiTransferModel(tiny_net(0), tiny_net(1), [1, 3], beta=[1.0, 0.5]))
    frozen_before = [w.copy() for w in at_model.pretrained_model.get_weights()]
    task_before = [w.copy() for w in at_model.task_model.get_weights()]
    history = at_model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x, y)).history
    for before, after in zip(frozen_before, at_model.pretrained_model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(task_before, at_model.task_model.get_weights()))
    assert set(history) == {"loss", "at_loss", "at_similarity", "val_loss"}
    assert all(value > 0 for value in history["at_loss"])
    # predict/evaluate/call give the task outputs and the task loss only.
    np.testing.assert_allclose(at_model.predict(x, verbose=0), at_model.task_model.predict(x, verbose=0), rtol=1e-6)
    at_model.task_model.compile(loss="sparse_categorical_crossentropy")
    np.testing.assert_allclose(
        at_model.evaluate(x, y, verbose=0), at_model.task_model.evaluate(x, y, verbose=0), rtol=1e-6
    )


def test_training_loss_is_task_loss_plus_weighted_at_terms(data):
    x, y = data
    at_model = compiled(AntiTransferModel(tiny_net(0), tiny_net(1), [1, 3], beta=[1.0, 0.5]))
    y_pred = at_model(x[:16], training=True)
    total = float(at_model.compute_loss(x[:16], y[:16], y_pred, training=True))
    task = keras.losses.sparse_categorical_crossentropy(y[:16], y_pred["anti_transfer_task"])
    trained = y_pred["anti_transfer_features"]
    pretrained = at_model.pretrained_features(x[:16], training=False)
    numpy = keras.ops.convert_to_numpy  # any backend's tensors, also those that require a gradient (PyTorch)
    expected = float(np.mean(numpy(task))) + sum(
        beta * reference_at_loss(numpy(p), numpy(t)) for beta, p, t in zip([1.0, 0.5], pretrained, trained)
    )
    np.testing.assert_allclose(total, expected, rtol=1e-5)


def test_positive_beta_ends_less_similar_than_beta_zero(data):
    x, y = data
    similarity = {}
    for beta in (0.0, 1.0):
        at_model = compiled(AntiTransferModel(tiny_net(0), tiny_net(1), 2, beta=beta))
        keras.utils.set_random_seed(2)
        at_model.fit(x, y, epochs=5, batch_size=16, verbose=0, shuffle=False)
        similarity[beta] = numpy_similarity(at_model, x)
    assert similarity[1.0] < 0.5 * similarity[0.0]


def test_precomputed_aggregates_train_like_on_the_fly(data):
    x, y = data
    histories, weights = [], []
    for precompute in (False, True):
        at_model = compiled(AntiTransferModel(tiny_net(0), tiny_net(1), [1, 2]))
        inputs = at_model.precompute(x, batch_size=20) if precompute else x
        histories.append(at_model.fit(inputs, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history)
        weights.append(at_model.task_model.get_weights())
    precomputed = at_model.precompute(x[:3])
    assert [a.shape for a in precomputed["pretrained_aggregates"]] == [(3, 16), (3, 64)]
    for key in ("loss", "at_loss"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5)
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(at_model.predict(precomputed, verbose=0), at_model.predict(x[:3], verbose=0))


def test_task_model_and_wrapper_save_and_load(data, tmp_path):
    x, y = data
    at_model = compiled(AntiTransferModel(tiny_net(0), tiny_net(1), [1, "c2"], beta=0.3, similarity="sigmoid_mse"))
    at_model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    expected = at_model.predict(x[:4], verbose=0)

    at_model.task_model.save(tmp_path / "task.keras")
    task = keras.saving.load_model(tmp_path / "task.keras")
    np.testing.assert_allclose(task.predict(x[:4], verbose=0), expected, rtol=1e-6)

    at_model.save(tmp_path / "at.keras")
    restored = keras.saving.load_model(tmp_path / "at.keras")
    assert type(restored) is AntiTransferModel
    assert (restored.at_layers, restored.beta, restored.similarity) == ([1, "c2"], [0.3, 0.3], "sigmoid_mse")
    np.testing.assert_allclose(restored.predict(x[:4], verbose=0), expected, rtol=1e-6)
    for a, b in zip(restored.pretrained_model.get_weights(), at_model.pretrained_model.get_weights()):
        np.testing.assert_array_equal(a, b)


# --- other backends -----------------------------------------------------------------------------

BACKEND_SCRIPT = """
import json, numpy as np, keras
from keras_ser.layers import AntiTransferModel

def net(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 12, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))

rng = np.random.default_rng(0)
x, y = rng.random((32, 16, 12, 1), dtype=np.float32), rng.integers(0, 3, 32)
at_model = AntiTransferModel(net(0), net(1), [1, 2])
at_model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
frozen = [w.copy() for w in at_model.pretrained_model.get_weights()]
history = at_model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x, y)).history
pre = at_model.fit(at_model.precompute(x), y, epochs=1, batch_size=16, verbose=0).history
print(json.dumps({
    "backend": keras.backend.backend(),
    "keys": sorted(history),
    "at_loss": history["at_loss"],
    "pre_at_loss": pre["at_loss"],
    "frozen_unchanged": all(np.array_equal(a, b) for a, b in zip(frozen, at_model.pretrained_model.get_weights())),
    "predict_shape": list(at_model.predict(x[:5], verbose=0).shape),
}))
"""


@pytest.mark.parametrize("backend, module", [("jax", "jax"), ("torch", "torch")])
def test_fit_on_other_backend(backend, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert result["keys"] == ["at_loss", "at_similarity", "loss", "val_loss"]
    assert all(np.isfinite(result["at_loss"] + result["pre_at_loss"])) and min(result["at_loss"]) > 0
    assert result["frozen_unchanged"]
    assert result["predict_shape"] == [5, 3]
