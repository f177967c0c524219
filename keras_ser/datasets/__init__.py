"""Emotional speech corpora: readers, the shared emotion vocabulary, splits and the feature cache."""

from keras_ser.datasets.cache import FeatureSet, FrontEnd, cached_features
from keras_ser.datasets.emotions import (
    CLASS_MERGES,
    CORPUS_EMOTIONS,
    EMOTIONS,
    FOUR_CLASS,
    VAD_TABLE,
    VAD_THRESHOLD,
    binary_vad,
    canonical_emotion,
    corpus_classes,
    select_classes,
)
from keras_ser.datasets.files import AUDIO_EXTENSIONS, audio_files
from keras_ser.datasets.item import CorpusError, Item
from keras_ser.datasets.load import CORPORA, load_corpus
from keras_ser.datasets.paths import DATA_ENV, default_data_root
from keras_ser.datasets.splits import (
    held_out_speaker_split,
    leave_corpus_out,
    speaker_folds,
    split,
    split_per_corpus,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "CLASS_MERGES",
    "CORPORA",
    "CORPUS_EMOTIONS",
    "CorpusError",
    "DATA_ENV",
    "EMOTIONS",
    "FeatureSet",
    "FrontEnd",
    "FOUR_CLASS",
    "Item",
    "VAD_TABLE",
    "VAD_THRESHOLD",
    "audio_files",
    "binary_vad",
    "cached_features",
    "canonical_emotion",
    "corpus_classes",
    "default_data_root",
    "held_out_speaker_split",
    "leave_corpus_out",
    "load_corpus",
    "select_classes",
    "speaker_folds",
    "split",
    "split_per_corpus",
]
