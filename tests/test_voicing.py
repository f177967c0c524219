"""Voiced-speech detection: periodic frames at a speaking pitch, against noise, silence and real speech."""

import re

import numpy as np
import pytest

from keras_ser import audio
from keras_ser.audio import voicing
from keras_ser.audio.voicing import has_voice, voiced_frames

RATE = 16000


def tone(hz, seconds, rate=RATE, harmonics=1):
    t = np.arange(int(seconds * rate)) / rate
    return sum(0.3 / k * np.sin(2 * np.pi * hz * k * t) for k in range(1, harmonics + 1)).astype(np.float32)


def white(seconds, seed=0, rate=RATE):
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def pink(seconds, seed=0):
    """White noise whose power falls as 1 / f, by its spectrum."""
    noise = white(seconds, seed)
    spectrum = np.fft.rfft(noise) / np.sqrt(np.maximum(np.arange(len(noise) // 2 + 1), 1))
    return (np.fft.irfft(spectrum, len(noise)) * 10).astype(np.float32)


def test_a_frame_every_20_ms_of_60_ms_at_8_khz():
    # 3 s at 8 kHz: 24000 samples, frames of 480 every 160: 1 + (24000 - 480) // 160
    assert len(voiced_frames(tone(150, 3), RATE)) == 148
    assert len(voiced_frames(tone(150, 3, rate=8000), 8000)) == 148
    assert len(voiced_frames(np.ones(10, np.float32), RATE)) == 1  # shorter than a frame: one, zero-padded
    # longer than one block of frames: every block is analysed
    long = np.tile(tone(150, 1), 2)
    assert len(voiced_frames(long, RATE)) == 1 + (2 * 8000 - 480) // 160 > voicing.BLOCK_FRAMES
    assert voiced_frames(long, RATE).all()


@pytest.mark.parametrize("hz", [60, 120, 220, 450])
def test_pitched_sounds_across_the_speaking_range_are_voiced(hz):
    assert voiced_frames(tone(hz, 1, harmonics=5), RATE).mean() > 0.95
    assert voiced_frames(tone(hz, 1, rate=44100), 44100).mean() > 0.95


def test_noise_and_silence_are_not_voiced():
    for name, signal, rate in (("white", white(3), RATE), ("pink", pink(3), RATE),
                               ("silence", np.zeros(3 * RATE, np.float32), RATE),
                               ("white at 8 kHz", white(3, rate=8000), 8000)):
        assert voiced_frames(signal, rate).mean() <= 0.02, name
        assert not has_voice(signal, rate), name


def test_has_voice_needs_a_tenth_of_a_second_of_voiced_frames():
    noise = white(3)
    for seconds, expected in ((0.04, False), (0.3, True)):
        signal = noise.copy()
        burst = tone(150, seconds, harmonics=3)
        signal[RATE : RATE + len(burst)] += 3 * burst  # well above the noise
        assert has_voice(signal, RATE) is expected, seconds
    assert not has_voice(tone(150, 0.3), RATE, seconds=1.0)
    assert has_voice(tone(150, 1.2), RATE, seconds=1.0)


def test_long_clips_need_a_hundredth_of_their_frames_voiced():
    noise = white(60)  # 2998 frames: 30 voiced needed
    for seconds, expected in ((0.3, False), (1.0, True)):
        signal = noise.copy()
        burst = tone(150, seconds, harmonics=3)
        signal[RATE : RATE + len(burst)] += 3 * burst
        assert has_voice(signal, RATE) is expected, seconds
        assert has_voice(signal, RATE, share=0.0), seconds  # 0.1 s is enough without the share


def test_real_speech_is_voiced_also_under_noise(corpus_root):
    rng = np.random.default_rng(3)
    for path in (corpus_root("emodb") / "wav" / "03a01Wa.flac",
                 corpus_root("ravdess") / "Actor_09" / "03-01-04-01-01-01-09.flac",  # the lowest voiced share found
                 corpus_root("nemo") / "samples" / "WR0_neutral_3.opus"):  # the fewest voiced seconds found
        speech = audio.load(path, sr=RATE)
        assert voiced_frames(speech, RATE).sum() * voicing.HOP_SECONDS >= 0.3, path.name
        noise = rng.standard_normal(len(speech)) * np.sqrt(np.mean(speech**2))  # white noise at 0 dB SNR
        assert has_voice(speech + noise.astype(np.float32), RATE), path.name


def test_bad_signals_and_rates_are_named():
    for bad in (np.zeros((2, 100)), np.zeros(0)):
        with pytest.raises(ValueError, match=re.escape(f"voicing needs a non-empty mono signal, got shape {bad.shape}")):
            has_voice(bad, RATE)
    for rate in (0, -8000, 8000.5, None):
        with pytest.raises(ValueError, match=re.escape(f"sampling_rate must be a positive integer sample rate in Hz, "
                                                       f"got {rate!r}")):
            voiced_frames(tone(150, 1), rate)
