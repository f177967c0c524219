"""The spectrogram front end of METHODS.md §1, as a Keras layer and as a batch function."""

import dataclasses
import functools

import keras
import numpy as np
from keras import ops

from keras_ser.audio.mel import mel_filterbank, most_mel_bins

SAMPLE_RATE = 16000
FRAME_LENGTH = 256  # 16 ms at 16 kHz
HOP_LENGTH = 128  # 50 % overlap
TIME_STEPS = 512
FREQ_BINS = 128
COMPRESSIONS = ("none", "log")
# compression "log" takes log(magnitude + LOG_FLOOR x the window's sum): 120 dB below full scale.
LOG_FLOOR = 1e-6


class STFTSettingsError(ValueError):
    """An STFT setting that cannot be used; `field` names it."""

    def __init__(self, field, message):
        self.field = field
        super().__init__(f"STFT {field}: {message}")


@dataclasses.dataclass(frozen=True)
class STFTSettings:
    """Window and hop (samples at 16 kHz), the output size and the frequency scale; the defaults are METHODS.md §1's.

    Ch. 4 of the thesis used 20 ms windows with a 10 ms hop: `STFTSettings(320, 160, ...)`.
    `mel_bins` > 0 replaces the `frequency_bins` linear bins (then unused) by that many
    mel bands (`keras_ser.audio.mel.mel_filterbank`: HTK triangles over 0-8 kHz, applied
    to the magnitudes of all frame_length // 2 + 1 bins). `compression = "log"` gives
    log(magnitude + floor), where the floor, `log_floor`, is 1e-6 x the window's sum:
    120 dB below the magnitude of a full-scale constant signal (1.4e-4 for the 256-sample
    Hamming window, about the magnitude of 16-bit quantisation noise in one STFT bin), so
    silence and padding stay finite.
    """

    frame_length: int = FRAME_LENGTH
    hop_length: int = HOP_LENGTH
    time_steps: int = TIME_STEPS
    frequency_bins: int = FREQ_BINS
    mel_bins: int = 0
    compression: str = "none"

    def __post_init__(self):
        for name in ("frame_length", "hop_length", "time_steps", "frequency_bins", "mel_bins"):
            value = getattr(self, name)
            optional = name == "mel_bins"
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if optional else 1):
                what = "0 (off) or a positive integer" if optional else "a positive integer"
                raise STFTSettingsError(name, f"must be {what}, got {value!r}")
        if self.hop_length > self.frame_length:
            raise STFTSettingsError(
                "hop_length", f"{self.hop_length} must not exceed frame_length ({self.frame_length})")
        if self.frequency_bins > self.frame_length // 2 + 1:
            raise STFTSettingsError(
                "frequency_bins", f"{self.frequency_bins} exceeds the {self.frame_length // 2 + 1} bins "
                f"of a {self.frame_length}-sample window")
        if self.mel_bins and (self.mel_bins > self.frame_length // 2 + 1 or not mel_filterbank(
                self.frame_length, self.mel_bins, SAMPLE_RATE).max(axis=0).all()):
            raise STFTSettingsError(
                "mel_bins", f"{self.mel_bins} mel bands on a {self.frame_length}-sample window leave bands without "
                f"any STFT bin; use at most {most_mel_bins(self.frame_length, SAMPLE_RATE)} or a longer frame_length")
        if self.compression not in COMPRESSIONS:
            raise STFTSettingsError("compression", f"{self.compression!r} is not one of {', '.join(COMPRESSIONS)}")

    @property
    def bins(self):
        """Frequency bins of the output: `mel_bins` when set, else `frequency_bins`."""
        return self.mel_bins or self.frequency_bins

    @property
    def log_floor(self):
        """What compression "log" adds to the magnitudes before the logarithm."""
        return LOG_FLOOR * float(_hamming(self.frame_length).sum())

    def frames(self, samples):
        """Frames of the centred STFT of `samples` samples (before padding or cropping to time_steps)."""
        return 1 + samples // self.hop_length

    def check_segment(self, segment_seconds, sample_rate=SAMPLE_RATE):
        """Refuse segments whose STFT would be cropped (audio silently lost) at `time_steps`."""
        frames = self.frames(int(round(segment_seconds * sample_rate)))
        if frames > self.time_steps:
            raise STFTSettingsError(
                "time_steps", f"{segment_seconds} s segments give {frames} STFT frames with hop_length "
                f"{self.hop_length}, more than time_steps = {self.time_steps}; raise time_steps to at least "
                f"{frames} or shorten the segments")


def _check_waves(waves, frame_length):
    if len(waves.shape) == 3 and waves.shape[-1] == 1:
        waves = waves[..., 0]
    if len(waves.shape) != 2:
        raise ValueError(
            "spectrogram input must be a batch of mono signals shaped (batch, samples) "
            f"or (batch, samples, 1), got shape {tuple(waves.shape)}"
        )
    if waves.shape[1] is not None and waves.shape[1] <= frame_length // 2:
        raise ValueError(
            f"signals must be longer than {frame_length // 2} samples for the centred STFT, "
            f"got {waves.shape[1]}"
        )
    return waves


def _fit_time_axis(frames, time_steps, pad, shape):
    """Crop or zero-pad the time axis (axis 1) to `time_steps`."""
    frames = frames[:, :time_steps]
    return pad(frames, [[0, 0], [0, time_steps - shape(frames)[1]], [0, 0]])


def _frequency_scale(magnitude, settings, xp):
    """The kept linear bins or the mel bands of (B, T, all bins) magnitudes, compressed; `xp`: numpy or keras.ops."""
    if settings.mel_bins:
        magnitude = xp.matmul(magnitude, mel_filterbank(settings.frame_length, settings.mel_bins, SAMPLE_RATE))
    else:
        magnitude = magnitude[:, :, : settings.frequency_bins]
    if settings.compression == "log":
        magnitude = _log_compressed(magnitude, settings.log_floor, xp)
    return magnitude


def _log_compressed(magnitude, floor, xp):
    """Compression "log": log(magnitude + floor)."""
    return xp.log(magnitude + floor)


@keras.saving.register_keras_serializable(package="keras_ser")
class LogCompression(keras.layers.Layer):
    """Compression "log" of linear magnitudes already computed: log(x + floor), any shape.

    `floor` is the STFT's `STFTSettings.log_floor`, so the output equals what
    `Spectrogram(compression="log")` gives directly.
    """

    def __init__(self, floor, **kwargs):
        super().__init__(**kwargs)
        self.floor = float(floor)
        if not 0 < self.floor < np.inf:
            raise ValueError(f"{self.name}: the log floor must be a positive number, got {floor!r}")
        self.trainable = False

    def call(self, x):
        return _log_compressed(ops.cast(x, "float32"), self.floor, ops)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}


@keras.saving.register_keras_serializable(package="keras_ser")
class Spectrogram(keras.layers.Layer):
    """Magnitude STFT of (B, samples) audio → (B, time_steps, bins, 1).

    Periodic Hamming window, centred with reflection padding, magnitude only;
    time is zero-padded or cropped to `time_steps` frames, then the lowest
    `frequency_bins` bins are kept (or `mel_bins` mel bands made) and compressed
    as `STFTSettings` says. The defaults give METHODS.md §1's (B, 512, 128, 1).
    `spectrogram()` computes the same with numpy.
    """

    def __init__(self, frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH, time_steps=TIME_STEPS,
                 frequency_bins=FREQ_BINS, mel_bins=0, compression="none", **kwargs):
        super().__init__(**kwargs)
        self.settings = STFTSettings(frame_length, hop_length, time_steps, frequency_bins, mel_bins, compression)
        self.trainable = False

    def call(self, waves):
        s = self.settings
        waves = ops.cast(_check_waves(waves, s.frame_length), "float32")
        real, imag = ops.stft(
            waves,
            sequence_length=s.frame_length,
            sequence_stride=s.hop_length,
            fft_length=s.frame_length,
            window="hamming",
            center=True,
        )
        magnitude = _fit_time_axis(ops.sqrt(ops.square(real) + ops.square(imag)), s.time_steps, ops.pad, ops.shape)
        return ops.expand_dims(_frequency_scale(magnitude, s, ops), -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.settings.time_steps, self.settings.bins, 1)

    def get_config(self):
        return {**super().get_config(), **dataclasses.asdict(self.settings)}


@functools.lru_cache(maxsize=8)
def _hamming(length):
    # Periodic Hamming window, as scipy.signal.get_window("hamming", length) gives; computed once per length.
    n = np.arange(length)
    return (0.54 - 0.46 * np.cos(2.0 * np.pi * n / length)).astype(np.float32)


def spectrogram(waves, settings=STFTSettings()):
    """Numpy twin of `Spectrogram`: (B, samples) float audio → (B, time_steps, settings.bins, 1) float32."""
    waves = _check_waves(np.asarray(waves, dtype=np.float32), settings.frame_length)
    half = settings.frame_length // 2
    padded = np.pad(waves, [[0, 0], [half, half]], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, settings.frame_length, axis=1)[:, :: settings.hop_length]
    spectrum = np.fft.rfft(frames * _hamming(settings.frame_length), n=settings.frame_length, axis=-1)
    magnitude = _fit_time_axis(np.abs(spectrum).astype(np.float32), settings.time_steps, np.pad, np.shape)
    return _frequency_scale(magnitude, settings, np)[..., None]
