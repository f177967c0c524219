"""Energy-based speech detection with hysteresis: frame levels, the noise floor under them, speech regions."""

import math

import numpy as np

from keras_ser.audio.io import check_mono

FRAME_SECONDS = 0.02
# The level given to digital silence (frames of zeros), dBFS.
SILENCE_DB = -100.0
# Speech starts where the level rises ON_DB above the noise floor, and lasts while it stays OFF_DB above it.
ON_DB = 15.0
OFF_DB = 9.0
# The noise floor at a frame: the FLOOR_PERCENTILE level of the frames within FLOOR_SECONDS around it (pauses,
# and the quiet moments of speech), never below QUIETEST_FLOOR_DB (or faint noise after digital silence would
# look like speech).
FLOOR_SECONDS = 30
FLOOR_PERCENTILE = 10
QUIETEST_FLOOR_DB = -70.0
# A clip whose loudest frame stays below this level (dBFS) holds nothing to classify. Of the 12,256 files of the shared
# corpora, the quietest peaks at -54.5 dBFS (a RAVDESS clip, 20-ms frames; the quietest of EmoDB -14.4, TESS -35.9,
# nEMO -36.3, FSDD -47.9); digital silence is at SILENCE_DB.
SILENT_DB = -70.0
# Defaults: shorter speech is dropped, shorter pauses are bridged (seconds).
MIN_SPEECH = 0.3
MIN_PAUSE = 0.5


def _decibels(power):
    """Mean signal power as dBFS, digital silence at SILENCE_DB."""
    return 10.0 * np.log10(np.maximum(power, 10.0 ** (SILENCE_DB / 10.0)))


def _levels(frames):
    return _decibels(np.mean(np.square(frames, dtype=np.float64), axis=1)).astype(np.float32)


def peak_level(signal, sampling_rate, frame_seconds=FRAME_SECONDS):
    """The RMS level (dBFS) of the loudest `frame_seconds` frame of a mono signal (a last partial frame left out; a
    signal shorter than a frame is one frame)."""
    signal = check_mono(signal, "peak_level")
    frame = min(signal.size, max(1, round(frame_seconds * sampling_rate)))
    frames = signal[: signal.size - signal.size % frame].reshape(-1, frame)
    power = float(np.einsum("ij,ij->i", frames, frames).max()) / frame  # summed in float32: a tenth of _levels's time
    return float(_decibels(power))


class LevelMeter:
    """Per-frame RMS levels (dBFS) of a signal fed block by block; `samples` counts the samples fed."""

    def __init__(self, frame_samples):
        self.frame_samples = frame_samples
        self.samples = 0
        self._levels = [np.zeros(0, dtype=np.float32)]
        self._rest = np.zeros(0, dtype=np.float32)

    def add(self, block):
        self.samples += len(block)
        block = np.concatenate([self._rest, block])
        whole = len(block) - len(block) % self.frame_samples
        self._levels.append(_levels(block[:whole].reshape(-1, self.frame_samples)))
        self._rest = block[whole:]

    def levels(self):
        """The levels of every frame fed so far, a last partial frame included."""
        tail = [_levels(self._rest[None])] if len(self._rest) else []
        return np.concatenate(self._levels + tail)


def noise_floor(levels, frame_seconds=FRAME_SECONDS):
    """The noise floor (dBFS) under each frame of `levels`, estimated once a second; see FLOOR_SECONDS."""
    step = max(1, round(1 / frame_seconds))
    reach = round(FLOOR_SECONDS / 2 / frame_seconds)
    floor = [np.percentile(levels[max(0, first - reach) : first + step + reach], FLOOR_PERCENTILE)
             for first in range(0, len(levels), step)]
    return np.repeat(np.maximum(floor, QUIETEST_FLOOR_DB), step)[: len(levels)]


def _runs(mask):
    """(K, 2) [start, stop) indices of the runs of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1)


def check_seconds(value, name):
    """`value` as a float number of seconds >= 0, else a ValueError naming the argument `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def speech_regions(levels, frame_seconds=FRAME_SECONDS, min_speech=MIN_SPEECH, min_pause=MIN_PAUSE):
    """Speech in frame levels (dBFS) as (K, 2) [start, stop) frame indices, in order.

    A region starts where the level rises ON_DB above the noise floor and lasts while it stays OFF_DB above it
    (hysteresis). Pauses shorter than `min_pause` seconds are bridged; then regions shorter than `min_speech`
    seconds (clicks, coughs) are dropped.
    """
    min_speech, min_pause = check_seconds(min_speech, "min_speech"), check_seconds(min_pause, "min_pause")
    levels = np.asarray(levels, dtype=np.float32)
    if len(levels) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    floor = noise_floor(levels, frame_seconds)
    runs = _runs(levels > floor + OFF_DB)
    loud = np.concatenate([[0], np.cumsum(levels > floor + ON_DB)])
    runs = runs[loud[runs[:, 1]] > loud[runs[:, 0]]]
    if len(runs) > 1:
        apart = runs[1:, 0] - runs[:-1, 1] >= round(min_pause / frame_seconds)
        runs = np.stack([runs[np.concatenate([[True], apart]), 0], runs[np.concatenate([apart, [True]]), 1]], axis=1)
    return runs[runs[:, 1] - runs[:, 0] >= round(min_speech / frame_seconds)]
