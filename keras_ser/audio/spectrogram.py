"""The spectrogram front end of METHODS.md §1, as a Keras layer and as a batch function."""

import dataclasses
import functools

import keras
import numpy as np
from keras import ops

SAMPLE_RATE = 16000
FRAME_LENGTH = 256  # 16 ms at 16 kHz
HOP_LENGTH = 128  # 50 % overlap
TIME_STEPS = 512
FREQ_BINS = 128


class STFTSettingsError(ValueError):
    """An STFT setting that cannot be used; `field` names it."""

    def __init__(self, field, message):
        self.field = field
        super().__init__(f"STFT {field}: {message}")


@dataclasses.dataclass(frozen=True)
class STFTSettings:
    """Window and hop (samples at 16 kHz) and the output size; the defaults are METHODS.md §1's.

    Ch. 4 of the thesis used 20 ms windows with a 10 ms hop: `STFTSettings(320, 160, ...)`.
    """

    frame_length: int = FRAME_LENGTH
    hop_length: int = HOP_LENGTH
    time_steps: int = TIME_STEPS
    frequency_bins: int = FREQ_BINS

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise STFTSettingsError(field.name, f"must be a positive integer, got {value!r}")
        if self.hop_length > self.frame_length:
            raise STFTSettingsError(
                "hop_length", f"{self.hop_length} must not exceed frame_length ({self.frame_length})")
        if self.frequency_bins > self.frame_length // 2 + 1:
            raise STFTSettingsError(
                "frequency_bins", f"{self.frequency_bins} exceeds the {self.frame_length // 2 + 1} bins "
                f"of a {self.frame_length}-sample window")

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


@keras.saving.register_keras_serializable(package="keras_ser")
class Spectrogram(keras.layers.Layer):
    """Magnitude STFT of (B, samples) audio → (B, time_steps, frequency_bins, 1).

    Periodic Hamming window, centred with reflection padding, magnitude only;
    the lowest `frequency_bins` bins are kept and time is zero-padded or cropped
    to `time_steps` frames. The defaults (STFTSettings) give METHODS.md §1's
    (B, 512, 128, 1). `spectrogram()` computes the same with numpy.
    """

    def __init__(self, frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH, time_steps=TIME_STEPS,
                 frequency_bins=FREQ_BINS, **kwargs):
        super().__init__(**kwargs)
        self.settings = STFTSettings(frame_length, hop_length, time_steps, frequency_bins)
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
        magnitude = ops.sqrt(ops.square(real) + ops.square(imag))[:, :, : s.frequency_bins]
        magnitude = _fit_time_axis(magnitude, s.time_steps, ops.pad, ops.shape)
        return ops.expand_dims(magnitude, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.settings.time_steps, self.settings.frequency_bins, 1)

    def get_config(self):
        return {**super().get_config(), **dataclasses.asdict(self.settings)}


@functools.lru_cache(maxsize=8)
def _hamming(length):
    # Periodic Hamming window, as scipy.signal.get_window("hamming", length) gives; computed once per length.
    n = np.arange(length)
    return (0.54 - 0.46 * np.cos(2.0 * np.pi * n / length)).astype(np.float32)


def spectrogram(waves, settings=STFTSettings()):
    """Numpy twin of `Spectrogram`: (B, samples) float audio → (B, time_steps, frequency_bins, 1) float32."""
    waves = _check_waves(np.asarray(waves, dtype=np.float32), settings.frame_length)
    half = settings.frame_length // 2
    padded = np.pad(waves, [[0, 0], [half, half]], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, settings.frame_length, axis=1)[:, :: settings.hop_length]
    spectrum = np.fft.rfft(frames * _hamming(settings.frame_length), n=settings.frame_length, axis=-1)
    magnitude = np.abs(spectrum[:, :, : settings.frequency_bins]).astype(np.float32)
    magnitude = _fit_time_axis(magnitude, settings.time_steps, np.pad, np.shape)
    return magnitude[..., None]
