"""The mel filterbank of the optional mel front end (`STFTSettings.mel_bins`)."""

import functools

import numpy as np


def hertz_to_mel(hertz):
    """HTK's mel scale: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(hertz, np.float64) / 700.0)


def mel_to_hertz(mel):
    """The inverse of `hertz_to_mel`."""
    return 700.0 * np.expm1(np.asarray(mel, np.float64) / 1127.0)


def mel_band_edges(mel_bins, sample_rate):
    """The `mel_bins` + 2 points (mel) of the filterbank's triangles: the lowest edge, each band's centre, the highest."""
    return np.linspace(0.0, hertz_to_mel(sample_rate / 2), mel_bins + 2)


@functools.lru_cache(maxsize=16)
def mel_filterbank(frame_length, mel_bins, sample_rate):
    """(frame_length // 2 + 1, mel_bins) float32 weights (read-only) taking STFT bins to mel bands.

    HTK convention, as `keras.layers.MelSpectrogram` with min_freq 0 and max_freq the
    Nyquist frequency: `mel_bins` triangles, equally spaced and overlapping by half on
    the mel scale from 0 Hz to sample_rate / 2, linear in mel, with peak weight 1.
    """
    bins = frame_length // 2 + 1
    mel = hertz_to_mel(np.linspace(0.0, sample_rate / 2, bins))[:, None]
    edges = mel_band_edges(mel_bins, sample_rate)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (mel - lower) / (centre - lower)
    falling = (upper - mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=16)
def most_mel_bins(frame_length, sample_rate):
    """The most mel bands a `frame_length`-sample window gives with every band covering an STFT bin."""
    bins = frame_length // 2 + 1
    return next(m for m in range(bins, 0, -1) if mel_filterbank(frame_length, m, sample_rate).max(axis=0).all())
