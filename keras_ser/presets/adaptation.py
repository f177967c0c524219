"""Adapting a classifier to unlabelled audio of a new domain: its input normaliser and batch-norm statistics (AdaBN).

Nothing is trained: the normaliser's statistics (z-score mean and std, or the maximum) are refitted on the
spectrograms of the new audio's windows, and with `batch_norm` every batch-normalisation layer's moving mean and
variance become those of its inputs on these windows (AdaBN: Li et al., 2016, "Revisiting batch normalization for
practical domain adaptation").
"""

import dataclasses
import datetime
import math
import os
import warnings

import keras
import numpy as np

from keras_ser.audio import NORMALIZERS, AudioError
from keras_ser.explain.graph import named_layers
from keras_ser.layers import QuaternionBatchNormalization
from keras_ser.presets.classifier import _expand

# Fewer windows than this (4 s each by default) describe a speaker or a room rather than a domain.
MIN_WINDOWS = 20
BATCH_NORM_LAYERS = (keras.layers.BatchNormalization, QuaternionBatchNormalization)
# Unreadable files named in an error message; the rest are counted.
LISTED_FAILURES = 10


def adapt(model, sources, sampling_rate=None, *, normalizer="auto", batch_norm=False, inplace=False, batch_size=32,
          min_windows=MIN_WINDOWS, on_error="fail", progress=True, channels_first=None):
    """`model` (a SERClassifier) adapted to unlabelled audio: a copy, or `model` itself with `inplace=True`.

    `sources`: audio files and folders (every audio file below them), or, with `sampling_rate`, clips as arrays
    (read as `predict_batch` reads them). `normalizer` refits the input normaliser on the clips' windows
    (True; "auto": when it has statistics, not for per-window normalisation; False: never);
    `batch_norm` then recomputes the moving statistics of every batch-norm layer (AdaBN). Unreadable files raise
    one error naming them (on_error="fail") or are skipped with a warning (on_error="skip"). The adaptation is
    appended to `model.metadata["adaptations"]`, which `save_preset` writes.
    """
    parts = _parts(model, normalizer, batch_norm)
    if on_error not in ("skip", "fail"):
        raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    signals, skipped = _signals(model.preprocessor, sources, sampling_rate, on_error, channels_first, progress)
    windows = np.concatenate([model.preprocessor.windows(signal) for signal in signals])
    if len(windows) < min_windows:
        raise ValueError(
            f"{len(signals)} clip(s) give {len(windows)} window(s) of {model.preprocessor.segment_seconds:g} s, "
            f"fewer than the {min_windows} needed to estimate a domain's statistics; give more audio of the domain, "
            "or lower min_windows")
    target = model if inplace else _copy(model)
    record = {"date": datetime.date.today().isoformat(), "clips": len(signals), "windows": len(windows),
              "parts": parts}
    if "normalizer" in parts:
        record["normalizer"] = adapt_normalizer(target, windows, batch_size, progress)
    if "batch_norm" in parts:
        record["batch_norm_layers"] = adapt_batch_norm(target.scorer, windows, batch_size, progress)
    if skipped:
        record["skipped"] = skipped
    metadata = getattr(target, "metadata", None) or {}
    target.metadata = {**metadata, "adaptations": [*metadata.get("adaptations", []), record]}
    return target


def _parts(model, normalizer, batch_norm):
    """The parts to adapt, or a ValueError when one asked for does not exist in `model`.

    `normalizer="auto"` adapts the input normaliser when it has statistics to fit, and skips it otherwise.
    """
    if normalizer not in (True, False, "auto"):
        raise ValueError(f"normalizer must be True, False or 'auto', got {normalizer!r}")
    normalizer = normalizer if normalizer == "auto" else bool(normalizer)  # 1, numpy booleans
    kind = (model.preprocessor.normalizer or {}).get("kind")
    fittable = kind is not None and bool(NORMALIZERS[kind]._statistics)
    parts = []
    if normalizer is True and kind is None:
        raise ValueError(f"model {model.name!r} has no input normaliser to adapt; pass normalizer=False")
    if normalizer is True and not fittable:
        raise ValueError(f"model {model.name!r} normalises each window by its own mean and variance "
                         f"({kind!r}), so its normaliser has nothing to fit; pass normalizer=False")
    if normalizer is True or (normalizer == "auto" and fittable):
        parts.append("normalizer")
    if batch_norm:
        if not batch_norm_layers(model.scorer):
            raise ValueError(f"model {model.name!r} has no batch-normalisation layers whose statistics could be "
                             "adapted; pass batch_norm=False")
        parts.append("batch_norm")
    if not parts:
        why = ("normalizer=False" if normalizer is False
               else f"its input normaliser ({kind or 'none'}) has no statistics to fit")
        raise ValueError(f"nothing to adapt in model {model.name!r}: {why} and batch_norm=False; "
                         "pass batch_norm=True (AdaBN)")
    return parts


def _signals(preprocessor, sources, sampling_rate, on_error, channels_first, progress):
    """Mono signals at the preprocessor's rate, from arrays or from files and folders; and the files skipped."""
    arrays = isinstance(sources, np.ndarray) or (isinstance(sources, (list, tuple))
                                                  and any(isinstance(source, np.ndarray) for source in sources))
    if arrays or sampling_rate is not None:
        return _resampled(preprocessor, sources, sampling_rate, channels_first), []
    return _loaded(preprocessor, sources, on_error, progress)


def _resampled(preprocessor, clips, sampling_rate, channels_first):
    if sampling_rate is None:
        raise ValueError("audio arrays need their sampling_rate (Hz)")
    if isinstance(clips, (str, bytes, os.PathLike)) or (isinstance(clips, np.ndarray) and clips.ndim < 2):
        raise ValueError("with sampling_rate, sources must be a list of clips (arrays) or a 2-D array (clips, "
                         "samples); files and folders are read without sampling_rate")
    return preprocessor.resample_clips(clips, sampling_rate, channels_first)


def _loaded(preprocessor, sources, on_error, progress):
    files = _expand([sources] if isinstance(sources, (str, os.PathLike)) else sources)
    if not files:
        raise ValueError("no audio given: pass audio files or folders, or clips (arrays) with sampling_rate")
    bar = keras.utils.Progbar(len(files), unit_name="file") if progress and len(files) > 1 else None
    signals, failures = [], []
    for i, source in enumerate(files):
        try:
            signals.append(preprocessor.load(source))
        except AudioError as error:
            failures.append({"source": error.path, "error": error.reason})
        if bar is not None:
            bar.update(i + 1)
    if failures and (on_error == "fail" or not signals):
        listed = "; ".join(f"'{failure['source']}' ({failure['error']})" for failure in failures[:LISTED_FAILURES])
        more = f"; and {len(failures) - LISTED_FAILURES} more" if len(failures) > LISTED_FAILURES else ""
        fix = ("remove or repair them, or pass on_error='skip' to adapt on the others" if signals
               else "give readable audio")
        raise ValueError(f"{len(failures)} of {len(files)} audio files cannot be read: {listed}{more}; {fix}")
    if failures:
        warnings.warn(f"skipped {len(failures)} unreadable audio file(s): "
                      + ", ".join(f"'{failure['source']}'" for failure in failures[:LISTED_FAILURES]), stacklevel=5)
    return signals, failures


def _copy(model):
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    copy.metadata = dict(getattr(model, "metadata", None) or {})
    return copy


def _progress_bar(total, unit, progress):
    return keras.utils.Progbar(total, unit_name=unit) if progress else None


def _batches(function, inputs, batch_size, bar):
    """`function` of each batch of `inputs`, as float64 numpy arrays."""
    for start in range(0, len(inputs), batch_size):
        yield np.asarray(keras.ops.convert_to_numpy(function(inputs[start : start + batch_size])), dtype=np.float64)
        if bar is not None:
            bar.add(1)


def adapt_normalizer(model, windows, batch_size=32, progress=True):
    """Refit the normaliser of `model` (a SERClassifier), layer and preprocessor, on the spectrograms of `windows`.

    Returns {"kind", "before", "after"}: the statistics before and after.
    """
    layer, spectrogram = model.get_layer("normalizer"), model.get_layer("spectrogram")
    before = layer.statistics
    bar = _progress_bar(math.ceil(len(windows) / batch_size), "batch", progress)
    layer.adapt(_batches(spectrogram, windows, batch_size, bar))
    model.preprocessor = dataclasses.replace(model.preprocessor, normalizer={"kind": layer.kind, **layer.statistics})
    return {"kind": layer.kind, "before": before, "after": layer.statistics}


def batch_norm_layers(network):
    """(path, layer) of the batch-norm layers (real and quaternion) of a functional model and the models nested in
    it, in forward order; paths as "nested_model/layer"."""
    return [(path, layer) for path, layer, _ in named_layers(network) if isinstance(layer, BATCH_NORM_LAYERS)]


def adapt_batch_norm(network, inputs, batch_size=32, progress=True):
    """AdaBN: set every batch-norm layer's moving mean and variance to those of its inputs when `network` (a
    functional model) runs on `inputs`, in inference mode. Returns the layers' paths.

    Layers are adapted in forward order, each from the inputs the already adapted layers before it give, so the
    statistics are exactly those the adapted network sees; this costs one pass up to each layer. A real layer
    gets each channel's mean and biased variance; a quaternion layer each component's mean and the sum of the four
    components' variances (`QuaternionBatchNormalization`).
    """
    layers = batch_norm_layers(network)
    bar = _progress_bar(len(layers) * math.ceil(len(inputs) / batch_size), "batch", progress)
    for path, layer in layers:
        axis = -1 if isinstance(layer, QuaternionBatchNormalization) else layer.axis
        feed = _input_model(network, path)
        mean, variance = _moments(_batches(lambda batch: feed(batch, training=False), inputs, batch_size, bar), axis)
        if isinstance(layer, QuaternionBatchNormalization):
            variance = variance.reshape(4, -1).sum(axis=0)
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)
    return [path for path, _ in layers]


def _input_model(network, path):
    """A model from `network`'s input to the input of the layer at `path` ("layer" or "nested_model/.../layer")."""
    name, _, rest = path.partition("/")
    layer, seen = network.get_layer(name), {}

    def call(inner, *args, **kwargs):
        if inner is layer:
            seen["input"] = args[0]
        return inner(*args, **kwargs)

    # A copy of `network` sharing its layers gives the tensor `layer` is called on, in a graph of `network`'s own.
    copy = keras.models.clone_model(network, clone_function=lambda inner: inner, call_function=call)
    inputs = _input_model(layer, rest)(seen["input"]) if rest else seen["input"]
    return keras.Model(copy.input, inputs)


def _moments(batches, axis):
    """Per-channel mean and biased variance over all positions of the batches (channels on `axis`), in float64."""
    count, mean, squares = 0, 0.0, 0.0
    for batch in batches:
        values = np.moveaxis(batch, axis, -1).reshape(-1, batch.shape[axis])
        n, batch_mean = len(values), values.mean(axis=0)
        delta, total = batch_mean - mean, count + n
        squares = squares + np.square(values - batch_mean).sum(axis=0) + np.square(delta) * count * n / total
        mean, count = mean + delta * n / total, total
    return mean, squares / count
