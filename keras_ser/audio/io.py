"""Reading audio files into float32 mono arrays at a chosen sample rate."""

import os

import numpy as np
import soundfile
import soxr


class AudioError(ValueError):
    """An audio file that cannot be used, with the file and the reason."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot load audio file '{path}': {reason}")


def load(path, sr=16000):
    """Load `path` as a 1-D float32 mono signal at `sr` Hz.

    Reads whatever libsndfile reads (WAV in any sample format, FLAC, OGG, MP3,
    AIFF, whatever the file name says); channels are averaged and the signal is
    resampled with soxr. Raises `AudioError` naming the file on bad input.
    """
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sr must be a positive integer sample rate, got {sr!r}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError(path, "no such file")
    if os.path.isdir(path):
        raise AudioError(path, "it is a directory, not an audio file")
    if os.path.getsize(path) == 0:
        raise AudioError(path, "the file is empty (0 bytes)")
    try:
        data, file_sr = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(
            path,
            f"not a readable audio file or a damaged one (libsndfile: {error})",
        ) from None
    if data.shape[0] == 0:
        raise AudioError(path, "the file holds zero audio frames")
    if not np.isfinite(data).all():
        raise AudioError(path, "the samples contain NaN or Inf values")
    signal = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if file_sr != sr:
        signal = soxr.resample(signal, file_sr, sr, quality="HQ")
    return np.ascontiguousarray(signal, dtype=np.float32)
