"""Spectrogram features computed once per (corpus, front-end config) into memory-mapped .npy files."""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np

from keras_ser.audio import STFTSettings, load, segment, spectrogram
from keras_ser.audio.speed import change_speed
from keras_ser.version import __version__

CACHE_ENV = "KERAS_SER_CACHE"
FEATURES_FILE = "features.npy"
INDEX_FILE = "item_index.npy"
MANIFEST_FILE = "manifest.json"
# Settings added after caches existed: they enter the key only when set, so the default keys stay as they were.
LATER_FRONT_END_DEFAULTS = {"layout": "windows", "speed": 1.0}
LATER_STFT_DEFAULTS = {"mel_bins": 0, "compression": "none"}
LAYOUTS = ("windows", "frames")


@dataclasses.dataclass(frozen=True)
class FrontEnd:
    """Settings that determine the cached features (METHODS.md §1 defaults; `stft` holds mel bands, compression).

    `layout` "frames" keeps each file's whole spectrogram, one row per STFT frame, for random crops
    (`keras_ser.training.loader.CropSource`) instead of fixed windows; `speed` plays the audio that
    many times as fast first (speed perturbation, `keras_ser.audio.speed.change_speed`).
    """

    sample_rate: int = 16000
    segment_seconds: float = 4.0
    hop_seconds: float | None = None
    min_tail: float = 0.5
    dtype: str = "float16"
    stft: STFTSettings = STFTSettings()
    layout: str = "windows"
    speed: float = 1.0

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")

    def features(self, path):
        """Spectrograms (segments, time_steps, stft.bins, 1) of one audio file; "frames": (frames, stft.bins, 1)."""
        signal = change_speed(load(path, sr=self.sample_rate), self.speed, self.sample_rate)
        if self.layout == "frames":
            signal = np.pad(signal, (0, max(0, self.stft.frame_length - len(signal))))  # at least one full frame
            whole = dataclasses.replace(self.stft, time_steps=self.stft.frames(len(signal)))
            return spectrogram(signal[None], whole)[0].astype(self.dtype)
        windows = segment(signal, self.segment_seconds, self.hop_seconds, self.sample_rate, self.min_tail)
        return spectrogram(windows, self.stft).astype(self.dtype)


def default_cache_dir():
    """`$KERAS_SER_CACHE`, else ~/.cache/keras_ser/features."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "keras_ser" / "features")


def _file_key(path):
    """A file's resolved path, size and modification time: an edited file gets new features."""
    stat = os.stat(path)
    return str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns


def _cache_key(items, front_end):
    settings = {key: value for key, value in dataclasses.asdict(front_end).items()
                if key not in LATER_FRONT_END_DEFAULTS or value != LATER_FRONT_END_DEFAULTS[key]}
    if "stft" in settings:  # the eGeMAPS front end has none
        settings["stft"] = {key: value for key, value in settings["stft"].items()
                            if key not in LATER_STFT_DEFAULTS or value != LATER_STFT_DEFAULTS[key]}
    description = {
        "front_end": settings,
        "feature_format": 1,
        "files": [_file_key(item.path) for item in items],
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


class FeatureSet:
    """Cached features of a list of items: `features[rows]` belong to `items[item_index[rows]]`."""

    def __init__(self, features, item_index, items, rows=None):
        self.features = features
        self.item_index = item_index
        self.items = list(items)
        self.rows = np.arange(len(item_index)) if rows is None else np.asarray(rows)

    def __len__(self):
        return len(self.rows)

    def subset(self, items):
        """The segments belonging to `items` (e.g. one part of a split), without copying."""
        wanted = {item.path for item in items}
        known = {item.path for item in self.items}
        missing = wanted - known
        if missing:
            raise ValueError(
                f"{len(missing)} items are not in this feature set, e.g. '{sorted(missing)[0]}'"
            )
        keep = np.array([self.items[self.item_index[row]].path in wanted for row in self.rows], dtype=bool)
        return FeatureSet(self.features, self.item_index, self.items, self.rows[keep])

    def segment_items(self):
        """The item each segment of this set comes from, in order."""
        return [self.items[self.item_index[row]] for row in self.rows]

    def labels(self, label_of):
        """Per-segment targets: `label_of(item)` for each segment's item, as a numpy array."""
        return np.asarray([label_of(item) for item in self.segment_items()])

    def array(self):
        """All features of this set loaded into memory as float32."""
        return np.asarray(self.features[self.rows], np.float32)

    def dataset(self, labels, batch_size=32, shuffle=True, seed=0, transform=None, drop_remainder=False, **kwargs):
        """A `keras.utils.PyDataset` of (features, labels) batches for `model.fit`.

        `transform`, if given, maps each float32 feature batch (e.g. a normaliser);
        `drop_remainder` leaves out the last partial batch of each epoch.
        """
        return FeatureDataset(
            self.features, self.rows, labels, batch_size, shuffle, seed, transform, drop_remainder, **kwargs
        )


class FeatureDataset(keras.utils.PyDataset):
    """Batches of memory-mapped features with their labels; needs no TensorFlow."""

    def __init__(
        self, features, rows, labels, batch_size=32, shuffle=True, seed=0, transform=None, drop_remainder=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        labels = np.asarray(labels)
        if len(labels) != len(rows):
            raise ValueError(f"got {len(labels)} labels for {len(rows)} feature rows")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.features = features
        self.rows = np.asarray(rows)
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.transform = transform
        self.drop_remainder = drop_remainder
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.rows))
        self.on_epoch_end()

    def __len__(self):
        if self.drop_remainder:
            return len(self.rows) // self.batch_size
        return -(-len(self.rows) // self.batch_size)

    def __getitem__(self, index):
        picked = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        sort = np.argsort(self.rows[picked])  # memmap reads are fastest in file order
        picked = picked[sort]
        x = np.asarray(self.features[self.rows[picked]], np.float32)
        return (x if self.transform is None else self.transform(x)), self.labels[picked]

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._order)


def cached_features(items, name, front_end=FrontEnd(), cache_dir=None, progress=True, workers=None):
    """Features of `items`, computed once into `cache_dir/<name>-<key>/` and memory-mapped after.

    The key hashes the front-end settings and the files (paths, sizes and
    modification times), so a changed corpus, file or setting gets a new cache
    entry. `workers` threads decode the files (default: one per CPU core, at most 8).
    """
    items = list(items)
    if not items:
        raise ValueError(f"no items to compute features for (corpus '{name}')")
    folder = Path(cache_dir or default_cache_dir()) / f"{name}-{_cache_key(items, front_end)}"
    if not (folder / MANIFEST_FILE).exists():
        _build(folder, items, front_end, progress, workers or min(8, os.cpu_count() or 1))
    features = np.load(folder / FEATURES_FILE, mmap_mode="r")
    return FeatureSet(features, np.load(folder / INDEX_FILE), items)


def _build(folder, items, front_end, progress, workers):
    bar = keras.utils.Progbar(len(items), unit_name="file") if progress else None
    chunks = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, chunk in enumerate(pool.map(lambda item: front_end.features(item.path), items), 1):
            chunks.append(chunk)
            if bar is not None:
                bar.update(done)
    counts = [len(chunk) for chunk in chunks]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        out = np.lib.format.open_memmap(
            staging / FEATURES_FILE, mode="w+", dtype=front_end.dtype,
            shape=(sum(counts), *chunks[0].shape[1:]))
        start = 0
        for chunk in chunks:
            out[start : start + len(chunk)] = chunk
            start += len(chunk)
        out.flush()
        del out
        np.save(staging / INDEX_FILE, np.repeat(np.arange(len(items)), counts))
        manifest = {
            "keras_ser_version": __version__,
            "front_end": dataclasses.asdict(front_end),
            "files": [str(item.path) for item in items],
            "segments": int(sum(counts)),
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
        try:
            staging.rename(folder)
        except OSError:  # another process finished the same cache first
            shutil.rmtree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
