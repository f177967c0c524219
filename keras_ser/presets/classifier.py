"""SERClassifier: a zoo model from raw audio to emotion scores, with prediction helpers."""

import dataclasses
import os
import warnings
from pathlib import Path

import keras
import numpy as np

from keras_ser import models
from keras_ser.audio import AudioError, Spectrogram
from keras_ser.audio.io import source_name
from keras_ser.audio.vad import MIN_PAUSE, MIN_SPEECH, SILENT_DB, peak_level
from keras_ser.audio.voicing import MIN_VOICED_SECONDS, MIN_VOICED_SHARE, has_voice
from keras_ser.datasets.files import audio_files
from keras_ser.models.rhemo.architecture import HEAD_UNITS, RHEMO_VARIANTS, VAD_HEADS, rhemo_encoder, rhemo_head
from keras_ser.models.rhemo.front_end import rhemo_input
from keras_ser.presets.files import PresetError
from keras_ser.presets.fine_tuning import check_whole_number, evaluate_items, fine_tune
from keras_ser.presets.preprocessor import AudioPreprocessor
from keras_ser.presets.timeline import timeline
from keras_ser.training.calibration import TemperatureScaling
from keras_ser.training.metrics import AGGREGATION_METHODS, aggregate_windows

# Up to this many windows, a first prediction runs eagerly instead of tracing a predict function.
EAGER_WINDOWS = 4
# Clips shorter than this (seconds) are flagged: the zoo's corpora hold no emotional clip under 0.87 s (nEMO's
# shortest; EmoDB 1.23 s, TESS 1.25 s, RAVDESS 2.94 s), and even FSDD's single spoken digits last 0.14 s or more.
SHORT_SECONDS = 0.25


class Prediction(list):
    """`[{"label", "score"}, ...]` sorted by score (scores sum to 1), plus the clip's extra outputs.

    `.dimensions`: {"valence", "arousal", "dominance"} probabilities of "high" (RH-emo models, else {}).
    `.windows`: per-window results [{"start", "end", "labels", "dimensions"}] (seconds).
    `.level_db`: the RMS level (dBFS) of the clip's loudest 20-ms frame; `.silent`: it is below SILENT_DB (-70), so
    the scores are the model's guess on silence, not an emotion.
    `.seconds`: the clip's duration; `.too_short`: it is under SHORT_SECONDS (0.25 s), too short to hold an emotion.
    `.voiced`: whether 0.1 s or more of it, and 1 % of its frames, are voiced (`keras_ser.audio.voicing.has_voice`);
    `.unvoiced`: it is not, though neither silent nor too short (noise, say), so the scores are not about an emotion.
    """

    def __init__(self, labels, dimensions=None, windows=None, source=None, level_db=None, seconds=None, voiced=None):
        super().__init__(labels)
        self.dimensions = dimensions or {}
        self.windows = windows or []
        self.source = source
        self.level_db = level_db
        self.seconds = seconds
        self.voiced = voiced

    @property
    def label(self):
        return self[0]["label"]

    @property
    def silent(self):
        return self.level_db is not None and self.level_db < SILENT_DB

    @property
    def too_short(self):
        return self.seconds is not None and self.seconds < SHORT_SECONDS

    @property
    def unvoiced(self):
        return self.voiced is False and not self.silent and not self.too_short

    def to_dict(self):
        result = {"labels": list(self), **self.dimensions, "windows": self.windows}
        if self.level_db is not None:
            result.update(level_db=round(self.level_db, 1), silent=self.silent)
        if self.seconds is not None:
            result.update(seconds=round(self.seconds, 3), too_short=self.too_short)
        if self.voiced is not None:
            result.update(unvoiced=self.unvoiced)
        return {"source": self.source, **result} if self.source is not None else result


class SilentAudioWarning(UserWarning):
    """Clips with no sound above SILENT_DB were scored: their scores say nothing about an emotion."""


class ShortAudioWarning(UserWarning):
    """Clips shorter than SHORT_SECONDS were scored: too short to hold an emotion."""


class UnvoicedAudioWarning(UserWarning):
    """Clips with too little voiced sound were scored: noise or other sounds, not speech."""


class Predictions(list):
    """The `Prediction`s of several clips, in order; `.failures`: [{"source", "error"}] for each unreadable file."""

    def __init__(self, predictions=(), class_names=()):
        super().__init__(predictions)
        self.class_names = list(class_names)
        self.failures = []

    def to_array(self):
        """(clips, classes) scores as a float32 array, its columns in `class_names` order (a failed file has no row)."""
        column = {name: index for index, name in enumerate(self.class_names)}
        array = np.zeros((len(self), len(column)), dtype=np.float32)
        for row, prediction in enumerate(self):
            for entry in prediction:
                array[row, column[entry["label"]]] = entry["score"]
        return array


def _expand(targets):
    """Audio files and folders as a list of files, each folder replaced by the audio files below it (sorted)."""
    files = []
    for target in targets:
        if isinstance(target, (str, os.PathLike)) and Path(target).is_dir():
            found = audio_files(target)
            if not found:
                raise FileNotFoundError(f"no audio files found below '{target}'")
            files += found
        else:
            files.append(target)
    return files


def _warn_about(predictions, flag, category, what, scores_are):
    """One warning naming the clips (the first three) whose Prediction has `flag` set."""
    flagged = [result.source or f"clip {i}" for i, result in enumerate(predictions) if getattr(result, flag)]
    if flagged:
        warnings.warn(f"{len(flagged)} of {len(predictions)} clip(s) {what} "
                      f"({', '.join(flagged[:3])}{', ...' if len(flagged) > 3 else ''}): their scores are "
                      f"{scores_are} (Prediction.{flag}); check the recording", category, stacklevel=4)


def _ranked(class_names, scores):
    order = np.argsort(-scores, kind="stable")
    return [{"label": class_names[i], "score": float(scores[i])} for i in order]


def _check_architecture(class_names, network, rhemo):
    if not isinstance(class_names, (list, tuple)) or len(class_names) < 2 or len(set(class_names)) != len(class_names):
        raise PresetError(f"class_names must list two or more distinct names, got {class_names!r}")
    if network is None and rhemo is None:
        raise PresetError("a classifier needs a network, an RH-emo model with an emotion head, or both")
    if network is not None:
        if network.get("builder") not in models.NETWORK_BUILDERS:
            raise PresetError(
                f"network builder {network.get('builder')!r} is not one of {', '.join(models.NETWORK_BUILDERS)}")
        members = network.get("members", 1)
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise PresetError(f"network members (how many copies of the network are averaged) must be an integer "
                              f">= 1, got {members!r}")
        activation = network.get("options", {}).get("classifier_activation", "softmax")
        if members > 1 and activation != "softmax":
            raise PresetError(f"an ensemble averages class probabilities, so its network must end in softmax; got "
                              f"classifier_activation {activation!r}")
    if rhemo is not None:
        if rhemo.get("variant", "full") not in RHEMO_VARIANTS:
            raise PresetError(f"RH-emo variant {rhemo.get('variant')!r} is not one of {', '.join(RHEMO_VARIANTS)}")
        heads = rhemo.get("heads", [])
        if any(head not in ("emotion", *VAD_HEADS) for head in heads):
            raise PresetError(f"RH-emo heads must be among emotion, {', '.join(VAD_HEADS)}; got {heads!r}")
        if network is None and "emotion" not in heads:
            raise PresetError("an RH-emo classifier without a network needs the 'emotion' head")


@keras.saving.register_keras_serializable(package="keras_ser")
class SERClassifier(keras.Model):
    """Audio windows (batch, samples) → class probabilities; `predict_file`, `predict_array`, `predict_folder`.

    Inside: `Spectrogram` → the preprocessor's normaliser → [RH-emo encoder, frozen]
    → `network` (a `keras_ser.models` builder; None uses RH-emo's emotion head).
    Before RH-emo, an "utterance" normaliser is followed by the logistic function, as in
    `keras-ser rhemo --normalization utterance` (`keras_ser.models.rhemo.rhemo_input`).
    `network["members"]` = N > 1 makes a seed ensemble: N copies of the network (`networks`, named
    member_0 ... member_{N-1}) on the same features, whose class probabilities are averaged.
    RH-emo's valence/arousal/dominance heads, when present, give `.dimensions`.
    A `temperature` other than 1 (fitted by `keras-ser preset`) calibrates the
    class probabilities: softmax(log p / temperature), see `keras_ser.training.calibration`.
    """

    def __init__(self, class_names, network=None, rhemo=None, preprocessor=None, temperature=1.0, **kwargs):
        _check_architecture(class_names, network, rhemo)
        if not isinstance(preprocessor, AudioPreprocessor):
            preprocessor = AudioPreprocessor.from_config(preprocessor or {})
        audio = keras.Input((preprocessor.window_samples,), name="audio")
        features = Spectrogram(**dataclasses.asdict(preprocessor.stft), name="spectrogram")(audio)
        normalizer = preprocessor.normalizer_layer()
        if normalizer is not None:
            features = normalizer(features) if rhemo is None else rhemo_input(features, normalizer)
        heads = {}
        if rhemo is not None:
            encoder = rhemo_encoder(tuple(features.shape[1:]), name="rhemo_encoder")
            encoder.trainable = False
            features = encoder(features)
            for head in rhemo.get("heads", []):
                if head == "emotion" and network is not None:
                    continue
                layer = rhemo_head(tuple(features.shape[1:]), head, len(class_names), dropout=0.5,
                                   units=rhemo.get("head_units", HEAD_UNITS), name=f"rhemo_{head}_head")
                layer.trainable = False
                heads[head] = layer(features)
        networks = []
        if network is not None:
            builder = getattr(models, network["builder"])
            members = network.get("members", 1)
            # One network keeps its builder's name (and so the layer paths of older presets).
            names = [{}] if members == 1 else [{"name": f"member_{i}"} for i in range(members)]
            networks = [builder(variant=network.get("variant", "real"), input_shape=tuple(features.shape[1:]),
                                num_classes=len(class_names), **network.get("options", {}), **name) for name in names]
            outputs = [member(features) for member in networks]
            probabilities = outputs[0] if members == 1 else keras.layers.Average(name="ensemble")(outputs)
        else:
            probabilities = heads.pop("emotion")
        temperature = float(temperature)
        scaling = TemperatureScaling(temperature, name="temperature") if temperature != 1.0 else None
        super().__init__(inputs=audio, outputs=probabilities if scaling is None else scaling(probabilities), **kwargs)
        self.networks = networks
        self.class_names = list(class_names)
        self.preprocessor = preprocessor
        self.network_config = network
        self.rhemo_config = rhemo
        self.temperature = temperature
        self.scaling = scaling
        self.dimension_names = [name for name in VAD_HEADS if name in heads]
        # Uncalibrated: a layer after the emotion head would reorder the scorer's heads, whose saved weights are
        # found by position (keras weights files), so old presets would no longer load. score_windows scales them.
        self.scorer = keras.Model(audio, {"emotion": probabilities, **heads}, name="scorer")

    def get_config(self):
        return {"name": self.name, "class_names": self.class_names, "network": self.network_config,
                "rhemo": self.rhemo_config, "temperature": self.temperature,
                "preprocessor": self.preprocessor.get_config()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def member_outputs(self):
        """Each seed-ensemble member's class probabilities, tensors of this model's graph ([] for one network)."""
        return list(self.get_layer("ensemble").input) if len(self.networks) > 1 else []

    @property
    def head_layers(self):
        """The output layers whose weights `keras_ser.load(..., num_classes=...)` re-initialises: each network's,
        else RH-emo's emotion head's."""
        owners = self.networks or [self.get_layer("rhemo_emotion_head")]
        return [owner.get_layer("predictions") for owner in owners]

    def score_windows(self, windows, batch_size=32):
        """Per-window outputs of (N, window_samples) audio: {"emotion": (N, C), "valence": (N,), ...}."""
        check_whole_number("batch_size", batch_size)
        windows = np.asarray(windows, dtype=np.float32)
        expected = self.preprocessor.window_samples
        if windows.ndim != 2 or windows.shape[1] != expected or len(windows) == 0:
            raise ValueError(f"windows must have shape (N > 0, {expected}), got {windows.shape}")
        if self.scorer.predict_function is None and len(windows) <= EAGER_WINDOWS:
            # A first call on a few windows runs eagerly: tracing the predict function would cost more (cold CLI start).
            chunks = [{key: keras.ops.convert_to_numpy(value) for key, value in self.scorer(windows).items()}]
        else:
            chunks = [self.scorer.predict_on_batch(windows[i : i + batch_size])
                      for i in range(0, len(windows), batch_size)]
        outputs = {key: np.concatenate([np.asarray(chunk[key]) for chunk in chunks]) for key in chunks[0]}
        if self.scaling is not None:
            outputs["emotion"] = keras.ops.convert_to_numpy(self.scaling(outputs["emotion"]))
        return {key: value if key == "emotion" else value.reshape(len(windows)) for key, value in outputs.items()}

    def _clip_prediction(self, outputs, start, count, hop, aggregate, source, signal):
        emotion = outputs["emotion"][start : start + count]
        _, pooled = aggregate_windows(emotion, np.zeros(count, dtype=int), method=aggregate)
        scores = pooled[0] / pooled[0].sum()
        dimensions = {name: float(outputs[name][start : start + count].mean()) for name in self.dimension_names}
        windows = [
            {"start": round(i * hop, 3), "end": round(i * hop + self.preprocessor.segment_seconds, 3),
             "labels": _ranked(self.class_names, emotion[i]),
             "dimensions": {name: float(outputs[name][start + i]) for name in self.dimension_names}}
            for i in range(count)
        ]
        rate = self.preprocessor.sample_rate
        return Prediction(_ranked(self.class_names, scores), dimensions, windows, source,
                          level_db=peak_level(signal, rate), seconds=len(signal) / rate, voiced=has_voice(signal, rate))

    def _predict_signals(self, signals, sources, aggregate, hop_seconds, batch_size):
        if aggregate not in AGGREGATION_METHODS:
            raise ValueError(f"unknown aggregate {aggregate!r}; choose one of {', '.join(AGGREGATION_METHODS)}")
        hop = hop_seconds if hop_seconds is not None else (self.preprocessor.hop_seconds or self.preprocessor.segment_seconds)
        if not hop > 0:
            raise ValueError(f"hop_seconds must be positive, got {hop_seconds}")
        windows = [self.preprocessor.windows(signal, hop) for signal in signals]
        outputs = self.score_windows(np.concatenate(windows), batch_size=batch_size)
        starts = np.cumsum([0] + [len(w) for w in windows])
        predictions = Predictions((self._clip_prediction(outputs, start, len(w), hop, aggregate, source, signal)
                                   for start, w, source, signal in zip(starts, windows, sources, signals)),
                                  self.class_names)
        _warn_about(predictions, "silent", SilentAudioWarning,
                    f"have no sound above {SILENT_DB:g} dBFS", "the model's guess on silence, not an emotion")
        _warn_about(predictions, "too_short", ShortAudioWarning, f"are shorter than {SHORT_SECONDS:g} s",
                    "a guess on too little speech to hold an emotion")
        _warn_about(predictions, "unvoiced", UnvoicedAudioWarning,
                    f"have too little voiced sound (under {MIN_VOICED_SECONDS:g} s or {MIN_VOICED_SHARE:.0%} of it)",
                    "the model's guess on noise or other sounds, not on speech")
        return predictions

    def predict_array(self, audio, sampling_rate, aggregate="mean", hop_seconds=None, batch_size=32,
                      channels_first=None):
        """Scores of one clip given as an array at `sampling_rate` Hz.

        `audio`: (samples,), or 2-D with a channel axis (mixed down). `channels_first=True` reads a 2-D array as
        (channels, samples), False as (samples, channels); None infers it only when one axis has at most 8 entries
        and the other at least 128, and otherwise raises a ValueError. Float samples are taken as they are; integer
        PCM (int8, uint8, int16, int32, as from scipy.io.wavfile.read) is scaled to ±1 by its type's range.
        """
        signal = self.preprocessor.resample(audio, sampling_rate, channels_first)
        return self._predict_signals([signal], [None], aggregate, hop_seconds, batch_size)[0]

    def predict_batch(self, clips, sampling_rate, aggregate="mean", hop_seconds=None, batch_size=32,
                      channels_first=None):
        """Scores of several clips (a list of arrays, or a 2-D array of equal-length clips) at `sampling_rate` Hz, as
        `Predictions`.

        Each clip is read as by `predict_array`.
        """
        if isinstance(clips, (str, bytes, os.PathLike)) or (isinstance(clips, np.ndarray) and clips.ndim < 2):
            raise ValueError("clips must be a list of clips or a 2-D array (clips, samples); for one clip use "
                             "predict_array")
        signals = self.preprocessor.resample_clips(clips, sampling_rate, channels_first)
        return self._predict_signals(signals, [None] * len(signals), aggregate, hop_seconds, batch_size)

    def predict_file(self, path, aggregate="mean", hop_seconds=None, batch_size=32):
        """Scores of one audio file (any libsndfile format; mixed down and resampled automatically).

        `path`: a path, the file's bytes or a binary file-like object (io.BytesIO, open(..., "rb")).
        """
        signal = self.preprocessor.load(path)
        return self._predict_signals([signal], [source_name(path)], aggregate, hop_seconds, batch_size)[0]

    def predict_files(self, paths, aggregate="mean", hop_seconds=None, batch_size=32, progress=True, chunk=64,
                      on_error="skip"):
        """Scores of audio files and of the audio files below folders, as `Predictions`, `chunk` files at a time.

        `paths` may mix paths, folders, bytes and file-like objects. An unreadable file is skipped and listed with
        its reason in the result's `.failures` (on_error="skip"), or raises its `AudioError` (on_error="fail").
        """
        if on_error not in ("skip", "fail"):
            raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
        check_whole_number("chunk", chunk, what="a whole number of files >= 1")
        sources = _expand([paths] if isinstance(paths, (str, os.PathLike)) else paths)
        if not sources:
            raise ValueError("paths is empty: give at least one file or folder")
        bar = keras.utils.Progbar(len(sources), unit_name="file") if progress and len(sources) > 1 else None
        results = Predictions(class_names=self.class_names)
        for first in range(0, len(sources), chunk):
            signals, names = [], []
            for source in sources[first : first + chunk]:
                try:
                    signals.append(self.preprocessor.load(source))
                    names.append(source_name(source))
                except AudioError as error:
                    if on_error == "fail":
                        raise
                    results.failures.append({"source": error.path, "error": error.reason})
            if signals:
                results.extend(self._predict_signals(signals, names, aggregate, hop_seconds, batch_size))
            if bar is not None:
                bar.update(min(first + chunk, len(sources)))
        return results

    def timeline(self, path_or_array, sampling_rate=None, hop_seconds=None, min_speech=MIN_SPEECH,
                 min_pause=MIN_PAUSE, batch_size=32, progress=True, channels_first=None):
        """A `Timeline` of a long recording: segments {"start", "end", "speech", "label", "scores"} in seconds.

        Pauses of at least `min_pause` seconds are segments without speech (label and scores None); speech
        shorter than `min_speech` seconds is ignored. Each speech region is cut into the model's windows
        `hop_seconds` apart (default: the preset's hop, else one window; at most one window) as `predict_array`
        cuts a clip, and each window is a segment, the last of a region reaching its end. Files are streamed, so
        memory stays flat however long they are; arrays at `sampling_rate` Hz are read as `predict_array` reads them.
        """
        return timeline(self, path_or_array, sampling_rate, hop_seconds, min_speech, min_pause, batch_size, progress,
                        channels_first)

    def evaluate_items(self, items, batch_size=32, progress=True):
        """Clip-level accuracy, UAR, macro-F1 and confusion matrix on labelled corpus items, overall and per corpus."""
        return evaluate_items(self, items, batch_size, progress)

    def fine_tune(self, train_items, validation_items=None, epochs=20, batch_size=32, learning_rate=1e-3, patience=6,
                  progress=True, *, monitor="val_uar", class_weight=None, head_epochs=0, head_learning_rate=1e-3,
                  ema_epochs=2, reduce_lr_patience=2, reduce_lr_factor=0.3):
        """Fit on labelled corpus items with the default recipe's schedule (RH-emo parts stay frozen); returns the
        History (a seed ensemble: one per member, each fine-tuned on its own).

        Keeps the weights' moving average over about the last `ema_epochs` epochs; with validation items,
        cuts the rate to `reduce_lr_factor` times after `reduce_lr_patience` epochs without a better
        `monitor` ("val_uar": clip-level UAR, or "val_loss"), early-stops after `patience` and restores
        the best epoch; `class_weight`: None, "balanced" or {class: weight}; `head_epochs`: epochs of the
        output layers alone first. Warns when fewer than 3 training speakers. See
        `keras_ser.presets.fine_tuning.fine_tune`.
        """
        return fine_tune(self, train_items, validation_items, epochs, batch_size, learning_rate, patience, progress,
                         monitor=monitor, class_weight=class_weight, head_epochs=head_epochs,
                         head_learning_rate=head_learning_rate, ema_epochs=ema_epochs,
                         reduce_lr_patience=reduce_lr_patience, reduce_lr_factor=reduce_lr_factor)

    def adapt(self, sources, sampling_rate=None, *, normalizer="auto", batch_norm=False, inplace=False, batch_size=32,
              min_windows=20, on_error="fail", progress=True, channels_first=None):
        """This model adapted to unlabelled audio of a new domain: a copy, or this model with `inplace=True`.

        Refits the input normaliser on the audio's windows (when it has statistics) and, with `batch_norm=True`,
        every batch-norm layer's moving statistics (AdaBN). `sources`: audio files and folders, or clips as arrays
        with `sampling_rate`. Recorded in `metadata["adaptations"]`. See `keras_ser.presets.adaptation.adapt`.
        """
        from keras_ser.presets.adaptation import adapt

        return adapt(self, sources, sampling_rate, normalizer=normalizer, batch_norm=batch_norm, inplace=inplace,
                     batch_size=batch_size, min_windows=min_windows, on_error=on_error, progress=progress,
                     channels_first=channels_first)

    def predict_folder(self, folder, aggregate="mean", hop_seconds=None, batch_size=32, progress=True,
                       on_error="skip"):
        """Scores of every audio file below `folder`, sorted by path, as `Predictions` (see `predict_files`)."""
        if not Path(folder).is_dir():
            raise NotADirectoryError(f"'{folder}' is not a folder")
        return self.predict_files([folder], aggregate, hop_seconds, batch_size, progress, on_error=on_error)
