"""Grad-CAM (keras_ser.explain): a toy model checked against a hand computation, a zoo preset, errors and the CLI."""

import keras
import numpy as np
import pytest

from keras_ser.audio.spectrogram import STFTSettings
from keras_ser.cli import main
from keras_ser.explain import grad_cam
from keras_ser.layers import QuaternionConv2D
from keras_ser.presets import AudioPreprocessor, UnvoicedAudioWarning

GRID = (512, 128)  # AudioPreprocessor()'s spectrogram: time steps x frequency bins
RECTANGLE = (slice(100, 260), slice(20, 60))  # the only region the toy model reads
DENSE = np.array([[1.0, -1.0, 0.0], [0.5, 1.0, -1.0], [-0.5, 0.0, 1.0], [1.0, 0.5, 0.5]], "float32")


@pytest.fixture(scope="module")
def toy():
    """conv1 → zero all but RECTANGLE → conv2 (1x1, no bias) → mean pooling → softmax over classes a, b, c."""
    keras.utils.set_random_seed(0)
    mask = np.zeros((1, *GRID, 1), "float32")
    mask[(0, *RECTANGLE)] = 1.0
    inputs = keras.Input((*GRID, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Lambda(lambda features: keras.ops.multiply(features, mask), name="mask")(x)
    x = keras.layers.Conv2D(4, 1, activation="relu", use_bias=False, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="toy")
    model.get_layer("conv2").set_weights([np.eye(4, dtype="float32")[None, None]])
    model.get_layer("predictions").set_weights([DENSE, np.zeros(3, "float32")])
    return model


@pytest.fixture(scope="module")
def noise():
    """6 s of noise at 16 kHz: two 4-s windows."""
    return np.random.default_rng(0).normal(0.0, 0.1, 6 * 16000).astype("float32")


def test_toy_model_lights_the_region_it_reads_as_a_hand_computation_says(toy, noise):
    cam = grad_cam(toy, noise, class_name="a", class_names=["a", "b", "c"])
    assert cam.layer == "conv2" and cam.class_name == "a" and cam.maps.shape == (2, *GRID)
    assert cam.starts.tolist() == [0.0, 4.0] and cam.duration == 6.0 and cam.source is None
    inside = cam.maps[(slice(None), *RECTANGLE)].sum(axis=(1, 2))
    assert (inside / cam.maps.sum(axis=(1, 2)) > 0.99).all()

    # The logit of "a" is Σ_k DENSE[k, 0] · mean(A_k), so each channel's weight is DENSE[k, 0] / (positions).
    activations = keras.ops.convert_to_numpy(
        keras.Model(toy.input, toy.get_layer("conv2").output)(cam.spectrograms[..., None]))
    weights = DENSE[:, 0] / np.prod(GRID)
    expected = np.maximum(np.einsum("nhwc,c->nhw", activations, weights), 0.0)
    expected /= expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(cam.maps, expected, atol=1e-5)


def test_errors_name_the_culprit_and_the_choices(toy, noise):
    with pytest.raises(ValueError, match=r"no layer named 'conv9'; its conv layers are: conv1, conv2"):
        grad_cam(toy, noise, layer="conv9")
    with pytest.raises(ValueError, match=r"'pool' \(GlobalAveragePooling2D\) is not a 2-D conv layer.*conv1, conv2"):
        grad_cam(toy, noise, layer="pool")
    with pytest.raises(ValueError, match=r"unknown class 'joy'; the model's classes are: a, b, c"):
        grad_cam(toy, noise, class_name="joy", class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"takes inputs of shape \(512, 128, 1\), but the preprocessor makes"):
        grad_cam(toy, noise, preprocessor=AudioPreprocessor(stft=STFTSettings(frequency_bins=64)))


def test_nested_quaternion_network_defaults_to_its_last_quaternion_conv_and_fills_the_grid(noise):
    inputs = keras.Input((*GRID, 1))
    front = keras.Sequential([keras.Input((*GRID, 1)), keras.layers.Conv2D(4, 3, padding="same", name="conv1")],
                             name="front")
    x = QuaternionConv2D(8, 3, strides=4, padding="same", activation="relu", name="conv1")(front(inputs))
    x = QuaternionConv2D(8, 3, strides=(8, 2), padding="same", activation="relu", name="qconv")(x)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs, name="nested")
    cam = grad_cam(model, noise[:16000])
    assert cam.layer == "qconv" and cam.maps.shape == (1, *GRID)
    assert np.isfinite(cam.maps).all() and cam.maps.min() >= 0 and cam.maps.max() == pytest.approx(1.0)
    assert grad_cam(model, noise[:16000], layer="front/conv1").layer == "front/conv1"
    with pytest.raises(ValueError, match=r"'conv1' is ambiguous .*\(front/conv1, conv1\): give its full path"):
        grad_cam(model, noise, layer="conv1")


def test_zoo_preset_explains_a_real_clip_and_the_cli_plots_it(corpus_root, tmp_path, capsys):
    import keras_ser

    clip = corpus_root("emodb") / "wav" / "03a01Wa.flac"
    model = keras_ser.load("rhemo")
    cam = grad_cam(model, clip)
    top = model.predict_file(clip)[0]
    assert cam.layer == "rhemo_encoder/conv3" and cam.maps.shape == (1, *GRID) and cam.source == str(clip)
    assert np.isfinite(cam.maps).all() and 0 <= cam.maps.min() and cam.maps.max() <= 1
    assert cam.class_name == top["label"] and cam.probability == pytest.approx(top["score"], abs=1e-4)

    out = tmp_path / "cam.png"
    assert main(["explain", str(clip), "--out", str(out), "--model", "rhemo", "--class", "sad"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sad" in capsys.readouterr().out
    assert main(["explain", str(clip), "--out", str(out), "--model", "rhemo", "--class", "joy"]) == 2
    assert "unknown class 'joy'; the model's classes are: neutral, angry, happy, sad" in capsys.readouterr().err


TINY_FRONT_END = AudioPreprocessor(segment_seconds=1.0, normalizer={"kind": "utterance_global"},
                                   stft=STFTSettings(mel_bins=16, compression="log"))


def _compact_classifier(members, seed):
    """A SERClassifier of `members` compact CNNs (4 and 4 filters) on TINY_FRONT_END, seeded."""
    from keras_ser.presets import SERClassifier

    keras.utils.set_random_seed(seed)
    return SERClassifier(["neutral", "angry", "happy", "sad"], preprocessor=TINY_FRONT_END,
                         network={"builder": "compact_cnn", "members": members, "options": {"filters": [4, 4]}})


def test_a_seed_ensemble_is_explained_member_by_member_for_each_members_logit(noise):
    ensemble = _compact_classifier(2, seed=0)
    singles = [_compact_classifier(1, seed=1), _compact_classifier(1, seed=2)]
    for single, member in zip(singles, ensemble.networks):
        single.networks[0].set_weights(member.get_weights())
    clip = noise[:16000]
    cams = {name: grad_cam(ensemble, clip, layer=f"{name}/conv2", class_name="sad")
            for name in ("member_0", "member_1")}
    for (name, cam), single in zip(cams.items(), singles):  # one member: the network alone, its own logit
        reference = grad_cam(single, clip, class_name="sad")
        assert cam.layer == f"{name}/conv2" and reference.layer.endswith("/conv2")
        np.testing.assert_allclose(cam.maps, reference.maps, atol=1e-5)
    both = grad_cam(ensemble, clip, class_name="sad")
    with pytest.warns(UnvoicedAudioWarning):  # noise: scored all the same
        scores = {entry["label"]: entry["score"] for entry in ensemble.predict_array(clip, 16000)}
    assert both.layer == "member_*/conv2" and both.probability == pytest.approx(scores["sad"], abs=1e-5)
    assert not np.allclose(both.maps, cams["member_0"].maps) and not np.allclose(both.maps, cams["member_1"].maps)
    twins = _compact_classifier(2, seed=0)  # two identical members: the average is each one's map
    twins.networks[1].set_weights(twins.networks[0].get_weights())
    np.testing.assert_allclose(grad_cam(twins, clip, class_name="sad").maps,
                               grad_cam(twins, clip, layer="member_0/conv2", class_name="sad").maps, atol=1e-5)
    with pytest.raises(ValueError, match=r"has no member 'member_5'; its members are member_0, member_1"):
        grad_cam(ensemble, clip, layer="member_5/conv2")
