"""Audio input: decoding, segmentation, the spectrogram front end and normalisers."""

from keras_ser.audio.io import AudioError, load, load_array
from keras_ser.audio.normalization import (
    NORMALIZERS,
    MaxNormalizer,
    UtteranceGlobalNormalizer,
    UtteranceNormalizer,
    ZScoreNormalizer,
)
from keras_ser.audio.segmentation import segment
from keras_ser.audio.spectrogram import (
    FREQ_BINS,
    SAMPLE_RATE,
    TIME_STEPS,
    LogCompression,
    Spectrogram,
    STFTSettings,
    STFTSettingsError,
    spectrogram,
)

__all__ = [
    "AudioError",
    "FREQ_BINS",
    "LogCompression",
    "MaxNormalizer",
    "NORMALIZERS",
    "SAMPLE_RATE",
    "Spectrogram",
    "STFTSettings",
    "STFTSettingsError",
    "TIME_STEPS",
    "UtteranceGlobalNormalizer",
    "UtteranceNormalizer",
    "ZScoreNormalizer",
    "load",
    "load_array",
    "segment",
    "spectrogram",
]
