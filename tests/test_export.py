"""Export to SavedModel, TFLite and ONNX: each artifact is run and compared with the Keras model."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_ser.audio import Spectrogram, ZScoreNormalizer
from keras_ser.layers import QuaternionConv2D, QuaternionDense
from keras_ser.presets.export import EXPORT_FORMATS, FourierConvolutionSpectrogram, export_model

tf = pytest.importorskip("tensorflow")

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="export runs on the TensorFlow backend"),
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning:keras.src.export.tf2onnx_lib"),
]

SAMPLES = 16000
ONNX_INSTALLED = all(importlib.util.find_spec(name) for name in ("tf2onnx", "onnx"))


def classifier():
    """Audio → spectrogram → z-score → conv, quaternion conv, quaternion dense → 3-class softmax."""
    keras.utils.set_random_seed(3)
    audio = keras.Input((SAMPLES,), name="audio")
    x = ZScoreNormalizer(mean=0.8, std=1.5, name="normalizer")(Spectrogram(name="spectrogram")(audio))
    x = keras.layers.MaxPooling2D((8, 4))(x)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = QuaternionConv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = QuaternionDense(8, activation="relu")(x)
    wide_init = keras.initializers.RandomNormal(stddev=4.0)
    probabilities = keras.layers.Dense(3, activation="softmax", kernel_initializer=wide_init)(x)
    return keras.Model(audio, probabilities, name="audio_classifier")


@pytest.fixture(scope="module")
def model():
    return classifier()


@pytest.fixture(scope="module")
def batch():
    """Three different sounds: a 440 Hz tone, white noise, and a chirp with noise."""
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLES) / 16000
    return np.stack([
        0.5 * np.sin(2 * np.pi * 440 * t),
        0.3 * rng.standard_normal(SAMPLES),
        0.4 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.05 * rng.standard_normal(SAMPLES),
    ]).astype("float32")


def predict(model, batch):
    probabilities = model.predict(batch, verbose=0)
    # Far from uniform, so matching them is a real check of the exported graph.
    assert np.abs(probabilities - 1 / 3).max() > 0.1
    return probabilities


@pytest.fixture(scope="module")
def expected(model, batch):
    return predict(model, batch)


def run_tflite(path, inputs):
    interpreter = tf.lite.Interpreter(model_path=str(path))
    (input_details,), (output_details,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(input_details["index"], inputs.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_details["index"], inputs)
    interpreter.invoke()
    return input_details, interpreter.get_tensor(output_details["index"])


def test_savedmodel_serves_the_model_outputs_with_dynamic_batch(model, batch, expected, tmp_path):
    path = export_model(model, tmp_path / "classifier", verbose=False)
    assert path == tmp_path / "classifier" and (path / "saved_model.pb").is_file()
    artifact = tf.saved_model.load(str(path))
    (spec,), _ = artifact.serve.concrete_functions[0].structured_input_signature
    assert spec.shape.as_list() == [None, SAMPLES] and spec.dtype == tf.float32
    np.testing.assert_allclose(artifact.serve(batch).numpy(), expected, atol=1e-4, rtol=1e-3)
    np.testing.assert_allclose(artifact.serve(batch[1:2]).numpy(), expected[1:2], atol=1e-4, rtol=1e-3)


def test_tflite_uses_builtin_ops_only_and_matches_the_model(model, batch, expected, tmp_path, capsys):
    path = export_model(model, tmp_path / "classifier", format="tflite")
    assert path == tmp_path / "classifier.tflite"
    assert f"Exported tflite to '{path}'" in capsys.readouterr().out
    # Select (Flex) ops are stored as custom ops named "Flex<Op>"; the STFT must not need them.
    assert b"Flex" not in path.read_bytes()
    input_details, probabilities = run_tflite(path, batch)
    assert list(input_details["shape_signature"]) == [-1, SAMPLES]
    np.testing.assert_allclose(probabilities, expected, atol=1e-4, rtol=1e-3)


def test_tflite_falls_back_to_select_ops_and_warns(tmp_path):
    values = keras.Input((6,))
    model = keras.Model(values, keras.layers.Lambda(keras.ops.erf)(values), name="erf_model")
    with pytest.warns(UserWarning, match=r"'erf_model' uses ops with no TFLite built-in kernel \(Erf\).*Flex delegate"):
        path = export_model(model, tmp_path / "erf.tflite", format="tflite", verbose=False)
    assert b"FlexErf" in path.read_bytes()
    # The tensorflow-cpu wheel's interpreter has no Flex delegate, so the file is read but not run here.
    (input_details,) = tf.lite.Interpreter(model_path=str(path)).get_input_details()
    assert list(input_details["shape_signature"]) == [-1, 6]


def run_onnx(path, inputs):
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_input,) = session.get_inputs()
    assert onnx_input.shape[1] == inputs.shape[1] and not isinstance(onnx_input.shape[0], int)  # dynamic batch
    (outputs,) = session.run(None, {onnx_input.name: inputs})
    return outputs


@pytest.mark.parametrize("settings", [
    {},
    {"mel_bins": 40, "compression": "log", "time_steps": 100},
    {"frame_length": 320, "hop_length": 160, "time_steps": 90, "frequency_bins": 161},
])
def test_convolution_stft_computes_the_spectrogram(batch, settings):
    expected = keras.ops.convert_to_numpy(Spectrogram(**settings)(batch))
    actual = keras.ops.convert_to_numpy(FourierConvolutionSpectrogram(**settings)(batch))
    np.testing.assert_allclose(actual, expected, atol=2e-3 if settings.get("compression") == "log" else 1e-4)


@pytest.mark.skipif(not ONNX_INSTALLED, reason='tf2onnx and onnx are not installed: pip install -e ".[onnx]"')
def test_onnx_exports_the_stft_and_matches_the_model(model, batch, expected, tmp_path):
    path = export_model(model, tmp_path / "classifier", format="onnx", verbose=False)
    assert path == tmp_path / "classifier.onnx"
    np.testing.assert_allclose(run_onnx(path, batch), expected, atol=1e-4, rtol=1e-3)
    assert type(model.get_layer("spectrogram")) is Spectrogram  # the model itself is unchanged


@pytest.mark.skipif(not ONNX_INSTALLED, reason='tf2onnx and onnx are not installed: pip install -e ".[onnx]"')
def test_cli_exports_the_smallest_preset_to_onnx(tmp_path):
    from keras_ser.cli import main
    from keras_ser.presets import load

    preset = load("rhemo")
    rng = np.random.default_rng(1)
    t = np.arange(preset.preprocessor.window_samples) / 16000
    windows = np.stack([0.5 * np.sin(2 * np.pi * 220 * t * (1 + t)), 0.1 * rng.standard_normal(t.size),
                        np.zeros(t.size)]).astype("float32")
    assert main(["export", "rhemo", "--format", "onnx", "--output", str(tmp_path / "rhemo")]) == 0
    np.testing.assert_allclose(run_onnx(tmp_path / "rhemo.onnx", windows), preset.predict(windows, verbose=0),
                               atol=1e-5)


@pytest.mark.skipif(not ONNX_INSTALLED, reason='tf2onnx and onnx are not installed: pip install -e ".[onnx]"')
def test_onnx_names_the_ops_tf2onnx_cannot_convert(tmp_path):
    audio = keras.Input((SAMPLES,))
    real, _ = keras.ops.stft(audio, 256, 128, 256)
    with pytest.raises(RuntimeError, match=r"could not convert these TensorFlow ops of 'raw_stft' to ONNX: "
                                           r"RFFT, Real; export it as savedmodel or tflite"):
        export_model(keras.Model(audio, real, name="raw_stft"), tmp_path / "stft", format="onnx")
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(ONNX_INSTALLED, reason="tf2onnx and onnx are installed; the ONNX export itself is tested")
def test_onnx_without_its_packages_names_them(model, tmp_path):
    with pytest.raises(ImportError, match=r'ONNX export needs .*(tf2onnx|onnx).*pip install "keras-ser\[onnx\]"'):
        export_model(model, tmp_path / "classifier", format="onnx")
    assert not any(tmp_path.iterdir())


def test_unknown_format_lists_the_valid_ones(model, tmp_path):
    assert EXPORT_FORMATS == ("savedmodel", "tflite", "onnx")
    with pytest.raises(ValueError, match="unknown export format 'pb': choose one of savedmodel, tflite, onnx"):
        export_model(model, tmp_path / "classifier", format="pb")


def test_existing_path_is_kept_unless_overwrite(model, batch, expected, tmp_path):
    path = tmp_path / "classifier.tflite"
    path.write_bytes(b"an older file")
    with pytest.raises(FileExistsError, match="classifier.tflite' already exists.*overwrite=True"):
        export_model(model, path, format="tflite")
    assert path.read_bytes() == b"an older file"
    assert export_model(model, path, format="tflite", overwrite=True, verbose=False) == path
    np.testing.assert_allclose(run_tflite(path, batch)[1], expected, atol=1e-4, rtol=1e-3)
    assert sorted(tmp_path.iterdir()) == [path]  # the staging folder is gone

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes' exists and is not a SavedModel directory"):
        export_model(model, folder, overwrite=True)
    assert (folder / "keep.txt").read_text() == "mine"


def test_model_input_must_be_single_and_fixed(tmp_path):
    audio = keras.Input((None,))
    with pytest.raises(ValueError, match=r"needs a fixed input shape.*takes \(batch, None\).*Input\(\(64000,\)\)"):
        export_model(keras.Model(audio, keras.layers.Dense(2)(audio[:, :, None])), tmp_path / "m")
    left, right = keras.Input((4,)), keras.Input((4,))
    with pytest.raises(ValueError, match="export supports models with one input, but 'pair' has 2"):
        export_model(keras.Model([left, right], left + right, name="pair"), tmp_path / "m")


def test_missing_tensorflow_says_how_to_install_it(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # what `import tensorflow` meets when it is absent
    with pytest.raises(ImportError, match=r'exporting to savedmodel needs TensorFlow.*pip install "keras-ser\[cpu\]"'):
        export_model(model, tmp_path / "classifier")


BACKEND_SCRIPT = """
import keras
from keras_ser.presets.export import export_model
inputs = keras.Input((8,))
try:
    export_model(keras.Model(inputs, keras.layers.Dense(2)(inputs)), "{path}", format="tflite")
except RuntimeError as error:
    print(error)
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_other_backend_is_refused_with_the_fix(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    script = BACKEND_SCRIPT.format(path=tmp_path / "m")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "exporting to tflite needs the TensorFlow backend, but Keras runs on 'jax'" in result.stdout
    assert "KERAS_BACKEND=tensorflow" in result.stdout
    assert not any(tmp_path.iterdir())
