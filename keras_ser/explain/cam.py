"""Grad-CAM (Selvaraju et al., 2020; thesis Fig. 5.5): which time-frequency regions a conv layer's evidence for a class
comes from, for a zoo preset or a run model.

For each 4-s window of the clip: the gradient of the class score (the logit, before
the output's softmax) with respect to the conv layer's feature map A (h, w, c) gives
one weight per channel, its mean over positions; the map is ReLU(Σ_c weight_c A_c),
resized bilinearly from (h, w) to the model's input spectrogram grid and divided by
its maximum, so each window's map lies in [0, 1] (all zero when nothing in the window
speaks for the class). Feature maps of RH-emo-based models, computed from the
(64, 64, 4) embedding of a (512, 128) spectrogram, are stretched to the spectrogram
grid the same way.
"""

import contextlib
import dataclasses
import re

import keras
import numpy as np

from keras_ser.audio.io import is_file_source, source_name
from keras_ser.audio.spectrogram import spectrogram
from keras_ser.explain.graph import find_layer, split
from keras_ser.presets.classifier import SERClassifier
from keras_ser.presets.preprocessor import AudioPreprocessor


@dataclasses.dataclass
class GradCAM:
    """The Grad-CAM maps of one clip, one per window of the model.

    `maps`: (windows, time_steps, bins) in [0, 1], on the grid of `spectrograms`, the
    (windows, time_steps, bins) magnitudes the model reads (before its normaliser).
    Window i starts at `starts[i]` seconds; frame t of a window is t · hop_length / sample_rate
    seconds later (see `preprocessor.stft`). `class_name` is the class explained,
    `probability` its probability for the clip (the mean over windows, as `predict_file`
    pools them), `layer` the path of the conv layer, e.g. "alexnet/conv5" ("member_*/conv4": that layer of
    every member of a seed ensemble, their maps averaged before the division by the maximum);
    `source` names a clip read from a file (as `Prediction.source`), None for an array.
    """

    maps: np.ndarray
    spectrograms: np.ndarray
    class_name: str
    probability: float
    layer: str
    starts: np.ndarray
    duration: float
    preprocessor: AudioPreprocessor
    source: str | None = None


def grad_cam(model, clip, layer=None, class_name=None, *, preprocessor=None, class_names=None):
    """The Grad-CAM of `clip` for `model` at conv `layer`, as a `GradCAM` with one map per window.

    `model`: a `SERClassifier` (a zoo preset, `keras_ser.load`), or a keras.Model on
    spectrograms (a run's model.keras: normaliser + network), which then needs the
    `preprocessor` of its front end (default: `AudioPreprocessor()`, METHODS.md's 512 x 128)
    and may take `class_names` (default: "0", "1", ...). `clip`: a path, the file's bytes,
    a file-like object, or a 1-D float array at the preprocessor's sample rate (16 kHz).
    `layer`: a conv layer's name or path (e.g. "alexnet/conv5"); None takes the last conv
    layer (for quaternion networks, the last quaternion conv). `class_name`: None
    explains the clip's top class. A seed ensemble (`logmel-cnn-x3`) is explained member by member, each for
    its own logit, and their maps averaged; a path such as "member_1/conv4" explains one member.
    """
    network, preprocessor, class_names = _spectrogram_network(model, preprocessor, class_names)
    explained, path = _explained(model, network, layer)
    signal = preprocessor.load(clip) if is_file_source(clip) else preprocessor.resample(clip, preprocessor.sample_rate)
    spectrograms = spectrogram(preprocessor.windows(signal), preprocessor.stft)
    x = keras.ops.convert_to_tensor(spectrograms)
    scores = keras.ops.convert_to_numpy(network(x, training=False)).mean(axis=0)
    index = _class_index(class_names, class_name, scores)
    cams = np.mean([_cam(member, conv, owner, x, index) for member, (_, conv, owner) in explained], axis=0)
    grid = spectrograms.shape[1:3]
    maps = keras.ops.convert_to_numpy(keras.ops.image.resize(cams[..., None], grid, interpolation="bilinear"))[..., 0]
    peaks = maps.max(axis=(1, 2), keepdims=True)
    maps = np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0).clip(0.0, 1.0)
    hop = preprocessor.hop_seconds or preprocessor.segment_seconds
    return GradCAM(maps, spectrograms[..., 0], class_names[index], float(scores[index]), path,
                   np.arange(len(maps)) * hop, len(signal) / preprocessor.sample_rate, preprocessor,
                   source_name(clip) if is_file_source(clip) else None)


def _explained(model, network, layer):
    """[(network, find_layer's (path, conv, owner))] to explain, and the layer's path. A seed ensemble's members
    are explained one by one, each for its own logit: all of them at `layer` (a name within a member, or None
    for each one's last conv; path "member_*/<name>"), or the one member a path such as "member_1/conv4" names."""
    if not (isinstance(model, SERClassifier) and len(model.networks) > 1):
        found = find_layer(network, layer)
        return [(network, found)], found[0]
    spectrograms = model.get_layer("spectrogram").output  # `network`'s input, in the graph of the members' outputs
    members = [keras.Model(spectrograms, output, name=member.name)
               for member, output in zip(model.networks, model.member_outputs, strict=True)]
    named = [member for member in members if layer is not None and layer.split("/")[0] == member.name]
    if not named and layer is not None and re.fullmatch(r"member_\d+/.+", layer):
        raise ValueError(f"model {model.name!r} has no member {layer.split('/')[0]!r}; its members are "
                         f"{', '.join(member.name for member in members)}")
    explained = [(member, find_layer(member, layer)) for member in named or members]
    path = explained[0][1][0]
    return explained, path if named else "member_*/" + path.split("/", 1)[1]


def _cam(network, conv, owner, x, index):
    """(windows, h, w) ReLU of the conv's feature map weighted by the mean gradient of class `index`'s logit."""
    head, tail = split(network, conv, owner)
    activations = head(x)
    with _logits(network):
        gradients = _gradient(lambda a: tail(x, a)[:, index], activations)
    activations = keras.ops.convert_to_numpy(activations)
    return np.maximum(np.einsum("nhwc,nc->nhw", activations, gradients.mean(axis=(1, 2))), 0.0)


def _spectrogram_network(model, preprocessor, class_names):
    """The model from (batch, time_steps, bins, 1) spectrograms to class scores, its preprocessor and class names."""
    if isinstance(model, SERClassifier):
        if preprocessor is not None or class_names is not None:
            raise ValueError("a SERClassifier brings its own preprocessor and class names: pass neither")
        network = keras.Model(model.get_layer("spectrogram").output, model.output, name=model.name)
        return network, model.preprocessor, model.class_names
    if not isinstance(model, keras.Model) or len(getattr(model, "inputs", None) or ()) != 1:
        raise TypeError(f"model must be a SERClassifier (keras_ser.load) or a functional keras.Model with one "
                        f"spectrogram input (a run's model.keras), got {type(model).__name__}")
    preprocessor = preprocessor or AudioPreprocessor()
    expected = (preprocessor.stft.time_steps, preprocessor.stft.bins, 1)
    if tuple(model.inputs[0].shape[1:]) != expected:
        raise ValueError(
            f"model {model.name!r} takes inputs of shape {tuple(model.inputs[0].shape[1:])}, but the preprocessor "
            f"makes {expected} spectrograms: pass preprocessor=AudioPreprocessor(segment_seconds=..., stft=...) with "
            "the run's data settings (config.data.stft()); for a run on RH-emo embeddings, explain its preset "
            "(keras-ser preset RUN_DIR FOLDER)")
    outputs = model.outputs[0].shape[-1]
    class_names = list(class_names) if class_names is not None else [str(i) for i in range(outputs)]
    if len(class_names) != outputs:
        raise ValueError(f"class_names has {len(class_names)} names, but model {model.name!r} scores {outputs} classes")
    return model, preprocessor, class_names


def _class_index(class_names, class_name, scores):
    if class_name is None:
        return int(np.argmax(scores))
    if class_name not in class_names:
        raise ValueError(f"unknown class {class_name!r}; the model's classes are: {', '.join(class_names)}")
    return class_names.index(class_name)


@contextlib.contextmanager
def _logits(model):
    """`model` scoring classes without the softmax of its last layer, if it has one, for the duration."""
    last = model.layers[-1]
    while isinstance(last, keras.Model):
        last = last.layers[-1]
    softmax = getattr(last, "activation", None) is keras.activations.softmax
    if softmax:
        last.activation = keras.activations.linear
    try:
        yield
    finally:
        if softmax:
            last.activation = keras.activations.softmax


def _gradient(function, x):
    """The gradient of sum(function(x)) with respect to the tensor `x`, as numpy, on Keras's backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(function(x))
        return tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda a: keras.ops.sum(function(a)))(x))
    if backend == "torch":
        import torch

        x = x.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(keras.ops.sum(function(x)), x)
        return gradient.cpu().numpy()
    raise NotImplementedError(f"Grad-CAM needs gradients, which keras-ser takes on the tensorflow, jax and torch "
                              f"backends; set KERAS_BACKEND to one of them (now {backend!r})")
