import numpy as np
import pytest
import soundfile

from keras_ser import audio
from keras_ser.audio import AudioError

SR = 16000


def _sine(freq, sr, seconds, amplitude=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- load: formats ---------------------------------------------------------------

@pytest.mark.parametrize(
    "fmt, subtype, suffix, tolerance",
    [
        ("WAV", "PCM_16", ".wav", 1e-4),
        ("WAV", "PCM_24", ".wav", 1e-6),
        ("WAV", "PCM_32", ".wav", 1e-6),
        ("WAV", "PCM_U8", ".wav", 1e-2),
        ("WAV", "FLOAT", ".wav", 1e-7),
        ("WAV", "DOUBLE", ".wav", 1e-7),
        ("FLAC", "PCM_16", ".flac", 1e-4),
        ("AIFF", "PCM_16", ".wav", 1e-4),  # AIFF content behind a .wav name
        ("OGG", "VORBIS", ".ogg", None),
        ("MP3", "MPEG_LAYER_III", ".mp3", None),
    ],
)
def test_load_reads_every_format(tmp_path, fmt, subtype, suffix, tolerance):
    if fmt not in soundfile.available_formats():
        pytest.skip(f"this libsndfile cannot write {fmt}")
    x = _sine(440, SR, 1.0)
    path = tmp_path / f"clip{suffix}"
    soundfile.write(path, x, SR, format=fmt, subtype=subtype)
    y = audio.load(path)
    assert y.dtype == np.float32 and y.ndim == 1
    if tolerance is None:  # lossy codecs: same length (within codec padding) and a 440 Hz peak
        assert abs(len(y) - len(x)) < 0.1 * SR
        spectrum = np.abs(np.fft.rfft(y[: SR // 2]))
        assert abs(np.argmax(spectrum) * 2 - 440) <= 4
    else:
        np.testing.assert_allclose(y, x, atol=tolerance)


def test_load_mixes_down_stereo(tmp_path):
    left, right = _sine(300, SR, 0.5), _sine(700, SR, 0.5, amplitude=0.2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    np.testing.assert_allclose(audio.load(path), (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("source_sr", [8000, 44100, 48000, 96000])
def test_load_resamples_to_target_rate(tmp_path, source_sr):
    path = tmp_path / "tone.wav"
    soundfile.write(path, _sine(1000, source_sr, 1.0), source_sr, subtype="FLOAT")
    y = audio.load(path, sr=SR)
    assert abs(len(y) - SR) <= 1
    expected = _sine(1000, SR, 1.0)
    middle = slice(1000, SR - 1000)  # resampler edge effects aside
    np.testing.assert_allclose(y[middle], expected[: len(y)][middle], atol=2e-3)


def test_odd_files_in_shared_corpora_load(data_root):
    odd = sorted(p for p in data_root.rglob("*.wav"))
    assert len(odd) >= 10, "the shared corpora list 10 odd .wav files"
    for path in odd:
        y = audio.load(path)
        info = soundfile.info(path)
        assert y.ndim == 1 and y.dtype == np.float32 and np.isfinite(y).all(), path
        assert abs(len(y) - info.duration * SR) <= 1, path


def test_stereo_48k_ravdess_equals_manual_mixdown(corpus_root):
    path = corpus_root("ravdess") / "Actor_01" / "03-01-08-01-02-02-01.wav"
    raw, sr = soundfile.read(path, dtype="float32")
    assert raw.ndim == 2 and sr == 48000
    y = audio.load(path, sr=48000)
    np.testing.assert_allclose(y, raw.mean(axis=1), atol=1e-7)


# --- load: failure paths -----------------------------------------------------------

def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def _nan_wav(path, value):
    x = _sine(200, SR, 0.1)
    x[10] = value
    soundfile.write(path, x, SR, subtype="FLOAT")
    return path


def _truncated_header(path):
    full = path.with_suffix(".full.wav")
    soundfile.write(full, _sine(200, SR, 0.1), SR)
    return _write_bytes(path, full.read_bytes()[:20])


def _zero_frames(path):
    soundfile.write(path, np.zeros(0, np.float32), SR)
    return path


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.mkdir(), p)[1], "directory"),
        (lambda p: _write_bytes(p, b""), "empty"),
        (lambda p: _write_bytes(p, b"this is a text file, not audio\n" * 20), "not a readable audio file"),
        (_truncated_header, "not a readable audio file"),
        (_zero_frames, "zero audio frames"),
        (lambda p: _nan_wav(p, np.nan), "NaN or Inf"),
        (lambda p: _nan_wav(p, np.inf), "NaN or Inf"),
    ],
    ids=["missing", "directory", "empty", "not-audio", "truncated-header", "zero-frames", "nan", "inf"],
)
def test_bad_input_raises_audio_error_naming_file(tmp_path, make, reason):
    path = make(tmp_path / "bad.wav")
    with pytest.raises(AudioError, match=reason) as info:
        audio.load(path)
    assert isinstance(info.value, ValueError)
    assert str(tmp_path / "bad.wav") in str(info.value)
    # no bare library traceback chained underneath
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_bad_sample_rate_argument():
    with pytest.raises(ValueError, match="sr must be a positive integer"):
        audio.load("whatever.wav", sr=0)


# --- segment -------------------------------------------------------------------------

def test_segment_pads_short_clip():
    x = np.ones(1000, np.float32)
    windows = audio.segment(x, seconds=0.25, sr=SR)
    assert windows.shape == (1, 4000)
    assert windows[0, :1000].sum() == 1000 and not windows[0, 1000:].any()


def test_segment_non_overlapping_windows_and_tail_rule():
    x = np.arange(10 * 1000, dtype=np.float32)
    # 1000-sample windows, 10 full windows, nothing left
    w = audio.segment(x, seconds=1000 / SR, sr=SR)
    assert w.shape == (10, 1000)
    np.testing.assert_array_equal(w.reshape(-1), x)
    # a tail of 600 samples (>= half a window) is kept and padded; 400 is dropped
    kept = audio.segment(np.arange(2600, dtype=np.float32), seconds=1000 / SR, sr=SR)
    assert kept.shape == (3, 1000) and kept[2, 599] == 2599 and kept[2, 600] == 0
    dropped = audio.segment(np.arange(2400, dtype=np.float32), seconds=1000 / SR, sr=SR)
    assert dropped.shape == (2, 1000)


def test_segment_overlapping_hop():
    x = np.arange(3000, dtype=np.float32)
    w = audio.segment(x, seconds=1000 / SR, hop=500 / SR, sr=SR)
    assert w.shape == (5, 1000)
    np.testing.assert_array_equal(w[:, 0], [0, 500, 1000, 1500, 2000])


@pytest.mark.parametrize(
    "kwargs, message",
    [({"seconds": 0}, "seconds must be positive"), ({"hop": -1}, "hop must be positive"),
     ({"min_tail": 2}, "min_tail"),
     ({"hop": 1e-5}, r"hop \(hop_seconds\) must be at least one sample, 6.25e-05 s at 16000 Hz; 1e-05 s rounds to 0"),
     ({"seconds": 1e-5}, r"seconds \(segment_seconds\) must be at least one sample")],
)
def test_segment_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        audio.segment(np.zeros(100), **kwargs)
    with pytest.raises(ValueError, match="1-D signal"):
        audio.segment(np.zeros((2, 100)))
