"""Reading audio files and arrays into float32 mono signals at a chosen sample rate."""

import io
import os

import numpy as np
import soundfile
import soxr

# A 2-D array's channel axis is inferred only when one axis has at most MAX_INFERRED_CHANNELS entries
# and the other at least MIN_INFERRED_SAMPLES.
MAX_INFERRED_CHANNELS = 8
MIN_INFERRED_SAMPLES = 128
# Integer PCM sample types: (full scale, value of silence).
PCM_SCALES = {"int8": (2**7, 0), "uint8": (2**7, 128), "int16": (2**15, 0), "int32": (2**31, 0)}
BYTES = (bytes, bytearray, memoryview)
# AudioStream decodes this many seconds of the file at a time.
BLOCK_SECONDS = 10.0


class AudioError(ValueError):
    """An audio file that cannot be used, with the file and the reason."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot load audio file '{path}': {reason}")


def check_rate(value, name):
    """`value` as a positive integer number of Hz, else a ValueError naming the argument `name`."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not (number and value > 0 and float(value).is_integer()):
        raise ValueError(f"{name} must be a positive integer sample rate in Hz, got {value!r}")
    return int(value)


def check_mono(signal, what):
    """`signal` as a float32 array, else a ValueError saying that `what` needs a non-empty mono signal."""
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 1 or signal.size == 0:
        raise ValueError(f"{what} needs a non-empty mono signal, got shape {signal.shape}")
    return signal


def is_file_source(source):
    """Whether `source` is a file (a path, the file's bytes or a file-like object) rather than an array of samples."""
    return isinstance(source, (str, os.PathLike, *BYTES)) or callable(getattr(source, "read", None))


def source_name(source):
    """How results and errors name an audio source: its path, an open file's name, "<bytes>" or "<file-like object>"."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, BYTES):
        return "<bytes>"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<file-like object>"


def _stream(source, name):
    """What soundfile reads for `source`, after the checks that give a clear reason."""
    if isinstance(source, (str, os.PathLike)):
        if not os.path.exists(name):
            raise AudioError(name, "no such file")
        if os.path.isdir(name):
            raise AudioError(name, "it is a directory, not an audio file")
        if os.path.getsize(name) == 0:
            raise AudioError(name, "the file is empty (0 bytes)")
        return name
    if isinstance(source, BYTES):
        if len(source) == 0:
            raise AudioError(name, "no bytes (empty)")
        return io.BytesIO(source)
    if not callable(getattr(source, "read", None)):
        raise ValueError(
            f"path must be a file path, the file's bytes or a binary file-like object, got {type(source).__name__}")
    if getattr(source, "closed", False):
        raise AudioError(name, "the file-like object is closed")
    mode = getattr(source, "mode", "b")
    if isinstance(source, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
        raise AudioError(name, "the file is open in text mode; open it in binary mode ('rb')")
    if callable(getattr(source, "seekable", None)) and not source.seekable():
        return io.BytesIO(source.read())  # a pipe or a socket: libsndfile needs to seek
    return source


def _mixdown(frames):
    """(frames, channels) samples as a 1-D signal, the channels averaged."""
    return frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]


def _unreadable(name, error):
    return AudioError(name, f"not a readable audio file or a damaged one (libsndfile: {error})")


def _mono(frames, rate, sr):
    """(frames, channels) samples at `rate` Hz as a contiguous 1-D float32 signal at `sr` Hz."""
    signal = _mixdown(frames)
    if rate != sr:
        signal = soxr.resample(signal, rate, sr, quality="HQ")
    return np.ascontiguousarray(signal, dtype=np.float32)


def load(path, sr=16000):
    """Load an audio file as a 1-D float32 mono signal at `sr` Hz.

    `path` is a path (str or os.PathLike), the file's bytes, or a binary file-like
    object (io.BytesIO, open(..., "rb"), a pipe). Reads whatever libsndfile reads (WAV
    in any sample format, FLAC, OGG, MP3, AIFF, whatever the file name says); channels
    are averaged and the signal is resampled with soxr. Raises `AudioError` naming the
    file ("<bytes>" or "<file-like object>" for unnamed sources) on bad input.
    """
    sr = check_rate(sr, "sr")
    name = source_name(path)
    stream = _stream(path, name)
    try:
        data, file_sr = soundfile.read(stream, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise _unreadable(name, error) from None
    if data.shape[0] == 0:
        raise AudioError(name, "the file holds zero audio frames")
    if not np.isfinite(data).all():
        raise AudioError(name, "the samples contain NaN or Inf values")
    return _mono(data, file_sr, sr)


class AudioStream:
    """An audio file read as `load` reads it, but block by block, so that a long file needs little memory.

    Iterating yields consecutive 1-D float32 mono blocks at `sr` Hz, from the start of the file each
    time; use it as a context manager, or `close()` it. Takes what `load` takes (a pipe is read into memory
    first: libsndfile needs to seek) and raises the same `AudioError`s, when opened or while iterating.
    """

    def __init__(self, path, sr=16000):
        self.sr = check_rate(sr, "sr")
        self.name = source_name(path)
        stream = _stream(path, self.name)
        try:
            self._file = soundfile.SoundFile(stream)
        except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
            raise _unreadable(self.name, error) from None
        if self._file.frames == 0:
            self._file.close()
            raise AudioError(self.name, "the file holds zero audio frames")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self._file.close()

    def __iter__(self):
        rate = self._file.samplerate
        resampler = soxr.ResampleStream(rate, self.sr, 1, dtype="float32", quality="HQ") if rate != self.sr else None
        try:
            self._file.seek(0)
            for frames in self._file.blocks(int(BLOCK_SECONDS * rate), dtype="float32", always_2d=True):
                if not np.isfinite(frames).all():
                    raise AudioError(self.name, "the samples contain NaN or Inf values")
                signal = np.ascontiguousarray(_mixdown(frames))
                yield signal if resampler is None else resampler.resample_chunk(signal)
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise _unreadable(self.name, error) from None
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def _frames(array, channels_first):
    """A 2-D array as (samples, channels); see `load_array` for the orientation rule."""
    if channels_first is None:
        short, long = sorted(array.shape)
        if short > MAX_INFERRED_CHANNELS or long < MIN_INFERRED_SAMPLES:
            raise ValueError(
                f"audio of shape {array.shape} could be (channels, samples) or (samples, channels); pass "
                "channels_first=True for (channels, samples) or channels_first=False for (samples, channels)")
        channels_first = array.shape[0] < array.shape[1]
    return array.T if channels_first else array


def load_array(audio, sampling_rate, sr=16000, channels_first=None):
    """A 1-D float32 mono signal at `sr` Hz from an array of samples at `sampling_rate` Hz.

    `audio` is (samples,) or 2-D with a channel axis, whose channels are averaged:
    channels_first=True reads it as (channels, samples), False as (samples, channels);
    None (default) infers the orientation only when one axis has at most 8 entries (the
    channels) and the other at least 128, and raises a ValueError otherwise.
    Floating-point samples are taken as they are (full scale ±1). Integer PCM (as from
    scipy.io.wavfile.read) is scaled by its type's range: int8, int16 and int32 are
    divided by 2**7, 2**15 and 2**31; uint8 is centred on 128 and divided by 128.
    """
    if is_file_source(audio):
        raise ValueError(f"audio must be an array of samples, got {type(audio).__name__}; read files, bytes and "
                         "file-like objects with keras_ser.audio.load or SERClassifier.predict_file")
    sampling_rate = check_rate(sampling_rate, "sampling_rate")
    if not (channels_first is None or isinstance(channels_first, bool)):
        raise ValueError(f"channels_first must be True, False or None, got {channels_first!r}")
    try:
        array = np.asarray(audio)
    except (ValueError, TypeError) as error:
        raise ValueError(f"audio must be an array of samples ({error})") from None
    if array.dtype.name in PCM_SCALES:
        scale, zero = PCM_SCALES[array.dtype.name]
        array = (array.astype(np.float32) - zero) / scale
    elif array.dtype.kind != "f":
        raise ValueError(f"audio must hold floating-point or integer PCM samples ({', '.join(PCM_SCALES)}), "
                         f"got dtype {array.dtype}")
    if array.ndim not in (1, 2) or array.size == 0:
        raise ValueError(
            f"audio must be a non-empty (samples,) or 2-D (channels and samples) array, got shape {array.shape}")
    frames = array[:, None] if array.ndim == 1 else _frames(array, channels_first)
    if not np.all(np.isfinite(frames)):
        raise ValueError("audio contains NaN or infinite samples")
    return _mono(frames.astype(np.float32, copy=False), sampling_rate, sr)
