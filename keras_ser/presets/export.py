"""Export a one-input Keras model to deployment formats: TF SavedModel, TFLite (LiteRT) and ONNX.

Every artifact takes the model's input with a dynamic batch and the model's
fixed per-example shape, e.g. float32 (None, 64000) audio for a zoo classifier,
and returns what the model returns. Export runs on the TensorFlow backend.
"""

import importlib.util
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np
from keras import ops

from keras_ser.audio.spectrogram import Spectrogram, _check_waves, _fit_time_axis, _frequency_scale, _hamming

EXPORT_FORMATS = ("savedmodel", "tflite", "onnx")
_FILE_SUFFIXES = {"tflite": ".tflite", "onnx": ".onnx"}
_SAVED_MODEL_FILE = "saved_model.pb"
_INSTALL_TENSORFLOW = 'pip install "keras-ser[cpu]"'
# The ONNX exporter Keras uses on the TensorFlow backend, and the package it builds on (the `onnx` extra).
_ONNX_PACKAGES = ("tf2onnx", "onnx")
_INSTALL_ONNX = 'pip install "keras-ser[onnx]"'


def export_model(model, path, format="savedmodel", verbose=True, overwrite=False):
    """Write `model` to `path` as `format` (one of EXPORT_FORMATS) and return the path written.

    - "savedmodel": a TF SavedModel directory whose `serve` endpoint (also the
      `serving_default` signature) takes the input batch.
    - "tflite": a `.tflite` file with one signature. Conversion uses TFLite
      built-in ops only, so the file runs on the plain LiteRT runtime (the
      spectrogram's STFT becomes the built-in RFFT2D); if the model has ops
      without a built-in kernel, it is converted again with TF Select ops
      (`SELECT_TF_OPS`) and a warning names them: such a file needs a runtime
      with the Flex delegate (the tensorflow-cpu wheel's `tf.lite.Interpreter`
      has none).
    - "onnx": a `.onnx` file, through Keras's tf2onnx exporter (needs `tf2onnx`
      and `onnx`, the `onnx` extra; run it with `onnxruntime`). tf2onnx cannot
      convert an STFT, so each `keras_ser.audio.Spectrogram` is exported as
      `FourierConvolutionSpectrogram`, the same spectrogram computed by a strided
      convolution; ops tf2onnx still cannot convert raise an error naming them.

    The `.tflite`/`.onnx` suffix is appended to `path` when missing. An
    existing `path` is replaced only with `overwrite=True`, and then only if it
    is a file (tflite, onnx) or a SavedModel directory (savedmodel). The
    artifact is written beside `path` first, so a failed export leaves no
    partial output behind.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}: choose one of {', '.join(EXPORT_FORMATS)}")
    _check_tensorflow(format)
    if format == "onnx":
        _check_onnx_packages()
    input_spec = _input_spec(model)
    path = _output_path(path, format)
    _check_replaceable(path, format, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as staging:
        staged = Path(staging) / path.name
        _WRITERS[format](model, staged, input_spec)
        _remove(path)
        staged.rename(path)
    if verbose:
        size = _size(path) / 1e6
        print(f"Exported {format} to '{path}' ({size:.2f} MB; input {input_spec.dtype} {input_spec.shape})")
    return path


def _check_tensorflow(format):
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(
            f"exporting to {format} needs TensorFlow, which is not installed: {_INSTALL_TENSORFLOW}, "
            "then run with KERAS_BACKEND=tensorflow"
        )
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"exporting to {format} needs the TensorFlow backend, but Keras runs on {keras.backend.backend()!r}: "
            "run with KERAS_BACKEND=tensorflow (the model's weights load on any backend)"
        )


def _check_onnx_packages():
    missing = [name for name in _ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"ONNX export needs {' and '.join(missing)}, not installed: {_INSTALL_ONNX} "
            "(tf2onnx, onnx, and onnxruntime to run the .onnx file)"
        )


def _input_spec(model):
    """The model's single input with a dynamic batch and its fixed per-example shape."""
    inputs = getattr(model, "inputs", None)
    if not isinstance(model, keras.Model) or not inputs:
        raise ValueError(
            f"export needs a built functional keras.Model, got {type(model).__name__}: "
            "build it with keras.Input(...) and keras.Model(inputs, outputs)"
        )
    if len(inputs) != 1:
        raise ValueError(f"export supports models with one input, but '{model.name}' has {len(inputs)}")
    shape = tuple(inputs[0].shape[1:])
    if None in shape:
        raise ValueError(
            f"export needs a fixed input shape, but '{model.name}' takes (batch, {', '.join(map(str, shape))}): "
            "build it with a fixed length, e.g. keras.Input((64000,)) for 4 s at 16 kHz"
        )
    return keras.InputSpec(shape=(None, *shape), dtype=inputs[0].dtype, name=inputs[0].name)


def _output_path(path, format):
    path = Path(path).expanduser()
    suffix = _FILE_SUFFIXES.get(format)
    if suffix and path.suffix != suffix:
        path = path.with_name(path.name + suffix)
    return path


def _check_replaceable(path, format, overwrite):
    if not path.exists() and not path.is_symlink():
        return
    if not overwrite:
        raise FileExistsError(f"'{path}' already exists: choose another path, or pass overwrite=True to replace it")
    is_saved_model = path.is_dir() and (path / _SAVED_MODEL_FILE).is_file()
    if format == "savedmodel" and not is_saved_model:
        raise FileExistsError(
            f"'{path}' exists and is not a SavedModel directory; not replacing it, choose another path"
        )
    if format != "savedmodel" and not path.is_file():
        raise FileExistsError(f"'{path}' exists and is not a file; not replacing it, choose another path")


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _size(path):
    if path.is_dir():
        return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())
    return path.stat().st_size


def _write_saved_model(model, path, input_spec):
    model.export(str(path), format="tf_saved_model", verbose=False, input_signature=[input_spec])


def _write_tflite(model, path, input_spec):
    import tensorflow as tf
    from tensorflow.lite.python.convert_phase import ConverterError

    with tempfile.TemporaryDirectory() as saved_model:
        _write_saved_model(model, Path(saved_model), input_spec)
        try:
            flatbuffer = _convert_saved_model(saved_model, [tf.lite.OpsSet.TFLITE_BUILTINS])
        except ConverterError as error:
            select_ops = re.search(r"TF Select ops: (.*)", str(error))
            if select_ops is None:
                raise
            warnings.warn(
                f"'{model.name}' uses ops with no TFLite built-in kernel ({select_ops.group(1)}); they are exported "
                "as TF Select ops, so the .tflite file needs the Flex delegate to run "
                "(see https://ai.google.dev/edge/litert/models/ops_select)",
                stacklevel=3,
            )
            flatbuffer = _convert_saved_model(
                saved_model, [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
            )
    path.write_bytes(flatbuffer)


def _convert_saved_model(saved_model, supported_ops):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    converter.target_spec.supported_ops = supported_ops
    return converter.convert()


class FourierConvolutionSpectrogram(Spectrogram):
    """`Spectrogram` with its STFT as a strided Conv1D whose fixed kernels are the windowed cosines and sines.

    Gives the same output as `Spectrogram` (up to float32 rounding) from ops that
    tf2onnx converts: reflection padding, convolution, square root.
    """

    def build(self, input_shape):
        s = self.settings
        # Only the bins the output uses: all of them for mel bands, else the lowest frequency_bins.
        bins = s.frame_length // 2 + 1 if s.mel_bins else s.frequency_bins
        angles = 2 * np.pi * np.outer(np.arange(s.frame_length), np.arange(bins)) / s.frame_length
        window = _hamming(s.frame_length)[:, None]
        kernel = np.concatenate([np.cos(angles) * window, -np.sin(angles) * window], axis=1)
        self.kernel = kernel[:, None, :].astype("float32")  # (frame_length, 1 channel, 2 x bins)

    def call(self, waves):
        s = self.settings
        waves = ops.cast(_check_waves(waves, s.frame_length), "float32")
        half = s.frame_length // 2
        padded = ops.pad(waves, [[0, 0], [half, half]], mode="reflect")
        parts = ops.conv(padded[:, :, None], self.kernel, strides=s.hop_length, padding="valid")
        real, imag = ops.split(parts, 2, axis=-1)
        magnitude = _fit_time_axis(ops.sqrt(ops.square(real) + ops.square(imag)), s.time_steps, ops.pad, ops.shape)
        return ops.expand_dims(_frequency_scale(magnitude, s, ops), -1)


def _with_convolution_stft(model):
    """A functional copy of `model` sharing its layers, each `Spectrogram` replaced by its convolution twin."""

    def replace(layer):
        if isinstance(layer, Spectrogram):
            return FourierConvolutionSpectrogram.from_config(layer.get_config())
        return layer

    return keras.models.clone_model(model, clone_function=replace, recursive=True)


def _write_onnx(model, path, input_spec):
    import onnx

    _with_convolution_stft(model).export(str(path), format="onnx", verbose=False, input_signature=[input_spec])
    # tf2onnx leaves the TensorFlow ops it cannot convert in the graph instead of failing.
    nodes = onnx.load(str(path)).graph.node
    unconverted = sorted({node.op_type for node in nodes if not onnx.defs.has(node.op_type, node.domain)})
    if unconverted:
        raise RuntimeError(
            f"tf2onnx could not convert these TensorFlow ops of '{model.name}' to ONNX: {', '.join(unconverted)}; "
            "export it as savedmodel or tflite instead"
        )


_WRITERS = {"savedmodel": _write_saved_model, "tflite": _write_tflite, "onnx": _write_onnx}
