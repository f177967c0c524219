"""A PNG of a recording's `Timeline`: its waveform envelope, the speech regions, per-class probabilities over time."""

import os

import numpy as np
from matplotlib.ticker import FuncFormatter

from keras_ser.training.plots import _figure, _save

# The envelope is drawn with at most this many points, however long the recording.
ENVELOPE_POINTS = 2000


def _minutes(seconds, _):
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _envelope(timeline):
    """(times, peak RMS) of the envelope, reduced to at most ENVELOPE_POINTS by the maximum of each group."""
    group = max(1, -(-len(timeline.envelope) // ENVELOPE_POINTS))
    padded = np.pad(timeline.envelope, (0, -len(timeline.envelope) % group))
    peaks = padded.reshape(-1, group).max(axis=1)
    return np.arange(len(peaks) + 1) * group * timeline.frame_seconds, np.append(peaks, peaks[-1])


def _speech(timeline):
    """(segment, end, last of its region) of each speech segment; a window's stretch ends where the next one
    of its region starts (windows overlap when the hop is shorter than the window)."""
    for segment, following in zip(timeline, [*timeline[1:], None]):
        if segment["speech"]:
            last = not (following and following["speech"])
            yield segment, segment["end"] if last else min(segment["end"], following["start"]), last


def _steps(timeline, name):
    """x, y of the probability of class `name` as steps over the speech segments, broken at each pause."""
    xs, ys = [], []
    for segment, end, last in _speech(timeline):
        probability = segment["scores"][name]
        xs += [segment["start"], end] + [end] * last
        ys += [probability, probability] + [np.nan] * last
    return xs, ys


def plot_timeline(timeline, path, title=None):
    """Write a plot of `timeline` to `path` (PNG); returns the path.

    Top: the waveform's RMS envelope, speech shaded in the colour of its top class. Bottom: each class's
    probability, window by window; pauses (not scored) are grey.
    """
    colours = {name: f"C{i % 10}" for i, name in enumerate(timeline.class_names)}
    figure = _figure((10.0, 5.0))
    wave, probabilities = figure.subplots(2, 1, sharex=True, height_ratios=(1, 2))
    times, peaks = _envelope(timeline)
    wave.fill_between(times, -peaks, peaks, step="post", color="0.3", linewidth=0)
    for segment, end, _ in _speech(timeline):
        wave.axvspan(segment["start"], end, color=colours[segment["label"]], alpha=0.3, linewidth=0)
    for segment in timeline:
        if not segment["speech"]:
            probabilities.axvspan(segment["start"], segment["end"], color="0.85", linewidth=0)
    wave.set_yticks([])
    wave.set_ylabel("waveform\n(RMS)")
    wave.set_title(title or f"{os.path.basename(timeline.source or 'audio')}: speech coloured by its top class")
    for name in timeline.class_names:
        probabilities.plot(*_steps(timeline, name), color=colours[name], linewidth=1.4, label=name)
    probabilities.fill_between([], [], color="0.85", label="no speech")
    probabilities.set_ylim(0, 1)
    probabilities.set_xlim(0, timeline.duration)
    probabilities.set_ylabel("probability")
    probabilities.set_xlabel("time (m:ss)" if timeline.duration >= 120 else "time (s)")
    if timeline.duration >= 120:
        probabilities.xaxis.set_major_formatter(FuncFormatter(_minutes))
    probabilities.grid(alpha=0.3)
    probabilities.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return _save(figure, path)
