"""The optional front-end settings: mel bands, log compression and per-utterance normalisation."""

import dataclasses
import hashlib
import importlib.util
import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from keras_ser.audio import (
    Spectrogram,
    STFTSettings,
    STFTSettingsError,
    UtteranceGlobalNormalizer,
    UtteranceNormalizer,
    spectrogram,
)
from keras_ser.audio.mel import hertz_to_mel, mel_band_edges, mel_filterbank, mel_to_hertz
from keras_ser.datasets import FrontEnd
from keras_ser.datasets.cache import _cache_key
from keras_ser.presets import AudioPreprocessor, PresetError
from keras_ser.training import ConfigError

from prediction_helpers import predict_file_on_jax
from test_training import tiny


def _htk_reference(frame_length, mel_bands, sample_rate=16000):
    """Triangular mel filters written out bin by bin from mel(f) = 2595 log10(1 + f / 700)."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    top = mel(sample_rate / 2)
    bins = frame_length // 2 + 1
    weights = np.zeros((bins, mel_bands))
    for band in range(mel_bands):
        left, centre, right = (top * (band + i) / (mel_bands + 1) for i in range(3))
        for k in range(bins):
            m = mel(k * sample_rate / frame_length)
            if left < m <= centre:
                weights[k, band] = (m - left) / (centre - left)
            elif centre < m < right:
                weights[k, band] = (right - m) / (right - centre)
    return weights


@pytest.mark.parametrize("frame_length, mel_bands", [(256, 40), (320, 64)])
def test_mel_filterbank_matches_the_htk_formula_and_keras(frame_length, mel_bands):
    weights = mel_filterbank(frame_length, mel_bands, 16000)
    assert weights.shape == (frame_length // 2 + 1, mel_bands) and weights.dtype == np.float32
    np.testing.assert_allclose(weights, _htk_reference(frame_length, mel_bands), atol=1e-6)
    keras_weights = keras.layers.MelSpectrogram().linear_to_mel_weight_matrix(
        mel_bands, frame_length // 2 + 1, 16000, 0.0, 8000.0)
    np.testing.assert_allclose(weights, keras.ops.convert_to_numpy(keras_weights), atol=2e-5)


def test_mel_band_centres_are_where_the_filterbank_peaks():
    hertz = np.array([0.0, 62.5, 700.0, 1000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hertz(hertz_to_mel(hertz)), hertz, atol=1e-9)
    assert hertz_to_mel(700.0) == pytest.approx(1127.0 * np.log(2))  # the HTK formula
    centres = mel_to_hertz(mel_band_edges(40, 16000)[1:-1])
    bins = np.linspace(0.0, 8000.0, 1024 // 2 + 1)  # a fine STFT: bins 15.6 Hz apart
    peaks = bins[mel_filterbank(1024, 40, 16000).argmax(axis=0)]
    np.testing.assert_allclose(peaks, centres, atol=8.0)


def _clips():
    """Noise, a short clip (zero-padded) and digital silence, 4 s at 16 kHz."""
    x = np.random.default_rng(0).normal(size=(3, 64000)).astype(np.float32) * 0.1
    x[1, 16000:] = 0
    x[2] = 0
    return x


@pytest.mark.parametrize("mel_bins, compression", [(40, "none"), (0, "log"), (40, "log")])
def test_numpy_twin_matches_the_layer_and_composes_the_linear_spectrogram(mel_bins, compression):
    settings = STFTSettings(mel_bins=mel_bins, compression=compression)
    x = _clips()
    out = spectrogram(x, settings)
    assert out.shape == (3, 512, settings.bins, 1) and out.dtype == np.float32
    layer = Spectrogram(**dataclasses.asdict(settings))
    assert layer.compute_output_shape((None, 64000)) == (None, 512, settings.bins, 1)
    # log(x + 1.4e-4) turns float32 rounding of near-silent bins (~1e-8) into ~1e-4
    tolerance = 5e-4 if compression == "log" else 2e-5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), out, rtol=1e-5, atol=tolerance)
    # the same as the linear spectrogram of all 129 bins, mel-weighted and compressed here
    linear = spectrogram(x, STFTSettings(frequency_bins=129))[..., 0]
    if mel_bins:
        linear = linear @ _htk_reference(256, mel_bins)
    else:
        linear = linear[..., :128]
    if compression == "log":
        linear = np.log(linear + 1e-6 * 0.54 * 256)
    np.testing.assert_allclose(out[..., 0], linear, rtol=1e-4, atol=tolerance)


def test_log_compression_keeps_silence_and_padding_finite():
    settings = STFTSettings(compression="log")
    assert settings.log_floor == pytest.approx(1e-6 * 0.54 * 256)  # 1e-6 x the periodic Hamming window's sum
    out = spectrogram(_clips(), settings)
    assert np.isfinite(out).all()
    floor = np.log(settings.log_floor)
    assert np.allclose(out[2], floor, atol=1e-6)  # silence: exactly the floor
    assert np.allclose(out[:, 501:], floor, atol=1e-6)  # padded frames of a 4-s window (501 of 512 are audio)
    assert out[0, :501].min() > floor + 1  # noise lies well above it


def test_utterance_normalisation_gives_each_bin_zero_mean_and_unit_variance_over_time():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 64, 10, 1)) * rng.uniform(0.1, 5, size=(2, 1, 10, 1)) + rng.normal(size=(2, 1, 10, 1)) * 10
    x[1, :, 3] = -9.0  # a bin constant over time, as silence gives after log compression
    layer = UtteranceNormalizer(name="normalizer")
    assert layer.adapt(x) is layer and layer.statistics == {} and layer.kind == "utterance"
    out = keras.ops.convert_to_numpy(layer(x.astype(np.float32)))
    varying = np.delete(out[1], 3, axis=1)
    for example in (out[0], varying):
        np.testing.assert_allclose(example.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(example.std(axis=0), 1.0, rtol=1e-4)
    np.testing.assert_allclose(out[1, :, 3], 0.0, atol=0.1)  # constant: 0 up to the mean's rounding
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x.astype(np.float32))), out)


def test_utterance_normalisation_leaves_padding_out_of_the_statistics():
    rng = np.random.default_rng(2)
    clip = rng.normal(size=(40, 6, 1)) * 2 + 3
    silence = np.float32(-9.2)  # the log floor a padded frame holds
    short = np.concatenate([clip, np.full((24, 6, 1), silence)])  # a clip filling 40 of 64 frames
    shifted = np.concatenate([np.full((10, 6, 1), silence), clip, np.full((14, 6, 1), silence)])
    x = np.stack([short, shifted, np.full((64, 6, 1), silence)]).astype(np.float32)
    out = keras.ops.convert_to_numpy(UtteranceNormalizer()(x))
    reference = (clip - clip.mean(axis=0)) / np.sqrt(clip.var(axis=0) + UtteranceNormalizer.EPSILON)
    np.testing.assert_allclose(out[0, :40], reference, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out[1, 10:50], reference, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out[0, 40:], ((silence - clip.mean(axis=0)) / clip.std(axis=0))[None].repeat(24, 0),
                               rtol=1e-4)
    assert not out[2].any()  # all silence: every frame is used, and a constant becomes 0


def test_global_utterance_normalisation_keeps_the_spectrum_and_leaves_padding_out():
    rng = np.random.default_rng(3)
    tilt = np.linspace(4.0, -4.0, 6)[None, :, None]  # a falling spectrum: per-band normalisation removes it
    clips = [rng.normal(size=(40, 6, 1)) + tilt + 2, rng.normal(size=(64, 6, 1)) * 3 + tilt - 5]
    silence = np.float32(-20.0)
    short = np.concatenate([np.full((10, 6, 1), silence), clips[0], np.full((14, 6, 1), silence)])
    x = np.stack([short, clips[1], np.full((64, 6, 1), silence)]).astype(np.float32)
    layer = UtteranceGlobalNormalizer()
    assert layer.adapt(x) is layer and layer.statistics == {} and layer.kind == "utterance_global"
    out = keras.ops.convert_to_numpy(layer(x))
    for got, clip in ((out[0, 10:50], clips[0]), (out[1], clips[1])):  # one mean and variance over every bin
        np.testing.assert_allclose(got, (clip - clip.mean()) / np.sqrt(clip.var() + layer.EPSILON),
                                   rtol=1e-4, atol=1e-5)
        band_means = got.mean(axis=0)[:, 0]
        assert np.all(np.diff(band_means) < 0)  # the tilt survives
    np.testing.assert_allclose(out[0, :10], (silence - clips[0].mean()) / clips[0].std(), rtol=1e-4)
    assert not out[2].any()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, UtteranceGlobalNormalizer)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x)), out)


@pytest.mark.parametrize(
    "data, key, message",
    [
        ({"mel_bins": -1}, "data.mel_bins", "0 .off. or a positive integer, got -1"),
        ({"mel_bins": 64}, "data.mel_bins", "64 mel bands on a 256-sample window .* use at most 57"),
        ({"mel_bins": 200, "frame_length": 320, "hop_length": 160}, "data.mel_bins", "use at most 72"),
        ({"mel_bins": 2.5}, "data.mel_bins", "must be of type int"),
        ({"compression": "db"}, "data.compression", "'db' is not one of none, log"),
        ({"normalization": "robust"}, "data.normalization", "is not one of auto, zscore, max, utterance, utterance_global, none"),
        ({"features": "rhemo", "rhemo_model": "e.keras", "compression": "log"}, "data.compression",
         "RH-emo encoders take linear magnitude spectrograms"),
        ({"features": "rhemo", "rhemo_model": "e.keras", "mel_bins": 40}, "data.mel_bins", "leave data.mel_bins at 0"),
    ],
)
def test_bad_front_end_options_name_their_key(data, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        tiny(data=data)
    assert info.value.key == key


def test_the_most_mel_bands_of_a_window_are_accepted():
    assert tiny(data={"mel_bins": 57}).data.stft().bins == 57


def test_preprocessor_carries_the_options_and_older_files_load_with_the_defaults():
    settings = STFTSettings(mel_bins=40, compression="log")
    preprocessor = AudioPreprocessor(normalizer={"kind": "utterance"}, stft=settings)
    config = json.loads(json.dumps(preprocessor.get_config()))
    assert config["stft"]["mel_bins"] == 40 and config["stft"]["compression"] == "log"
    assert AudioPreprocessor.from_config(config) == preprocessor
    assert isinstance(preprocessor.normalizer_layer(), UtteranceNormalizer)
    old = {**config, "stft": {key: value for key, value in config["stft"].items()
                              if key not in ("mel_bins", "compression")}}
    assert AudioPreprocessor.from_config(old).stft == STFTSettings()
    with pytest.raises(PresetError, match="preprocessor STFT compression: 'db' is not one of none, log"):
        AudioPreprocessor.from_config({**config, "stft": {**config["stft"], "compression": "db"}})
    with pytest.raises(STFTSettingsError, match="mel_bins"):
        Spectrogram(mel_bins=500)


def test_the_default_front_end_keeps_its_cache_key_and_new_options_get_their_own(tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"RIFF")
    items = [SimpleNamespace(path=clip)]  # the key reads only the path
    # the key as written before mel_bins and compression existed
    before = {"sample_rate": 16000, "segment_seconds": 4.0, "hop_seconds": None, "min_tail": 0.5, "dtype": "float16",
              "stft": {"frame_length": 256, "hop_length": 128, "time_steps": 512, "frequency_bins": 128}}
    stat = clip.stat()
    description = {"front_end": before, "feature_format": 1,
                   "files": [(str(clip.resolve()), stat.st_size, stat.st_mtime_ns)]}
    expected = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]
    assert _cache_key(items, FrontEnd()) == expected
    keys = {_cache_key(items, FrontEnd(stft=STFTSettings(**options)))
            for options in ({}, {"mel_bins": 40}, {"compression": "log"}, {"mel_bins": 40, "compression": "log"})}
    assert len(keys) == 4


# EmoDB files of the four classes, short and long (08b03Tc: 9 s, several windows), for a run that caches only these.
RUN_FILES = ["03a01Nc", "16b03Nb", "09b03Nb", "03a01Wa", "11b03Wb", "10b03Wb",
             "03a01Fa", "13b03Fd", "11a05Fc", "03a02Ta", "08b03Tc", "08b02Tc"]


@pytest.mark.filterwarnings("ignore:the fitted temperature .* is at the edge:UserWarning")  # 3 validation clips
def test_a_run_with_the_options_trains_and_its_preset_reproduces_it(tmp_path, corpus_root):
    from keras_ser.presets import load
    from keras_ser.presets.from_run import preset_from_run
    from keras_ser.training import train
    from keras_ser.training.data import prepare_data

    (tmp_path / "emodb" / "wav").mkdir(parents=True)
    for name in RUN_FILES:
        (tmp_path / "emodb" / "wav" / f"{name}.flac").symlink_to(corpus_root("emodb") / "wav" / f"{name}.flac")
    augment = {"gain_db": 6, "noise_snr_db": [10, 30], "time_masks": 1, "time_mask_width": 20, "mixup_alpha": 0.2}
    config = tiny(data={"root": str(tmp_path), "max_items": 0, "split": "random", "mel_bins": 40, "crops": "random",
                        "compression": "log", "normalization": "utterance"},
                  training={"epochs": 1, "augment": augment, "balance": "class"})
    train(config, tmp_path / "run", progress=False)
    run_model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert run_model.input_shape == (None, 128, 40, 1)  # tiny()'s 1-s windows
    assert isinstance(run_model.get_layer("normalizer"), UtteranceNormalizer)

    preset_from_run(tmp_path / "run", tmp_path / "preset", half_precision=False, progress=False)
    preset = load(str(tmp_path / "preset"))
    assert preset.preprocessor.stft == config.data.stft()
    assert preset.preprocessor.normalizer == {"kind": "utterance"}
    # the preset's audio → probabilities equals the run's front end + model.keras, window by window, scaled by the
    # temperature the preset was calibrated with
    from keras_ser.training.calibration import temperature_scaled

    assert preset.temperature == preset.metadata["calibration"]["temperature"]
    signals = [preset.preprocessor.load(corpus_root("emodb") / "wav" / f"{name}.flac") for name in RUN_FILES]
    windows = np.concatenate([preset.preprocessor.windows(signal) for signal in signals])
    assert len(windows) > len(RUN_FILES)
    expected = temperature_scaled(run_model.predict(spectrogram(windows, config.data.stft()), verbose=0),
                                  preset.temperature)
    np.testing.assert_allclose(preset.score_windows(windows)["emotion"], expected, atol=1e-5)
    # and predict_file's clip scores are the run's on its cached (float16) features, averaged over windows
    data = prepare_data(config.data, seed=config.seed, progress=False)
    for part in data.parts.values():
        scores = run_model.predict(part.array(), verbose=0)
        paths = [item.path for item in part.segment_items()]
        for path in dict.fromkeys(paths):
            clip = {entry["label"]: entry["score"] for entry in preset.predict_file(path)}
            mean = temperature_scaled(scores[[p == path for p in paths]], preset.temperature).mean(axis=0)
            np.testing.assert_allclose([clip[name] for name in data.class_names], mean, atol=1e-3)
    # and JAX, without TensorFlow, gives the same clip scores from the audio
    if importlib.util.find_spec("jax") is not None:
        clip = corpus_root("emodb") / "wav" / f"{RUN_FILES[0]}.flac"
        expected = {entry["label"]: entry["score"] for entry in preset.predict_file(clip)}
        assert predict_file_on_jax(tmp_path / "preset", clip) == pytest.approx(expected, abs=1e-5)
