"""The training loader: each epoch's examples drawn afresh (shuffled or balanced), batched, cropped and augmented.

Two sources of examples: the cached fixed windows (the thesis's recipe, `data.crops = "fixed"`),
or random crops of whole-utterance spectrograms (`data.crops = "random"`), cached once per
speed factor with `FrontEnd(layout="frames")`, so a crop costs one slice of a memory map and
an utterance of any length contributes all of its audio over the epochs.
"""

import dataclasses

import keras
import numpy as np

from keras_ser.audio.spectrogram import STFTSettings
from keras_ser.training.augmentation import Augmentation, from_magnitudes
from keras_ser.training.sampling import epoch_batches


class WindowSource:
    """The fixed windows of a feature set, one example each."""

    def __init__(self, feature_set):
        self.features = feature_set.features
        self.rows = feature_set.rows

    def __len__(self):
        return len(self.rows)

    def read(self, examples, rng):
        """The (examples, time_steps, bins, 1) windows, float32; `rng` is unused."""
        return np.asarray(self.features[self.rows[examples]], np.float32)


class CropSource:
    """One random crop per utterance from its whole spectrogram, at a speed factor drawn each time.

    `frame_sets` are the `FrontEnd(layout="frames")` feature sets of one list of items, one set per
    speed factor; `items` (a subset of those) are the examples. A crop holds `content` frames
    (those of a segment_seconds window) followed by `silence` up to `time_steps`, as an
    evaluation window does: a longer utterance gives `content` consecutive frames starting
    anywhere, a shorter one all its frames at a random offset, silence on both sides. A crop
    equals the spectrogram of the cropped audio except at its two edge frames (reflection padding).
    """

    def __init__(self, frame_sets, items, content, time_steps, silence):
        self.frames = [frame_set.features for frame_set in frame_sets]
        self.content = content
        self.time_steps = time_steps
        self.silence = silence
        position = {item.path: i for i, item in enumerate(frame_sets[0].items)}
        wanted = np.array([position[item.path] for item in items])
        spans = []
        for frame_set in frame_sets:
            counts = np.bincount(frame_set.item_index, minlength=len(frame_set.items))
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])  # item_index is sorted: one run per item
            spans.append(np.stack([starts[wanted], counts[wanted]], axis=1))
        self.spans = np.stack(spans)  # (speeds, examples, 2): first frame, frames

    def __len__(self):
        return self.spans.shape[1]

    def read(self, examples, rng):
        """One (time_steps, bins, 1) crop of each example's utterance, float32."""
        speeds = rng.integers(len(self.frames), size=len(examples))
        out = np.full((len(examples), self.time_steps, *self.frames[0].shape[1:]), self.silence, np.float32)
        for row, (example, speed) in enumerate(zip(examples, speeds)):
            start, count = self.spans[speed, example]
            offset = rng.integers(abs(count - self.content) + 1)
            if count >= self.content:
                out[row, : self.content] = self.frames[speed][start + offset : start + offset + self.content]
            else:
                out[row, offset : offset + count] = self.frames[speed][start : start + count]
        return out


class TrainingDataset(keras.utils.PyDataset):
    """Training batches of a source, drawn afresh each epoch and augmented; needs no TensorFlow.

    Batch `index` of epoch `epoch` depends only on (seed, epoch, index), so a seed gives the
    same batches whatever order they are read in. `weights` (one per example) draw each epoch's
    examples with replacement from epoch `weights_from_epoch` on (counted from 0), else every example
    comes once, shuffled; with `groups` (one name per example, e.g. its corpus) no batch mixes two
    groups. `transform` (the normaliser) runs between the spectrogram and input augmentations; `stft`
    is the features' front end (gain and noise undo its compression). Labels are integers, or soft
    (examples, num_classes) rows with mixup or label smoothing.
    """

    def __init__(self, source, labels, batch_size, seed=0, weights=None, augmentation=Augmentation(),
                 stft=STFTSettings(), num_classes=None, transform=None, drop_remainder=False, groups=None,
                 weights_from_epoch=0, **kwargs):
        super().__init__(**kwargs)
        labels = np.asarray(labels)
        if len(labels) != len(source):
            raise ValueError(f"got {len(labels)} labels for {len(source)} examples")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.source, self.labels, self.batch_size, self.seed = source, labels, batch_size, seed
        self.weights, self.augmentation, self.stft = weights, augmentation, stft
        self.num_classes = num_classes if num_classes is not None else int(labels.max()) + 1
        self.transform, self.drop_remainder = transform, drop_remainder
        self.groups = None if groups is None else np.asarray(groups)
        self.weights_from_epoch = weights_from_epoch
        if self.groups is not None and len(self.groups) != len(labels):
            raise ValueError(f"got {len(self.groups)} groups for {len(labels)} examples")
        self.epoch = 0
        self._batches = self._draw()

    def _draw(self):
        weights = self.weights if self.epoch >= self.weights_from_epoch else None
        return epoch_batches(np.random.default_rng([self.seed, self.epoch]), len(self.labels), self.batch_size,
                             weights, self.groups, self.drop_remainder)

    def __len__(self):
        return len(self._batches)

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        examples = np.sort(self._batches[index])  # file order
        x = self.augmentation.spectrograms(self.source.read(examples, rng), rng, self.stft)
        if self.transform is not None:
            x = self.transform(x)
        return self.augmentation.inputs(np.asarray(x, np.float32), self.labels[examples], rng, self.num_classes)

    def on_epoch_end(self):
        self.at_epoch(self.epoch + 1)

    def at_epoch(self, epoch):
        """Make the batches those of `epoch` (from 0), as a training resumed at that epoch needs."""
        if epoch != self.epoch:
            self.epoch = epoch
            self._batches = self._draw()


def epoch_draws(dataset):
    """The `fit` callbacks that make a TrainingDataset read each epoch's own draws ([] for other data): `fit`
    advances a dataset once before its first epoch, and a resumed run, or a fit from `initial_epoch`, gets a new one."""
    if not isinstance(dataset, TrainingDataset):
        return []
    return [keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: dataset.at_epoch(epoch))]


@dataclasses.dataclass
class TrainingLoader:
    """What the training batches are made of, beside the normaliser; `dataset` makes them."""

    source: object  # WindowSource or CropSource
    labels: np.ndarray  # one int label per example of the source
    weights: np.ndarray | None  # balanced draw probabilities, or None to shuffle
    augmentation: Augmentation
    stft: object  # the STFTSettings of the features
    num_classes: int
    groups: np.ndarray | None = None  # each example's corpus when batches must not mix corpora, else None
    weights_from_epoch: int = 0  # the first epoch (from 0) drawn by `weights`; the ones before shuffle

    def dataset(self, batch_size, seed=0, transform=None, drop_remainder=False):
        return TrainingDataset(self.source, self.labels, batch_size, seed, self.weights, self.augmentation, self.stft,
                               self.num_classes, transform, drop_remainder, self.groups, self.weights_from_epoch)


def silence(stft):
    """The feature value of silent (and padded) cells of the front end `stft`."""
    return float(from_magnitudes(np.float32(0), stft))
