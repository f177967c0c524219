import keras
import numpy as np
import pytest
import scipy.signal

from keras_ser import audio
from keras_ser.audio import MaxNormalizer, Spectrogram, STFTSettings, STFTSettingsError, ZScoreNormalizer, spectrogram


def _scipy_reference(x, frame=256, hop=128):
    """Magnitude STFT from scipy: periodic Hamming window, reflect-centred."""
    window = scipy.signal.get_window("hamming", frame)
    _, _, z = scipy.signal.stft(
        x, window=window, nperseg=frame, noverlap=frame - hop, nfft=frame,
        boundary="even", padded=False, detrend=False, return_onesided=True,
    )
    return np.abs(z * window.sum()).T  # scipy scales by 1/sum(window); frames first


def test_batch_function_matches_scipy_stft():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 64000)).astype(np.float32) * 0.1
    out = spectrogram(x)
    assert out.shape == (2, 512, 128, 1) and out.dtype == np.float32
    for b in range(2):
        ref = _scipy_reference(x[b])
        assert ref.shape == (501, 129)  # 4 s centred: 501 frames, 129 bins
        np.testing.assert_allclose(out[b, :501, :, 0], ref[:, :128], rtol=1e-4, atol=1e-4)
        assert not out[b, 501:].any()  # zero-padded to 512 time steps


def test_long_input_is_cropped_to_512_frames():
    x = np.random.default_rng(1).normal(size=(1, 80000)).astype(np.float32)
    ref = _scipy_reference(x[0])
    np.testing.assert_allclose(spectrogram(x)[0, :, :, 0], ref[:512, :128], rtol=1e-4, atol=1e-4)


CH4 = STFTSettings(frame_length=320, hop_length=160, time_steps=208, frequency_bins=160)  # 20 ms / 10 ms


def test_chapter4_settings_match_scipy_in_both_forms_and_survive_saving(tmp_path):
    x = np.random.default_rng(5).normal(size=(2, 32000)).astype(np.float32)
    ref = _scipy_reference(x[0], frame=320, hop=160)
    assert ref.shape == (201, 161) and CH4.frames(32000) == 201
    out = spectrogram(x, CH4)
    assert out.shape == (2, 208, 160, 1)
    np.testing.assert_allclose(out[0, :201, :, 0], ref[:, :160], rtol=1e-4, atol=1e-4)
    assert not out[:, 201:].any()
    inputs = keras.Input((32000,))
    model = keras.Model(inputs, Spectrogram(320, 160, 208, 160)(inputs))
    np.testing.assert_allclose(model.predict(x, verbose=0), out, rtol=1e-5, atol=2e-5)
    model.save(tmp_path / "ch4.keras")
    restored = keras.saving.load_model(tmp_path / "ch4.keras")
    assert restored.output_shape == (None, 208, 160, 1)
    np.testing.assert_allclose(restored.predict(x, verbose=0), out, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize(
    "settings, field, message",
    [
        ({"frame_length": 0}, "frame_length", "positive integer"),
        ({"hop_length": 2.5}, "hop_length", "positive integer"),
        ({"hop_length": 300}, "hop_length", "must not exceed frame_length"),
        ({"frequency_bins": 130}, "frequency_bins", "130 exceeds the 129 bins"),
    ],
)
def test_bad_stft_settings_name_the_setting(settings, field, message):
    with pytest.raises(STFTSettingsError, match=message) as info:
        STFTSettings(**settings)
    assert info.value.field == field and f"STFT {field}" in str(info.value)
    with pytest.raises(STFTSettingsError, match=message):
        Spectrogram(**settings)


def test_segments_that_would_be_cropped_are_refused():
    STFTSettings().check_segment(4.0)  # 501 frames fit in 512
    with pytest.raises(STFTSettingsError, match="4.2 s segments give 526 STFT frames .* at least 526"):
        STFTSettings().check_segment(4.2)


@pytest.mark.parametrize("samples", [64000, 30000, 90000])
def test_layer_and_batch_function_agree(samples):
    x = np.random.default_rng(samples).normal(size=(3, samples)).astype(np.float32)
    layer_out = keras.ops.convert_to_numpy(Spectrogram()(x))
    np.testing.assert_allclose(layer_out, spectrogram(x), rtol=1e-5, atol=2e-5)
    # (B, samples, 1) is accepted too
    np.testing.assert_allclose(spectrogram(x[..., None]), spectrogram(x))


def test_real_clip_through_both_forms(corpus_root):
    x = audio.segment(audio.load(corpus_root("emodb") / "wav" / "03a01Wa.flac"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(Spectrogram()(x)), spectrogram(x), rtol=1e-5, atol=2e-5)


def test_spectrogram_layer_in_saved_model(tmp_path):
    inputs = keras.Input((None,))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(Spectrogram()(inputs)))
    x = np.random.default_rng(2).normal(size=(2, 48000)).astype(np.float32)
    path = tmp_path / "spec.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert model.count_params() == 0


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), (2, 100, 2)])
def test_spectrogram_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="batch of mono signals"):
        spectrogram(np.zeros(shape, np.float32))


def test_spectrogram_rejects_too_short_signal():
    with pytest.raises(ValueError, match="longer than 128 samples"):
        spectrogram(np.zeros((1, 100), np.float32))


# --- normalisers ----------------------------------------------------------------------

def test_zscore_statistics_match_numpy_and_accept_batches():
    rng = np.random.default_rng(3)
    data = rng.gamma(2.0, size=(40, 16, 8, 1)).astype(np.float32)
    whole = ZScoreNormalizer().adapt(data)
    assert whole.statistics["mean"] == pytest.approx(data.astype(np.float64).mean(), rel=1e-6)
    assert whole.statistics["std"] == pytest.approx(data.astype(np.float64).std(), rel=1e-6)
    batched = ZScoreNormalizer().adapt((data[i : i + 7], None) for i in range(0, 40, 7))
    assert batched.statistics == pytest.approx(whole.statistics, rel=1e-6)
    out = keras.ops.convert_to_numpy(whole(data))
    assert abs(out.mean()) < 1e-5 and out.std() == pytest.approx(1.0, rel=1e-5)


def test_max_normalizer_scales_into_unit_interval():
    data = np.abs(np.random.default_rng(4).normal(size=(10, 8, 8, 1))).astype(np.float32) * 7
    layer = MaxNormalizer().adapt(data)
    assert layer.statistics["maximum"] == pytest.approx(float(data.max()))
    out = keras.ops.convert_to_numpy(layer(data))
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)


def test_normalizer_state_is_saved_with_the_model(tmp_path):
    data = np.random.default_rng(5).normal(3.0, 2.0, size=(20, 8, 8, 1)).astype(np.float32)
    inputs = keras.Input((8, 8, 1))
    norm = ZScoreNormalizer()  # built before adapt, as in a model definition
    model = keras.Model(inputs, keras.layers.Flatten()(norm(inputs)))
    norm.adapt(data)
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert restored.layers[1].statistics == pytest.approx(norm.statistics)
    np.testing.assert_allclose(restored.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-6)
    assert ZScoreNormalizer.from_config(norm.get_config()).statistics == pytest.approx(norm.statistics)


def test_normalizer_failures():
    with pytest.raises(ValueError, match="no statistics: call `adapt"):
        ZScoreNormalizer()(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="constant"):
        ZScoreNormalizer().adapt(np.ones((4, 4)))
    with pytest.raises(ValueError, match="positive maximum"):
        MaxNormalizer().adapt(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="got no data"):
        ZScoreNormalizer().adapt([])
