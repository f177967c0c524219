"""RH-emo's input options (`keras-ser rhemo --compression --normalization`): numerics, encoder.keras, presets, errors."""

import inspect
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_ser.training.rhemo_recipe as recipe
from keras_ser.audio import LogCompression, MaxNormalizer, Spectrogram, UtteranceNormalizer
from keras_ser.cli import build_parser, main
from keras_ser.datasets import FOUR_CLASS, cached_features, split_per_corpus
from keras_ser.models.rhemo import COMPRESSIONS, NORMALIZATIONS, fit_rhemo, rhemo_input
from keras_ser.models.rhemo.architecture import VAD_HEADS
from keras_ser.presets import SERClassifier
from keras_ser.presets import load as load_preset
from keras_ser.presets.from_run import _rhemo_commands, _rhemo_parts, _rhemo_preprocessor
from keras_ser.presets.loading import save_preset
from keras_ser.training.rhemo_recipe import train_rhemo

# The periodic 256-sample Hamming window sums to 0.54 x 256 (its cosine sums to 0): the floor is 1e-6 of that.
FLOOR = 1e-6 * 0.54 * 256
EPSILON = 1e-8  # added to each bin's variance
TINY = ["--max-items", "12", "--head-units", "4", "--stage2-epochs", "0"]


def numpy_front_end(x, compression, normalization, maximum=None):
    """RH-emo's input written out in numpy: log(x + FLOOR); x / maximum, or the logistic of each window's z-score
    per frequency bin over its audio frames (frames not all at the window's minimum, i.e. not padding)."""
    if normalization == "max":
        return np.asarray(x, np.float32) / np.float32(maximum)
    x = np.asarray(x, np.float64)
    if compression == "log":
        x = np.log(x + FLOOR)
    z = np.empty_like(x)
    for i, window in enumerate(x[..., 0]):
        audio = (window > window.min()).any(axis=1)
        frames = window[audio] if audio.any() else window
        z[i, ..., 0] = (window - frames.mean(axis=0)) / np.sqrt(frames.var(axis=0) + EPSILON)
    return 1 / (1 + np.exp(-z))


def test_log_compression_is_the_spectrograms_with_the_same_floor():
    x = np.random.default_rng(0).random((2, 8, 5, 1)).astype(np.float32) * 3
    x[0, :, 0] = 0  # silence gives log(floor)
    layer = LogCompression(Spectrogram().settings.log_floor)
    assert layer.floor == pytest.approx(FLOOR, rel=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), np.log(x + FLOOR), rtol=1e-6, atol=1e-6)
    waves = np.random.default_rng(1).normal(size=(2, 8000)).astype(np.float32) * 0.1
    waves[1, 3000:] = 0
    linear, logged = (Spectrogram(time_steps=80, compression=c)(waves) for c in ("none", "log"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(linear)), keras.ops.convert_to_numpy(logged),
                               rtol=1e-6, atol=1e-6)
    restored = LogCompression.from_config(layer.get_config())
    assert restored.floor == layer.floor
    with pytest.raises(ValueError, match="log floor must be a positive number"):
        LogCompression(0.0)


@pytest.mark.parametrize("compression", ["linear", "log"])
def test_utterance_input_is_the_logistic_of_the_per_bin_z_score_over_time(compression):
    x = np.random.default_rng(2).gamma(2.0, size=(3, 40, 6, 1)).astype(np.float32)
    x[1, 25:] = 0  # zero-padded tail: left out of the statistics
    x[2] = 0  # a window of nothing but padding
    magnitudes = LogCompression(FLOOR)(x) if compression == "log" else x
    got = keras.ops.convert_to_numpy(rhemo_input(magnitudes, UtteranceNormalizer()))
    np.testing.assert_allclose(got, numpy_front_end(x, compression, "utterance"), atol=2e-6)
    assert 0 < got.min() and got.max() < 1
    scaled = keras.ops.convert_to_numpy(rhemo_input(x, MaxNormalizer(maximum=7.0)))
    np.testing.assert_array_equal(scaled, numpy_front_end(x, "linear", "max", 7.0))


def _recorded(seen, key, function, argument=None):
    """`function`, storing its result (or its positional `argument`) in `seen[key]`."""

    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        seen[key] = result if argument is None else args[argument]
        return result

    return wrapper


@pytest.fixture(scope="module")
def runs(tmp_path_factory, corpus_root):
    """Tiny runs on 12 EmoDB files: the thesis's input, log + utterance (through the CLI, one epoch of stage 1)
    and linear + utterance; each with its metrics, raw training spectrograms and what stage 1 trained on."""
    corpus_root("emodb")
    folder, found = tmp_path_factory.mktemp("rhemo_front_end"), {}
    with pytest.MonkeyPatch.context() as patch:
        for compression, normalization in (("linear", "max"), ("log", "utterance"), ("linear", "utterance")):
            seen, run_dir = {}, folder / f"{compression}_{normalization}"
            patch.setattr(recipe, "split_per_corpus", _recorded(seen, "parts", split_per_corpus))
            patch.setattr(recipe, "cached_features", _recorded(seen, "features", cached_features))
            patch.setattr(recipe, "fit_rhemo", _recorded(seen, "x", fit_rhemo, argument=1))
            if compression == "log":
                assert main(["rhemo", "emodb", "--run-dir", str(run_dir), *TINY, "--stage1-epochs", "1",
                             "--stage1-minutes", "30", "--compression", "log", "--normalization", "utterance"]) == 0
            else:
                train_rhemo(["emodb"], run_dir, max_items=12, stage1=None, stage2=None, head_units=4,
                            progress=False, compression=compression, normalization=normalization)
            raw = np.asarray(seen["features"].subset(seen["parts"][0]).array())
            metrics = json.loads((run_dir / "metrics.json").read_text())
            found[compression, normalization] = run_dir, metrics, raw, seen["x"]
    return found


def test_the_thesis_input_is_unchanged(runs):
    """The defaults: x / the training maximum, bit for bit, in training and in encoder.keras (as before)."""
    assert inspect.signature(train_rhemo).parameters["compression"].default == "linear"
    assert inspect.signature(train_rhemo).parameters["normalization"].default == "max"
    arguments = build_parser().parse_args(["rhemo", "emodb"])
    assert (arguments.compression, arguments.normalization) == ("linear", "max")
    run_dir, metrics, raw, trained_on = runs["linear", "max"]
    assert (metrics["compression"], metrics["normalization"]) == ("linear", "max")
    assert metrics["training_maximum"] == float(raw.max())
    np.testing.assert_array_equal(trained_on, numpy_front_end(raw, "linear", "max", metrics["training_maximum"]))
    encoder = keras.saving.load_model(run_dir / "encoder.keras")
    assert [layer.name for layer in encoder.layers] == ["spectrogram", "max_scaling", "encoder"]
    expected = encoder.get_layer("encoder").predict(trained_on[:4], verbose=0)
    np.testing.assert_array_equal(encoder.predict(raw[:4], verbose=0), expected)
    assert "--compression" not in _rhemo_commands(run_dir, metrics)[-1]
    assert _rhemo_preprocessor(metrics).get_config()["normalizer"] == {"kind": "max",
                                                                     "maximum": metrics["training_maximum"]}


@pytest.mark.parametrize("compression", ["log", "linear"])
def test_encoder_keras_applies_the_chosen_input(runs, compression):
    run_dir, metrics, raw, trained_on = runs[compression, "utterance"]
    assert (metrics["compression"], metrics["normalization"], metrics["training_maximum"]) == (
        compression, "utterance", None)
    expected_input = numpy_front_end(raw, compression, "utterance")
    np.testing.assert_allclose(trained_on, expected_input, atol=1e-5)
    encoder = keras.saving.load_model(run_dir / "encoder.keras")
    names = [layer.name for layer in encoder.layers]
    assert names == ["spectrogram", *(["log_compression"] if compression == "log" else []), "utterance_scaling",
                     "logistic", "encoder"]
    expected = encoder.get_layer("encoder").predict(expected_input[:4].astype(np.float32), verbose=0)
    np.testing.assert_allclose(encoder.predict(raw[:4], verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_a_preset_of_the_run_reproduces_it_from_audio(runs, corpus_root, tmp_path):
    """The preset's preprocessor (log spectrogram, utterance normaliser, then the logistic) + the run's encoder and
    heads give what encoder.keras and the heads give on the linear spectrogram."""
    run_dir, metrics, _, _ = runs["log", "utterance"]
    assert _rhemo_commands(run_dir, metrics)[-1].endswith(
        "--stage1-minutes 30 --compression log --normalization utterance")
    assert metrics["epochs_trained"] == {"stage1": 1, "stage2": 0}
    preprocessor = _rhemo_preprocessor(metrics)
    assert preprocessor.stft.compression == "log" and preprocessor.normalizer == {"kind": "utterance"}
    model = SERClassifier(list(FOUR_CLASS), rhemo={"variant": "full", "head_units": 4, "heads": ["emotion", *VAD_HEADS]},
                          preprocessor=preprocessor)
    _rhemo_parts(run_dir, model)
    save_preset(model, tmp_path / "preset")
    preset = load_preset(str(tmp_path / "preset"))
    windows = preset.preprocessor.windows(preset.preprocessor.load(corpus_root("emodb") / "wav" / "08b02Tc.flac"))
    assert len(windows) == 2  # 7.7 s
    encoder = keras.saving.load_model(run_dir / "encoder.keras")
    embedding = encoder.predict(keras.ops.convert_to_numpy(Spectrogram()(windows)), verbose=0)
    trained = keras.saving.load_model(run_dir / "rhemo.keras", compile=False)
    scores = preset.score_windows(windows)
    for head in ("emotion", *VAD_HEADS):
        expected = trained.get_layer(f"{head}_head").predict(embedding, verbose=0)
        np.testing.assert_allclose(scores[head], expected.reshape(scores[head].shape), atol=1e-5)


JAX_SCRIPT = """
import sys
import numpy as np
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'tensorflow':
            raise ImportError('tensorflow is blocked in this test')
sys.meta_path.insert(0, NoTensorFlow())
import keras
import keras_ser.audio  # registers the front-end layers, as keras_ser.training.data does before loading
encoder_file, spectrograms, out = sys.argv[1:]
np.save(out, keras.saving.load_model(encoder_file).predict(np.load(spectrograms), verbose=0))
"""


@pytest.mark.slow  # a JAX process: 7-15 s
def test_encoder_keras_loads_and_gives_the_same_embedding_on_jax(runs, tmp_path):
    pytest.importorskip("jax", reason="JAX is not installed")
    run_dir, _, raw, _ = runs["log", "utterance"]
    np.save(tmp_path / "raw.npy", raw[:2].astype(np.float32))
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(run_dir / "encoder.keras"), str(tmp_path / "raw.npy"),
                           str(tmp_path / "jax.npy")], env={**os.environ, "KERAS_BACKEND": "jax"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    encoder = keras.saving.load_model(run_dir / "encoder.keras")
    np.testing.assert_allclose(np.load(tmp_path / "jax.npy"), encoder.predict(raw[:2].astype(np.float32), verbose=0),
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("options, message", [
    ({"compression": "mel"}, "RH-emo compression 'mel' is not one of linear, log"),
    ({"normalization": "zscore"}, "RH-emo normalization 'zscore' is not one of max, utterance"),
    ({"compression": "log"}, "compression 'log' needs normalization 'utterance'"),
])
def test_bad_options_fail_before_anything_is_done(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        train_rhemo(["emodb"], tmp_path / "run", **options)
    assert not (tmp_path / "run").exists()


def test_the_cli_names_the_option_and_its_values(tmp_path, capsys):
    for option, allowed in (("--compression", COMPRESSIONS), ("--normalization", NORMALIZATIONS)):
        with pytest.raises(SystemExit) as stopped:
            main(["rhemo", "emodb", option, "bad"])
        assert stopped.value.code == 2
        error = capsys.readouterr().err
        assert f"argument {option}: invalid choice: 'bad'" in error
        assert error.rstrip().endswith(f"(choose from {', '.join(map(repr, allowed))})")
    assert main(["rhemo", "emodb", "--run-dir", str(tmp_path / "run"), "--compression", "log"]) == 2
    assert "keras-ser rhemo: error: RH-emo compression 'log' needs normalization 'utterance'" in capsys.readouterr().err
    assert main(["rhemo", "emodb", "--run-dir", str(tmp_path / "run"), "--stage2-minutes", "0"]) == 2
    assert "time limit must be a positive number of minutes, got 0.0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_run_continues_from_an_earlier_one_with_the_same_settings(runs, tmp_path):
    first, metrics, _, _ = runs["log", "utterance"]
    options = ["rhemo", "emodb", *TINY, "--stage1-epochs", "0", "--compression", "log", "--normalization", "utterance",
               "--init", str(first)]
    assert main([*options, "--run-dir", str(tmp_path / "again")]) == 0
    continued = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert continued["init"]["run_dir"] == str(first) and continued["init"]["stage1"] == metrics["stage1"]
    assert continued["wall_time_s"] >= metrics["wall_time_s"]
    # no stage trained: the continued run is the earlier one, weight for weight
    for ours, theirs in zip(*(keras.saving.load_model(folder / "rhemo.keras", compile=False).get_weights()
                              for folder in (tmp_path / "again", first))):
        np.testing.assert_array_equal(ours, theirs)
    commands = _rhemo_commands(tmp_path / "again", continued)
    assert commands[0] == _rhemo_commands(first, metrics)[0]
    assert commands[1].startswith(f"keras-ser rhemo emodb --run-dir {tmp_path / 'again'} --max-items 12 --stage1-epochs 0")
    assert commands[1].endswith(f"--init {first}")


@pytest.mark.parametrize("options, message", [
    ({"head_units": 8}, "was trained with head_units = 4, not 8"),
    ({"normalization": "max"}, "was trained with normalization = 'utterance', not 'max'"),
    ({"max_items": 10}, "was trained with max_items = 12, not 10"),  # another subset: another speaker split
])
def test_a_run_refuses_to_continue_from_one_with_other_settings(runs, tmp_path, options, message):
    first = runs["linear", "utterance"][0]
    settings = {"max_items": 12, "head_units": 4, "stage1": None, "stage2": None, "progress": False,
                "normalization": "utterance", **options}
    with pytest.raises(ValueError, match=message):
        train_rhemo(["emodb"], tmp_path / "run", init=first, **settings)
    with pytest.raises(FileNotFoundError, match="holds no rhemo.keras and metrics.json"):
        train_rhemo(["emodb"], tmp_path / "run", init=tmp_path, **settings)
    assert not (tmp_path / "run").exists()
