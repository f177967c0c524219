"""`SERClassifier.adapt`: the normaliser and batch-norm statistics (AdaBN) refitted on unlabelled audio."""

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile
from prediction_helpers import CLASSES, mixed_folder, tiny_classifier

from keras_ser import audio
from keras_ser.layers import QuaternionBatchNormalization
from keras_ser.presets import AudioPreprocessor, SERClassifier, load, save_preset
from keras_ser.presets.adaptation import adapt_batch_norm

CLIPS = ("03a01Wa.flac", "03a02Fc.flac", "08b02Tc.flac", "16b10Tb.flac")  # 08b02Tc (7.7 s): 2 windows


@pytest.fixture(scope="module")
def clips(corpus_root):
    return [str(corpus_root("emodb") / "wav" / name) for name in CLIPS]


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier()


def spectrograms(paths, stft):
    """The spectrograms of the clips' 4-s windows, computed with numpy."""
    windows = np.concatenate([audio.segment(audio.load(path), 4.0) for path in paths])
    return audio.spectrogram(windows, stft).astype(np.float64)


def moments(x, axes):
    return x.mean(axis=axes), x.var(axis=axes)


def test_adapted_zscore_statistics_are_those_of_the_new_windows(tiny, clips, tmp_path):
    zscore = {"kind": "zscore", "mean": 1.0, "std": 2.0}
    model = SERClassifier.from_config({**tiny.get_config(), "preprocessor": {"normalizer": zscore}})
    adapted = model.adapt(clips, min_windows=1, progress=False)
    features = spectrograms(clips, model.preprocessor.stft)
    expected = {"kind": "zscore", "mean": pytest.approx(features.mean(), rel=1e-5),
                "std": pytest.approx(features.std(), rel=1e-5)}
    assert adapted.preprocessor.normalizer == expected
    assert adapted.get_layer("normalizer").statistics == {"mean": expected["mean"], "std": expected["std"]}
    assert model.preprocessor.normalizer == zscore  # the original is unchanged
    assert model.get_layer("normalizer").statistics == {"mean": 1.0, "std": 2.0}
    record, = adapted.metadata["adaptations"]
    assert (record["clips"], record["windows"], record["parts"]) == (4, len(features), ["normalizer"])
    assert record["normalizer"]["before"] == {"mean": 1.0, "std": 2.0}
    # A folder, and arrays with their sampling rate, give the same statistics.
    for path in clips:
        shutil.copy(path, tmp_path)
    from_folder = model.adapt(tmp_path, min_windows=1, progress=False)
    arrays = [soundfile.read(path, dtype="float32")[0] for path in clips]
    from_arrays = model.adapt(arrays, sampling_rate=16000, min_windows=1, progress=False)
    for other in (from_folder, from_arrays):
        assert other.preprocessor.normalizer == expected


def test_adabn_statistics_are_those_of_each_layer_inputs(tiny, clips):
    adapted = tiny.adapt(clips, batch_norm=True, min_windows=1, progress=False)
    maximum = spectrograms(clips, tiny.preprocessor.stft).max()
    assert adapted.preprocessor.normalizer == {"kind": "max", "maximum": pytest.approx(maximum, rel=1e-6)}
    features = spectrograms(clips, tiny.preprocessor.stft) / maximum
    encoder = adapted.get_layer("rhemo_encoder")
    for bn, before in (("bn1", "pool1"), ("bn2", "pool2")):  # bn2's inputs come through the adapted bn1
        inputs = keras.ops.convert_to_numpy(keras.Model(encoder.input, encoder.get_layer(before).output)(features))
        mean, variance = moments(inputs.astype(np.float64), (0, 1, 2))
        layer = encoder.get_layer(bn)
        np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(layer.moving_variance.numpy(), variance, rtol=1e-4, atol=1e-9)
        original = tiny.get_layer("rhemo_encoder").get_layer(bn)
        assert not original.moving_mean.numpy().any() and (original.moving_variance.numpy() == 1).all()
    assert adapted.metadata["adaptations"][0]["batch_norm_layers"] == ["rhemo_encoder/bn1", "rhemo_encoder/bn2"]


def test_adabn_of_real_and_quaternion_layers_in_nested_models():
    inner_input = keras.Input((3, 3, 8))
    hidden = keras.layers.Dense(8, name="dense")(inner_input)
    inner = keras.Model(inner_input, QuaternionBatchNormalization(name="qbn")(hidden), name="inner")
    outer_input = keras.Input((3, 3, 8))
    network = keras.Model(outer_input, inner(keras.layers.BatchNormalization(name="bn")(outer_input)))
    x = np.random.default_rng(0).normal(3.0, 2.0, (40, 3, 3, 8)).astype(np.float32)
    assert adapt_batch_norm(network, x, batch_size=16, progress=False) == ["bn", "inner/qbn"]  # 16 + 16 + 8
    mean, variance = moments(x.astype(np.float64), (0, 1, 2))
    bn = network.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), variance, rtol=1e-5)
    hidden = keras.ops.convert_to_numpy(inner.get_layer("dense")(bn(x, training=False))).astype(np.float64)
    mean, variance = moments(hidden, (0, 1, 2))
    qbn = inner.get_layer("qbn")
    np.testing.assert_allclose(qbn.moving_mean.numpy(), mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(qbn.moving_variance.numpy(), variance.reshape(4, 2).sum(axis=0), rtol=1e-4)


def test_adabn_adapts_every_network_of_an_ensemble(clips):
    network = {"builder": "compact_cnn", "variant": "real", "options": {"filters": [4]}, "members": 2}
    keras.utils.set_random_seed(0)
    model = SERClassifier(CLASSES, network=network, preprocessor=AudioPreprocessor(normalizer={"kind": "max",
                                                                                              "maximum": 40.0}))
    adapted = model.adapt(clips, normalizer=False, batch_norm=True, min_windows=1, progress=False)
    assert adapted.metadata["adaptations"][0]["batch_norm_layers"] == ["member_0/bn1", "member_1/bn1"]
    features = spectrograms(clips, model.preprocessor.stft) / 40.0
    means = []
    for member in adapted.networks:
        inputs = keras.ops.convert_to_numpy(keras.Model(member.input, member.get_layer("conv1").output)(features))
        mean, variance = moments(inputs.astype(np.float64), (0, 1, 2))
        np.testing.assert_allclose(member.get_layer("bn1").moving_mean.numpy(), mean, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(member.get_layer("bn1").moving_variance.numpy(), variance, rtol=1e-4, atol=1e-9)
        means.append(mean)
    assert not np.allclose(means[0], means[1])  # each network from its own inputs


def test_a_per_window_normaliser_is_left_alone_by_default(clips, tmp_path, capsys):
    from keras_ser.cli import main

    network = {"builder": "compact_cnn", "variant": "real", "options": {"filters": [4]}}
    preprocessor = AudioPreprocessor(normalizer={"kind": "utterance_global"})
    model = SERClassifier(CLASSES, network=network, preprocessor=preprocessor, name="per-window")
    adapted = model.adapt(clips, batch_norm=True, min_windows=1, progress=False)
    assert adapted.metadata["adaptations"][0]["parts"] == ["batch_norm"]
    assert adapted.preprocessor.normalizer == {"kind": "utterance_global"}
    save_preset(model, tmp_path / "base")
    assert main(["adapt", str(tmp_path / "base"), *clips, "--out", str(tmp_path / "adapted"), "--batch-norm",
                 "--min-windows", "1"]) == 0
    assert "batch-norm statistics of 1 layers recomputed" in capsys.readouterr().out
    assert load(str(tmp_path / "adapted")).metadata["adaptations"][0]["parts"] == ["batch_norm"]


def test_inplace_adaptation_survives_a_preset_round_trip(clips, tmp_path):
    model = tiny_classifier()
    model.metadata = {"calibration": {"temperature": 1.5, "ece": {"test": {"emodb": {"before": 0.1, "after": 0.05}}}}}
    assert model.adapt(clips, batch_norm=True, inplace=True, min_windows=1, progress=False) is model
    assert model.preprocessor.normalizer["maximum"] != 40.0
    folder = save_preset(model, tmp_path / "adapted")
    loaded = load(str(folder))
    assert loaded.preprocessor.normalizer == model.preprocessor.normalizer
    assert loaded.metadata["adaptations"] == model.metadata["adaptations"]
    card = (Path(folder) / "README.md").read_text()  # says the results it shows were measured before adapting
    assert "## Adaptation" in card and "measured before the adaptation" in card
    assert card.index("## Calibration") < card.index("## Adaptation")  # the calibration predates it too
    record = model.metadata["adaptations"][0]
    assert f"| {record['date']} | normalizer, batch_norm | {len(clips)} | {record['windows']} | 0 |" in card
    assert "## Adaptation" not in (Path(save_preset(tiny_classifier(), tmp_path / "plain")) / "README.md").read_text()
    for name in ("bn1", "bn2"):
        saved, back = (m.get_layer("rhemo_encoder").get_layer(name) for m in (model, loaded))
        np.testing.assert_array_equal(back.moving_mean.numpy(), saved.moving_mean.numpy())
        np.testing.assert_array_equal(back.moving_variance.numpy(), saved.moving_variance.numpy())
    windows = audio.segment(audio.load(clips[0]), 4.0)
    np.testing.assert_allclose(loaded.predict_on_batch(windows), model.predict_on_batch(windows), rtol=1e-5)


def test_adaptation_failures_say_what_to_do(tiny, clips, tmp_path, corpus_root):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files found below"):
        tiny.adapt(tmp_path / "empty", progress=False)
    good, bad = mixed_folder(tmp_path / "mixed", corpus_root("emodb") / "wav")
    with pytest.raises(ValueError, match=r"3 of 5 audio files cannot be read: .*on_error='skip'") as error:
        tiny.adapt(tmp_path / "mixed", min_windows=1, progress=False)
    assert all(path in str(error.value) for path in bad)
    with pytest.warns(UserWarning, match="skipped 3 unreadable audio file"):
        adapted = tiny.adapt(tmp_path / "mixed", min_windows=1, on_error="skip", progress=False)
    record = adapted.metadata["adaptations"][0]
    assert record["clips"] == len(good) and {entry["source"] for entry in record["skipped"]} == set(bad)
    with pytest.raises(ValueError, match=r"4 clip\(s\) give 5 window\(s\) of 4 s, fewer than the 20 needed"):
        tiny.adapt(clips, progress=False)
    with pytest.raises(ValueError, match="audio arrays need their sampling_rate"):
        tiny.adapt([np.zeros(16000)], progress=False)
    plain = SERClassifier(CLASSES, network={"builder": "a1", "options": {"hidden_units": 4}},
                          preprocessor=AudioPreprocessor(normalizer={"kind": "utterance"}))
    with pytest.raises(ValueError, match="'utterance'.*nothing to fit; pass normalizer=False"):
        plain.adapt(clips, normalizer=True, progress=False)
    whole = SERClassifier(CLASSES, network={"builder": "a1", "options": {"hidden_units": 4}},
                          preprocessor=AudioPreprocessor(normalizer={"kind": "utterance_global"}))
    with pytest.raises(ValueError, match="'utterance_global'.*nothing to fit; pass normalizer=False"):
        whole.adapt(clips, normalizer=True, progress=False)
    with pytest.raises(ValueError, match=r"nothing to adapt in model .*: its input normaliser \(utterance_global\) "
                                         r"has no statistics to fit and batch_norm=False; pass batch_norm=True"):
        whole.adapt(clips, progress=False)
    with pytest.raises(ValueError, match="normalizer must be True, False or 'auto', got 'yes'"):
        whole.adapt(clips, normalizer="yes", progress=False)
    with pytest.raises(ValueError, match="'utterance_global'.*nothing to fit; pass normalizer=False"):
        whole.adapt(clips, normalizer=np.True_, progress=False)
    with pytest.raises(ValueError, match="no batch-normalisation layers.*pass batch_norm=False"):
        plain.adapt(clips, normalizer=False, batch_norm=True, progress=False)
    with pytest.raises(ValueError, match="nothing to adapt in model 'tiny': normalizer=False and batch_norm=False"):
        tiny.adapt(clips, normalizer=False, progress=False)


def test_adapt_command_writes_an_adapted_preset(tiny, clips, tmp_path, capsys):
    from keras_ser.cli import main

    save_preset(tiny, tmp_path / "base")
    out = tmp_path / "adapted"
    assert main(["adapt", str(tmp_path / "base"), *clips, "--out", str(out), "--batch-norm", "--min-windows", "1"]) == 0
    printed = capsys.readouterr().out
    assert "max normaliser: maximum 40 -> " in printed and "of 2 layers recomputed" in printed
    assert f"adapted on 4 clips (5 windows) -> {out}" in printed
    adapted = load(str(out))
    assert adapted.metadata["adaptations"][0]["parts"] == ["normalizer", "batch_norm"]
    maximum = spectrograms(clips, tiny.preprocessor.stft).max()
    assert adapted.preprocessor.normalizer["maximum"] == pytest.approx(maximum)
    assert main(["adapt", str(tmp_path / "base"), *clips, "--out", str(out)]) == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
