"""Turning the data section of a run configuration into train / validation / test feature sets."""

import dataclasses
from pathlib import Path

import keras
import numpy as np

from keras_ser.audio import NORMALIZERS
from keras_ser.datasets import (
    EMOTIONS,
    FeatureSet,
    FrontEnd,
    cached_features,
    corpus_classes,
    held_out_speaker_split,
    leave_corpus_out,
    load_corpus,
    select_classes,
    speaker_folds,
    split,
    split_per_corpus,
)
from keras_ser.training.augmentation import Augmentation
from keras_ser.training.config import ConfigError
from keras_ser.training.loader import CropSource, TrainingLoader, WindowSource, silence
from keras_ser.training.sampling import SHARE_EXPONENTS, balance_groups, balanced_weights


@dataclasses.dataclass
class PreparedData:
    """Feature sets, per-segment labels and the settings a model must match."""

    parts: dict  # "train" | "val" | "test" -> FeatureSet
    labels: dict  # same keys -> int labels per segment
    class_names: list
    input_shape: tuple
    normalizer: keras.layers.Layer | None
    loader: TrainingLoader | None = None  # random crops, augmentation, balancing; None: the thesis's recipe

    @property
    def soft_labels(self):
        """Whether the training batches carry soft labels (mixup, label smoothing)."""
        return self.loader is not None and self.loader.augmentation.soft_labels

    def train_dataset(self, batch_size, seed=0, drop_remainder=False):
        """The training batches, normalised: the shuffled fixed windows, or those `loader` draws and augments."""
        if self.loader is None:
            return self.dataset("train", batch_size, shuffle=True, seed=seed, drop_remainder=drop_remainder)
        return self.loader.dataset(batch_size, seed, self.transform, drop_remainder)

    def dataset(self, part, batch_size, shuffle, seed=0, drop_remainder=False):
        """A PyDataset of one part, normalised like the training set."""
        return self.parts[part].dataset(
            self.labels[part], batch_size=batch_size, shuffle=shuffle, seed=seed, transform=self.transform,
            drop_remainder=drop_remainder,
        )

    def transform(self, x):
        if self.normalizer is None:
            return x
        return keras.ops.convert_to_numpy(self.normalizer(x))

    def arrays(self, part):
        """(features, labels) of one part in memory, normalised."""
        return self.transform(self.parts[part].array()), self.labels[part]


def _load_items(data):
    items = []
    for name in data.corpora:
        if name == "csv":  # recordings listed in a CSV file
            key, root = "data.manifest", data.manifest
            if not Path(root).expanduser().is_file():
                raise ConfigError(key, f"no CSV file at '{root}': give the path of the file listing the recordings "
                                       "(columns path, label, speaker)")
        else:
            key, root = "data.corpora", f"{data.root}/{name}" if data.root else None
        try:
            items += load_corpus(name, root=root)
        except ValueError as error:
            raise ConfigError(key, str(error)) from None
    return items


def _labelled(items, data):
    """The items the task uses, their integer labels and the class names."""
    if data.task == "emotion":
        try:
            classes = data.classes
            if classes == ["all"]:
                used = {name for corpus in data.corpora for name in corpus_classes(corpus)}
                classes = [name for name in EMOTIONS if name in used]
            kept, labels = select_classes(items, classes)
        except ValueError as error:
            raise ConfigError("data.classes", str(error)) from None
        return kept, np.asarray(labels), list(classes)
    attribute = "speaker" if data.task == "speaker" else "text"
    kept = [item for item in items if getattr(item, attribute) is not None]
    if not kept:
        raise ConfigError("data.task", f"the corpora {data.corpora} have no {attribute} labels")
    names = sorted({f"{item.corpus}:{getattr(item, attribute)}" for item in kept})
    index = {name: i for i, name in enumerate(names)}
    return kept, np.asarray([index[f"{item.corpus}:{getattr(item, attribute)}"] for item in kept]), names


def _split(items, data, seed):
    try:
        if data.split in ("speaker", "random"):
            return split(items, by=data.split, seed=seed, fractions=data.fractions)
        if data.split == "per_corpus":
            return split_per_corpus(items, seed=seed, fractions=data.fractions)
        if data.split == "leave_corpus_out":
            return leave_corpus_out(items, data.test_corpus, seed=seed, fractions=data.fractions)
        if data.split == "fold":
            return speaker_folds(items, data.folds, seed=seed)[data.fold]
        return held_out_speaker_split(items, data.test_speaker, seed=seed)
    except ValueError as error:
        raise ConfigError("data.split", str(error)) from None


def _train_batches(feature_set, rows=256):
    return (feature_set.features[feature_set.rows[i : i + rows]] for i in range(0, len(feature_set), rows))


def _embed_features(features, data, progress):
    """Replace spectrogram features by RH-emo embeddings (kept in memory).

    `data.rhemo_model` is the encoder.keras of `keras-ser rhemo`: it brings the
    linear spectrograms into RH-emo's input as its run did (log compression,
    scaling by RH-emo's own training maximum or the utterance z-score and the
    logistic function) and runs the encoder.
    """
    try:
        encoder = keras.saving.load_model(data.rhemo_model)
    except (OSError, ValueError) as error:
        raise ConfigError("data.rhemo_model", f"cannot load '{data.rhemo_model}': {error}") from None
    if isinstance(encoder.output, dict) or tuple(encoder.output.shape[1:]) != (64, 64, 4):
        raise ConfigError(
            "data.rhemo_model", f"'{data.rhemo_model}' is not an RH-emo encoder with (64, 64, 4) embeddings; "
            "use the encoder.keras written by `keras-ser rhemo`")
    expected = tuple(encoder.input.shape[1:])
    if expected != tuple(features.features.shape[1:]):
        raise ConfigError(
            "data.rhemo_model", f"'{data.rhemo_model}' encodes {expected} spectrograms, but data.time_steps and "
            f"data.frequency_bins give {tuple(features.features.shape[1:])}; use the STFT it was trained with")
    chunks = []
    bar = keras.utils.Progbar(len(features.features), unit_name="segment") if progress else None
    for start in range(0, len(features.features), 256):
        chunk = np.asarray(features.features[start : start + 256], np.float32)
        chunks.append(encoder.predict(chunk, verbose=0))
        if bar is not None:
            bar.update(start + len(chunk))
    return FeatureSet(np.concatenate(chunks), features.item_index, features.items, features.rows)


@dataclasses.dataclass
class SplitItems:
    """The corpus items of a data configuration, its task's labels and its train / val / test parts."""

    all_items: list
    parts: dict  # "train" | "val" | "test" -> items
    label_of: dict  # item path -> int label
    class_names: list


def split_items(data, seed=0):
    """Load corpora, keep the task's classes and split them as `data` says.

    `data.split_seed`, when set, replaces `seed` here, so runs of several seeds share one split.
    """
    seed = seed if data.split_seed < 0 else data.split_seed
    all_items = _load_items(data)
    items, labels, class_names = _labelled(all_items, data)
    if data.max_items and data.max_items < len(items):
        keep = np.sort(np.random.default_rng(seed).choice(len(items), data.max_items, replace=False))
        items, labels = [items[i] for i in keep], labels[keep]
    parts = dict(zip(("train", "val", "test"), _split(items, data, seed)))
    for name, part in parts.items():
        if not part:
            raise ConfigError("data.split", f"the {name} part is empty; use more data (data.max_items) or another split")
    return SplitItems(all_items, parts, {item.path: label for item, label in zip(items, labels)}, class_names)


def _training_loader(data, training, chosen, front_end, train_windows, cache_dir, progress):
    """How the training batches depart from the thesis's shuffled windows (crops, augmentation, balancing,
    batches of one corpus), or None.

    Random crops come from whole-utterance spectrograms of every item, cached once per speed factor.
    """
    augmentation = Augmentation.from_table(training.augment) if training else Augmentation()
    balance = training.balance if training else "none"
    per_corpus = training is not None and training.batches == "per_corpus"
    if data.crops == "fixed" and not augmentation.active and balance == "none" and not per_corpus:
        return None
    if data.crops == "random":
        frame_sets = [cached_features(chosen.all_items, "+".join(data.corpora),
                                      dataclasses.replace(front_end, layout="frames", speed=speed),
                                      cache_dir=cache_dir, progress=progress)
                      for speed in augmentation.speed]
        content = front_end.stft.frames(int(round(data.segment_seconds * front_end.sample_rate)))
        examples = chosen.parts["train"]
        source = CropSource(frame_sets, examples, content, front_end.stft.time_steps, silence(front_end.stft))
    else:
        examples = train_windows.segment_items()
        source = WindowSource(train_windows)
    labels = np.array([chosen.label_of[item.path] for item in examples])
    corpora = np.array([item.corpus for item in examples])
    groups = balance_groups(balance, corpora, labels)
    weights = None if groups is None else balanced_weights(groups, SHARE_EXPONENTS[balance])
    return TrainingLoader(source, labels, weights, augmentation, front_end.stft, len(chosen.class_names),
                          corpora if per_corpus else None, training.balance_from_epoch if training else 0)


def prepare_data(data, seed=0, cache_dir=None, progress=True, training=None):
    """Load corpora, keep the task's classes, split, fetch cached features and fit the normaliser.

    `training` (a TrainingConfig) brings its augmentation and balancing into the training batches.
    """
    chosen = split_items(data, seed)
    all_items, parts, label_of, class_names = chosen.all_items, chosen.parts, chosen.label_of, chosen.class_names
    front_end = FrontEnd(segment_seconds=data.segment_seconds, stft=data.stft())
    features = cached_features(all_items, "+".join(data.corpora), front_end, cache_dir=cache_dir, progress=progress)
    if data.features == "rhemo":
        features = _embed_features(features, data, progress)
    subsets = {name: features.subset(part) for name, part in parts.items()}
    normalizer = None
    normalization = data.normalization
    if normalization == "auto":
        normalization = "zscore" if data.features == "spectrogram" else "none"
    if normalization != "none":
        normalizer = NORMALIZERS[normalization](name="normalizer")
        normalizer.adapt(_train_batches(subsets["train"]))
    return PreparedData(
        parts=subsets,
        labels={name: subset.labels(lambda item: label_of[item.path]) for name, subset in subsets.items()},
        class_names=class_names,
        input_shape=tuple(features.features.shape[1:]),
        normalizer=normalizer,
        loader=_training_loader(data, training, chosen, front_end, subsets["train"], cache_dir, progress),
    )
