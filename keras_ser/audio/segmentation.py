"""Cutting signals into fixed-length windows."""

import numpy as np


def segment(x, seconds=4.0, hop=None, sr=16000, min_tail=0.5):
    """Cut a 1-D signal into windows of `seconds`, returning (N, seconds·sr).

    `hop` (seconds) defaults to `seconds`, giving non-overlapping windows. A clip
    no longer than one window gives one zero-padded window. In a longer clip, the
    signal after the last full window becomes one more, zero-padded window when
    it lasts at least `min_tail` × min(hop, seconds), and is dropped otherwise,
    so mostly-silent tails do not become examples.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"segment expects a 1-D signal, got shape {x.shape}")
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    hop = seconds if hop is None else hop
    if hop <= 0:
        raise ValueError(f"hop must be positive, got {hop}")
    if not 0.0 <= min_tail <= 1.0:
        raise ValueError(f"min_tail must be in [0, 1], got {min_tail}")
    width = int(round(seconds * sr))
    step = int(round(hop * sr))
    for name, value, samples in (("seconds (segment_seconds)", seconds, width), ("hop (hop_seconds)", hop, step)):
        if samples < 1:
            raise ValueError(
                f"{name} must be at least one sample, {1 / sr:g} s at {sr} Hz; {value:g} s rounds to 0 samples")
    starts = window_starts(x.shape[0], width, step, min_tail)
    padded = np.pad(x, (0, max(0, starts[-1] + width - x.shape[0])))
    return np.stack([padded[s : s + width] for s in starts])


def window_starts(length, width, step, min_tail=0.5):
    """Start samples of the windows `segment` cuts from `length` samples: `width` long, `step` apart.

    The tail rule is `segment`'s; a signal no longer than one window gives the single start 0.
    """
    if length <= width:
        return np.zeros(1, dtype=np.int64)
    count = (length - width) // step + 1
    covered = (count - 1) * step + width
    if length - covered >= min_tail * min(step, width):
        count += 1
    return np.arange(count, dtype=np.int64) * step

