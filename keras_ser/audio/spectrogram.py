"""The spectrogram front end of METHODS.md §1, as a Keras layer and as a batch function."""

import keras
import numpy as np
from keras import ops

SAMPLE_RATE = 16000
FRAME_LENGTH = 256  # 16 ms at 16 kHz
HOP_LENGTH = 128  # 50 % overlap
TIME_STEPS = 512
FREQ_BINS = 128


def _check_waves(waves):
    if len(waves.shape) == 3 and waves.shape[-1] == 1:
        waves = waves[..., 0]
    if len(waves.shape) != 2:
        raise ValueError(
            "spectrogram input must be a batch of mono signals shaped (batch, samples) "
            f"or (batch, samples, 1), got shape {tuple(waves.shape)}"
        )
    if waves.shape[1] is not None and waves.shape[1] <= FRAME_LENGTH // 2:
        raise ValueError(
            f"signals must be longer than {FRAME_LENGTH // 2} samples for the centred STFT, "
            f"got {waves.shape[1]}"
        )
    return waves


def _fit_time_axis(frames, pad, shape):
    """Crop or zero-pad the time axis (axis 1) to TIME_STEPS."""
    frames = frames[:, :TIME_STEPS]
    return pad(frames, [[0, 0], [0, TIME_STEPS - shape(frames)[1]], [0, 0]])


@keras.saving.register_keras_serializable(package="keras_ser")
class Spectrogram(keras.layers.Layer):
    """Magnitude STFT of (B, samples) audio → (B, 512, 128, 1).

    16 ms Hamming window (256 samples), hop 128, centred with reflection
    padding, magnitude only; the Nyquist bin is dropped and time is zero-padded
    or cropped to 512 frames. `spectrogram()` computes the same with numpy.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trainable = False

    def call(self, waves):
        waves = ops.cast(_check_waves(waves), "float32")
        real, imag = ops.stft(
            waves,
            sequence_length=FRAME_LENGTH,
            sequence_stride=HOP_LENGTH,
            fft_length=FRAME_LENGTH,
            window="hamming",
            center=True,
        )
        magnitude = ops.sqrt(ops.square(real) + ops.square(imag))[:, :, :FREQ_BINS]
        magnitude = _fit_time_axis(magnitude, ops.pad, ops.shape)
        return ops.expand_dims(magnitude, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], TIME_STEPS, FREQ_BINS, 1)


def _hamming(length):
    # Periodic Hamming window, as scipy.signal.get_window("hamming", length) gives.
    n = np.arange(length)
    return (0.54 - 0.46 * np.cos(2.0 * np.pi * n / length)).astype(np.float32)


_WINDOW = _hamming(FRAME_LENGTH)


def spectrogram(waves):
    """Numpy twin of `Spectrogram`: (B, samples) float audio → (B, 512, 128, 1) float32."""
    waves = _check_waves(np.asarray(waves, dtype=np.float32))
    half = FRAME_LENGTH // 2
    padded = np.pad(waves, [[0, 0], [half, half]], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, FRAME_LENGTH, axis=1)[:, ::HOP_LENGTH]
    spectrum = np.fft.rfft(frames * _WINDOW, n=FRAME_LENGTH, axis=-1)[:, :, :FREQ_BINS]
    magnitude = np.abs(spectrum).astype(np.float32)
    magnitude = _fit_time_axis(magnitude, np.pad, np.shape)
    return magnitude[..., None]
