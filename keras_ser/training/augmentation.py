"""Augmentation of training batches on the fly (numpy only): gain, noise, frequency warping, SpecAugment masks,
mixup and label smoothing.

The options are the run configuration's `training.augment` table; an absent key is off. Gain,
noise and frequency warping act on the cached spectrograms before normalisation, as they would on the audio;
masks, mixup and label smoothing act on the normalised network inputs and their labels. Speed perturbation is
not done here: each factor has its own feature cache (`FrontEnd.speed`), from which the training loader
draws one per utterance per epoch. Validation, test and evaluation data are never augmented.
"""

import dataclasses

import numpy as np

from keras_ser.audio.mel import mel_band_edges, mel_to_hertz
from keras_ser.audio.spectrogram import SAMPLE_RATE

SPEED_RANGE = (0.5, 2.0)  # accepted speed factors


class AugmentationError(ValueError):
    """An augmentation option that cannot be used; `key` names it."""

    def __init__(self, key, message):
        self.key = key
        self.message = message
        super().__init__(f"augment.{key}: {message}")


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """What `training.augment` turns on; the defaults are all off.

    gain_db: each example scaled by a gain drawn uniformly in ±gain_db dB.
    noise_snr_db: [low, high]: white noise at an SNR drawn uniformly in that range (dB), per example.
    time_masks / frequency_masks: that many SpecAugment masks per example, each of a width drawn
    uniformly in 0..time_mask_width frames / 0..frequency_mask_width bins.
    speed: factors (e.g. [0.9, 1.0, 1.1]), one drawn per utterance per epoch (needs random crops).
    mixup_alpha: each example mixed with another of its batch by λ ~ Beta(α, α); labels become soft.
    frequency_warp: w < 0.5: each example's frequency axis scaled by a factor drawn uniformly in [1 - w, 1 + w]
    (vocal tract length perturbation: formants and harmonics move together, the timing stays).
    label_smoothing: ε < 1: each training label becomes (1 - ε) times its one-hot row plus ε / classes (after mixup).
    """

    gain_db: float = 0.0
    noise_snr_db: tuple = ()
    time_masks: int = 0
    time_mask_width: int = 0
    frequency_masks: int = 0
    frequency_mask_width: int = 0
    speed: tuple = (1.0,)
    mixup_alpha: float = 0.0
    frequency_warp: float = 0.0  # the last two after the older ones, so positional construction keeps its meaning
    label_smoothing: float = 0.0

    @classmethod
    def from_table(cls, table):
        """The options of a `training.augment` table; AugmentationError names the first bad key."""
        known = [field.name for field in dataclasses.fields(cls)]
        for key in table:
            if key not in known:
                raise AugmentationError(key, f"unknown key; known: {', '.join(known)}")
        for key in ("gain_db", "mixup_alpha"):
            if key in table and not (_is_number(table[key]) and table[key] > 0):
                raise AugmentationError(key, f"must be a positive number (leave it out for none), got {table[key]!r}")
        for key, high, meaning in (("label_smoothing", 1, "the share spread over the classes"),
                                   ("frequency_warp", 0.5, "factors 1 ± it")):
            if key in table and not (_is_number(table[key]) and 0 < table[key] < high):
                raise AugmentationError(key, f"must be a number between 0 and {high} ({meaning}), e.g. 0.1, "
                                             f"got {table[key]!r}")
        for kind in ("time", "frequency"):
            count, width = f"{kind}_masks", f"{kind}_mask_width"
            for key in (count, width):
                value = table.get(key)
                if key in table and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                    raise AugmentationError(key, f"must be a positive integer, got {value!r}")
            if (count in table) != (width in table):
                raise AugmentationError(width if count in table else count,
                                        f"give both {count} and {width} (masks per example, widest mask)")
        snr = table.get("noise_snr_db", [0, 0])
        if not (isinstance(snr, list) and len(snr) == 2 and all(map(_is_number, snr)) and snr[0] <= snr[1]):
            raise AugmentationError("noise_snr_db", f"give [lowest, highest] SNR in dB, e.g. [10, 30], got {snr!r}")
        speed = table.get("speed", [1.0])
        low, high = SPEED_RANGE
        if not (isinstance(speed, list) and speed and all(_is_number(f) and low <= f <= high for f in speed)
                and len(set(speed)) == len(speed)):
            raise AugmentationError("speed", f"give distinct factors between {low} and {high}, e.g. [0.9, 1.0, 1.1], "
                                             f"got {speed!r}")
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in table.items()}
        return cls(**values)

    @property
    def active(self):
        """Whether any option is on."""
        return self != Augmentation()

    def spectrograms(self, x, rng, stft):
        """Gain, noise, then frequency warping, on un-normalised (examples, time, bins, 1) features of the front end
        `stft`."""
        if self.gain_db:
            x = apply_gain(x, rng.uniform(-self.gain_db, self.gain_db, len(x)), stft)
        if self.noise_snr_db:
            x = add_noise(x, rng.uniform(*self.noise_snr_db, len(x)), rng, stft)
        if self.frequency_warp:
            x = warp_frequencies(x, rng.uniform(1 - self.frequency_warp, 1 + self.frequency_warp, len(x)), stft)
        return x

    @property
    def soft_labels(self):
        """Whether the training labels are (examples, classes) rows rather than class indices."""
        return bool(self.mixup_alpha or self.label_smoothing)

    def inputs(self, x, labels, rng, num_classes):
        """Masks, mixup and label smoothing, on normalised inputs; returns (inputs, labels), soft labels with mixup
        or smoothing."""
        for axis, count, width in ((1, self.time_masks, self.time_mask_width),
                                   (2, self.frequency_masks, self.frequency_mask_width)):
            if count:
                x = mask(x, *draw_bands(rng, len(x), count, width, x.shape[axis]), axis)
        if self.mixup_alpha:
            x, labels = mixup(x, labels, rng, self.mixup_alpha, num_classes)
        if self.label_smoothing:
            labels = smooth_labels(labels, self.label_smoothing, num_classes)
        return x, labels


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def magnitudes(x, stft):
    """The STFT magnitudes (or mel-band magnitudes) behind features `x` of the front end `stft`."""
    if stft.compression == "log":
        return np.maximum(np.exp(x) - np.float32(stft.log_floor), 0.0)
    return x


def from_magnitudes(m, stft):
    """Features of the front end `stft` from magnitudes `m`: the inverse of `magnitudes`."""
    if stft.compression == "log":
        return np.log(m + np.float32(stft.log_floor))
    return m


def apply_gain(x, decibels, stft):
    """Features of each example's audio scaled by its gain in `decibels`: magnitudes times 10^(dB/20).

    With compression "log" this adds ln(10^(dB/20)) wherever the magnitude is well above the floor.
    """
    factor = np.power(10.0, np.asarray(decibels, np.float32) / 20.0).reshape(-1, 1, 1, 1)
    return from_magnitudes(magnitudes(x, stft) * factor, stft).astype(np.float32)


def add_noise(x, snr_db, rng, stft):
    """Features with white noise added at each example's `snr_db`, in its audio frames only.

    Acts on the magnitudes (linear bins or mel bands alike): powers add, as they do on average
    for independent phases, and each cell's noise power is exponential, as in the STFT of Gaussian
    noise. The signal power is the mean over the example's audio frames: those with a magnitude
    above 1 % of the log floor, so padding and digital silence stay as they are.
    """
    m = magnitudes(x, stft)
    power = np.square(m)
    audio = (m.max(axis=(2, 3)) > 0.01 * stft.log_floor)[:, :, None, None]
    signal = (power * audio).sum(axis=(1, 2, 3)) / np.maximum(audio.sum(axis=(1, 2, 3)) * x.shape[2], 1)
    noise = (signal / np.power(10.0, np.asarray(snr_db) / 10.0)).reshape(-1, 1, 1, 1)
    added = rng.standard_exponential(x.shape, dtype=np.float32) * noise.astype(np.float32) * audio
    return from_magnitudes(np.sqrt(power + added), stft).astype(np.float32)


def bin_frequencies(stft):
    """The centre frequency (Hz) of each output bin of the front end `stft`: its mel bands' or its linear bins'."""
    if stft.mel_bins:
        return mel_to_hertz(mel_band_edges(stft.mel_bins, SAMPLE_RATE)[1:-1])
    return np.arange(stft.frequency_bins) * SAMPLE_RATE / stft.frame_length


def warp_frequencies(x, factors, stft):
    """Features of each example's audio with its frequencies multiplied by its factor.

    Each bin takes the magnitude found at its centre frequency divided by the factor, interpolated
    linearly between the two nearest bins (held at the lowest and highest bin beyond them).
    """
    centres = bin_frequencies(stft)
    # (examples, bins): where each output bin reads, as a fractional bin index
    position = np.stack([np.interp(centres / factor, centres, np.arange(len(centres))) for factor in factors])
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(centres) - 1)
    upper = (position - low).astype(np.float32)[:, None, :, None]
    m = magnitudes(x, stft)
    warped = (np.take_along_axis(m, low[:, None, :, None], axis=2) * (1 - upper)
              + np.take_along_axis(m, high[:, None, :, None], axis=2) * upper)
    return from_magnitudes(warped, stft).astype(np.float32)


def draw_bands(rng, examples, count, width, size):
    """Starts and widths, each (examples, count), of SpecAugment bands on an axis of `size`.

    A width is uniform in 0..`width` (at most `size`), its start uniform over the places it fits.
    """
    widths = rng.integers(0, min(width, size) + 1, size=(examples, count))
    starts = (rng.random((examples, count)) * (size - widths + 1)).astype(np.int64)
    return starts, widths


def mask(x, starts, widths, axis):
    """`x` with each example's bands [start, start + width) of `axis` (1: time, 2: frequency) set to 0."""
    positions = np.arange(x.shape[axis])
    hit = ((positions >= starts[..., None]) & (positions < (starts + widths)[..., None])).any(axis=1)
    shape = [len(x), 1, 1, 1]
    shape[axis] = x.shape[axis]
    return np.where(hit.reshape(shape), np.float32(0), x)


def mixup(x, labels, rng, alpha, num_classes):
    """Each example mixed with a partner of its batch (a random permutation) by its own λ ~ Beta(α, α).

    Returns the mixed inputs and soft labels, (examples, num_classes) rows summing to 1.
    """
    weight = rng.beta(alpha, alpha, len(x)).astype(np.float32)
    partner = rng.permutation(len(x))
    onehot = np.eye(num_classes, dtype=np.float32)[labels]
    w = weight.reshape(-1, *[1] * (x.ndim - 1))
    mixed = w * x + (1 - w) * x[partner]
    return mixed.astype(np.float32), weight[:, None] * onehot + (1 - weight[:, None]) * onehot[partner]


def smooth_labels(labels, share, num_classes):
    """Soft labels: integer labels or soft rows, each (1 - `share`) of itself plus `share` / classes per class."""
    labels = np.asarray(labels)
    rows = labels if labels.ndim == 2 else np.eye(num_classes, dtype=np.float32)[labels]
    return ((1 - share) * rows + share / num_classes).astype(np.float32)
