"""The audio front end of a preset: sample rate, windows, STFT settings and normaliser statistics."""

import dataclasses

from keras_ser.audio import NORMALIZERS, load, load_array, segment
from keras_ser.audio.spectrogram import SAMPLE_RATE, STFTSettings, STFTSettingsError
from keras_ser.presets.files import PresetError

# What keras_ser.audio.Spectrogram always does; recorded in preprocessor.json beside the STFTSettings.
FIXED_STFT = {"window": "hamming (periodic)", "magnitude": True, "centered": True}


@dataclasses.dataclass
class AudioPreprocessor:
    """How audio becomes the model's input windows, and the normaliser applied to their spectrograms.

    `normalizer` is None or {"kind": "zscore", "mean": m, "std": s} / {"kind": "max", "maximum": m} /
    {"kind": "utterance"}. `stft` includes the mel bands and compression; a preprocessor.json
    written before they existed loads with their defaults (linear magnitudes).
    """

    sample_rate: int = SAMPLE_RATE
    segment_seconds: float = 4.0
    hop_seconds: float | None = None
    min_tail: float = 0.5
    normalizer: dict | None = None
    stft: STFTSettings = STFTSettings()

    def __post_init__(self):
        if self.sample_rate != SAMPLE_RATE:
            raise PresetError(f"preprocessor sample_rate must be {SAMPLE_RATE} (the STFT settings count samples at that rate), got {self.sample_rate}")
        if not self.segment_seconds > 0:
            raise PresetError(f"preprocessor segment_seconds must be positive, got {self.segment_seconds}")
        try:
            self.stft.check_segment(self.segment_seconds)
        except STFTSettingsError as error:
            raise PresetError(f"preprocessor {error}") from None
        if self.normalizer is not None:
            kind = self.normalizer.get("kind")
            if kind not in NORMALIZERS:
                raise PresetError(f"preprocessor normalizer kind must be one of {sorted(NORMALIZERS)}, got {kind!r}")

    @property
    def window_samples(self):
        return int(round(self.segment_seconds * self.sample_rate))

    def normalizer_layer(self):
        """A Keras normaliser layer holding the statistics, or None."""
        if self.normalizer is None:
            return None
        statistics = {key: value for key, value in self.normalizer.items() if key != "kind"}
        return NORMALIZERS[self.normalizer["kind"]](name="normalizer", **statistics)

    def windows(self, signal, hop_seconds=None):
        """(N, window_samples) windows of a mono signal at `sample_rate`; short clips are zero-padded."""
        hop = hop_seconds if hop_seconds is not None else self.hop_seconds
        return segment(signal, self.segment_seconds, hop, self.sample_rate, self.min_tail)

    def load(self, path):
        """A mono float32 signal at `sample_rate` from a path, bytes or file-like object (`keras_ser.audio.load`)."""
        return load(path, sr=self.sample_rate)

    def resample(self, audio, sampling_rate, channels_first=None):
        """A mono float32 signal at `sample_rate` from an array at `sampling_rate` Hz (`keras_ser.audio.load_array`)."""
        return load_array(audio, sampling_rate, self.sample_rate, channels_first)

    def resample_clips(self, clips, sampling_rate, channels_first=None):
        """`resample` of each clip of a list (or 2-D array); an error names the clip's index."""
        signals = []
        for i, clip in enumerate(clips):
            try:
                signals.append(self.resample(clip, sampling_rate, channels_first))
            except ValueError as error:
                raise ValueError(f"clips[{i}]: {error}") from None
        if not signals:
            raise ValueError("clips is empty: give at least one clip")
        return signals

    def get_config(self):
        config = dataclasses.asdict(self)
        config["stft"].update(FIXED_STFT)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        stft = dict(config.pop("stft", {}))
        fixed = {key: stft.pop(key, value) for key, value in FIXED_STFT.items()}
        if fixed != FIXED_STFT:
            raise PresetError(
                f"preprocessor STFT {fixed} differs from keras_ser's front end {FIXED_STFT}; "
                "this preset needs another version of keras_ser"
            )
        try:
            config["stft"] = STFTSettings(**stft)
        except TypeError:
            raise PresetError(f"unknown preprocessor STFT keys in {sorted(stft)}; this preset needs a newer keras_ser") from None
        except STFTSettingsError as error:
            raise PresetError(f"preprocessor {error}") from None
        unknown = set(config) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise PresetError(f"unknown preprocessor keys {sorted(unknown)}; this preset needs a newer keras_ser")
        return cls(**config)
