"""Presets: save/load round trips, checksums, name resolution (zoo, folder, Hugging Face cache), prediction."""

import hashlib
import json
import shutil
import time

import h5py
import numpy as np
import pytest
import soundfile

from keras_ser.audio import AudioError
from keras_ser.presets import AudioPreprocessor, PresetError, SERClassifier, load, save_preset, with_new_head
from keras_ser.presets import registry

CLASSES = ["neutral", "angry", "happy", "sad"]
RHEMO_ALL_HEADS = {"variant": "full", "head_units": 8, "heads": ["emotion", "valence", "arousal", "dominance"]}


def tiny_classifier(network=None, rhemo=RHEMO_ALL_HEADS, classes=CLASSES, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return SERClassifier(classes, network=network, rhemo=rhemo,
                         preprocessor=AudioPreprocessor(normalizer={"kind": "max", "maximum": 40.0}), name="tiny")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = tiny_classifier()
    metrics = {"test": {"emodb": {"accuracy": 0.5, "uar": 0.4, "macro_f1": 0.3, "clips": 10}}}
    folder = save_preset(model, tmp_path_factory.mktemp("presets") / "tiny",
                         metadata={"license": "cc-by-nc-sa-4.0", "metrics": metrics})
    return model, folder


@pytest.fixture
def emodb_file(corpus_root):
    return corpus_root("emodb") / "wav" / "03a01Wa.flac"


def test_preset_folder_holds_the_five_files_and_checksummed_metadata(saved):
    model, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["config.json", "preprocessor.json", "metadata.json", "model.weights.h5", "README.md"])
    metadata = json.loads((folder / "metadata.json").read_text())
    entry = metadata["weights"]["model.weights.h5"]
    assert entry["sha256"] == hashlib.sha256((folder / "model.weights.h5").read_bytes()).hexdigest()
    assert entry["bytes"] == (folder / "model.weights.h5").stat().st_size
    assert metadata["class_names"] == CLASSES
    assert metadata["outputs"] == ["emotion", "valence", "arousal", "dominance"]
    assert metadata["parameters"]["total"] == model.count_params()
    # RH-emo stays frozen: encoder + 4 heads, nothing trainable.
    assert metadata["parameters"]["trainable"] == 0
    preprocessor = json.loads((folder / "preprocessor.json").read_text())
    assert preprocessor["sample_rate"] == 16000 and preprocessor["segment_seconds"] == 4.0
    assert preprocessor["normalizer"] == {"kind": "max", "maximum": 40.0}
    assert preprocessor["stft"]["frame_length"] == 256 and preprocessor["stft"]["hop_length"] == 128
    assert {"keras", "keras_ser"} <= set(metadata["versions"])


def test_round_trip_gives_identical_predictions(saved):
    model, folder = saved
    loaded = load(str(folder))
    audio = np.random.default_rng(0).normal(0, 0.1, (3, 64000)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_on_batch(audio), model.predict_on_batch(audio), rtol=1e-5, atol=1e-6)
    assert loaded.class_names == CLASSES and loaded.metadata["license"] == "cc-by-nc-sa-4.0"


def test_half_precision_halves_large_arrays_and_loads_back(tmp_path):
    model = tiny_classifier()
    full = save_preset(model, tmp_path / "full")
    half = save_preset(model, tmp_path / "half", half_precision=True)
    assert (half / "model.weights.h5").stat().st_size < 0.6 * (full / "model.weights.h5").stat().st_size
    with h5py.File(half / "model.weights.h5") as store:
        dtypes = []
        store.visititems(lambda name, node: dtypes.append((node.dtype, node.size)) if isinstance(node, h5py.Dataset) else None)
    assert all(dtype == np.float16 for dtype, size in dtypes if size >= 1024)
    loaded = load(str(half))
    assert all(str(w.dtype) == "float32" for w in loaded.weights)
    for original, restored in zip(model.weights, loaded.weights):
        expected = np.asarray(original)
        if expected.size >= 1024:
            expected = expected.astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(restored), expected)
    assert json.loads((half / "metadata.json").read_text())["weights"]["model.weights.h5"]["dtype"] == "float16"


def test_corrupted_weights_fail_their_checksum(saved, tmp_path):
    _, folder = saved
    broken = shutil.copytree(folder, tmp_path / "broken")
    data = bytearray((broken / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(PresetError, match=r"model\.weights\.h5.*fails its checksum"):
        load(str(broken))


def test_truncated_weights_are_reported_as_truncated(saved, tmp_path):
    _, folder = saved
    broken = shutil.copytree(folder, tmp_path / "short")
    data = (broken / "model.weights.h5").read_bytes()
    (broken / "model.weights.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(PresetError, match="truncated"):
        load(str(broken))


def test_a_folder_without_a_config_is_not_a_preset(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(PresetError, match="not a keras-ser preset"):
        load(str(tmp_path / "x"))


def test_missing_metadata_file_is_named(saved, tmp_path):
    _, folder = saved
    broken = shutil.copytree(folder, tmp_path / "nometa")
    (broken / "metadata.json").unlink()
    with pytest.raises(PresetError, match="metadata.json is missing"):
        load(str(broken))


def test_unknown_name_lists_the_known_ones(saved, tmp_path, monkeypatch):
    _, folder = saved
    zoo = tmp_path / "zoo"
    shutil.copytree(folder, zoo / "tiny-one")
    shutil.copytree(folder, zoo / "tiny-two")
    monkeypatch.setattr(registry, "zoo_dir", lambda: zoo)
    assert registry.list_models() == ["tiny-one", "tiny-two"]
    assert registry.list_models("*two") == ["tiny-two"]
    with pytest.raises(PresetError, match="unknown model 'tiny-three'.*tiny-one, tiny-two"):
        load("tiny-three")
    assert load("tiny-one").class_names == CLASSES


def _fake_hub_cache(cache, repo_id, folder, commit="0123456789abcdef0123456789abcdef01234567"):
    """The layout huggingface_hub uses for a downloaded model repository."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_hf_names_resolve_from_the_hugging_face_cache_offline(saved, tmp_path, monkeypatch):
    from huggingface_hub import constants

    _, folder = saved
    _fake_hub_cache(tmp_path / "hub", "someone/tiny-ser", folder)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load("hf://someone/tiny-ser")
    assert model.class_names == CLASSES


def test_offline_with_nothing_cached_fails_fast_and_says_how_to_get_it(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(PresetError, match=r"not in the Hugging Face cache.*keras-ser download hf://someone/absent"):
        load("hf://someone/absent")
    assert time.perf_counter() - started < 2.0


def test_prediction_of_a_file_is_sorted_and_sums_to_one(saved, emodb_file):
    model, _ = saved
    result = model.predict_file(emodb_file)
    assert [entry["label"] for entry in result] != [] and sorted(e["label"] for e in result) == sorted(CLASSES)
    scores = [entry["score"] for entry in result]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-6
    assert set(result.dimensions) == {"valence", "arousal", "dominance"}
    assert all(0 <= value <= 1 for value in result.dimensions.values())
    assert result.label == result[0]["label"] and result.source == str(emodb_file)
    json.dumps(result.to_dict())


def test_long_audio_uses_sliding_windows_and_selectable_pooling(saved, emodb_file):
    model, _ = saved
    clip, rate = soundfile.read(emodb_file, dtype="float32")
    signal = np.tile(clip, -(-10 * rate // len(clip)))[: 10 * rate]  # 10 s, whatever the clip's length
    result = model.predict_array(signal, sampling_rate=rate)
    assert [(w["start"], w["end"]) for w in result.windows] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    windows = np.stack([np.pad(signal, (0, 12 * rate - len(signal)))[i * 4 * rate:(i + 1) * 4 * rate] for i in range(3)])
    per_window = model.predict_on_batch(windows)
    mean = per_window.mean(axis=0)
    assert {e["label"]: e["score"] for e in result} == pytest.approx(dict(zip(CLASSES, mean / mean.sum())), abs=1e-5)
    maximum = per_window.max(axis=0)
    pooled = model.predict_array(signal, sampling_rate=rate, aggregate="max")
    assert {e["label"]: e["score"] for e in pooled} == pytest.approx(dict(zip(CLASSES, maximum / maximum.sum())), abs=1e-5)
    overlapping = model.predict_array(signal, sampling_rate=rate, hop_seconds=2.0)
    assert len(overlapping.windows) == 4
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        model.predict_array(signal, sampling_rate=rate, aggregate="median")


def test_arrays_are_resampled_and_mixed_down(saved, emodb_file):
    import soxr

    model, _ = saved
    clip, rate = soundfile.read(emodb_file, dtype="float32")
    at_44k = soxr.resample(clip, rate, 44100).astype(np.float32)
    stereo = np.stack([at_44k, at_44k], axis=1)
    from_stereo = model.predict_array(stereo, sampling_rate=44100)
    from_file = model.predict_file(emodb_file)
    assert {e["label"]: e["score"] for e in from_stereo} == pytest.approx({e["label"]: e["score"] for e in from_file}, abs=0.01)
    batch = model.predict_batch([clip, clip[: rate]], sampling_rate=rate)
    assert len(batch) == 2 and all(abs(sum(e["score"] for e in r) - 1) < 1e-6 for r in batch)


def test_bad_audio_fails_clearly(saved, tmp_path):
    model, _ = saved
    with pytest.raises(ValueError, match="sampling_rate"):
        model.predict_array(np.zeros(16000), sampling_rate=None)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict_array(np.full(16000, np.nan), sampling_rate=16000)
    with pytest.raises(ValueError, match="non-empty"):
        model.predict_array(np.zeros((2, 2, 2)), sampling_rate=16000)
    with pytest.raises(AudioError, match="missing.wav"):
        model.predict_file(tmp_path / "missing.wav")
    with pytest.raises(FileNotFoundError, match="no audio files"):
        model.predict_folder(tmp_path)


def test_folder_prediction_covers_every_file_in_order(saved, corpus_root, tmp_path):
    model, _ = saved
    wavs = sorted((corpus_root("emodb") / "wav").glob("03a0*.flac"))[:3]
    for path in wavs:
        shutil.copy(path, tmp_path / path.name)
    results = model.predict_folder(tmp_path, progress=False)
    assert [r.source for r in results] == [str(tmp_path / p.name) for p in wavs]


def test_new_head_reinitialises_only_the_output_layer():
    model = tiny_classifier(network={"builder": "a1", "variant": "real"},
                            rhemo={"variant": "full", "head_units": 8, "heads": ["valence", "arousal", "dominance"]})
    new = with_new_head(model, class_names=["calm", "tense", "sad"])
    assert new.class_names == ["calm", "tense", "sad"] and new.output.shape[-1] == 3
    head = {id(v) for layer in new.head_layers for v in layer.weights}
    assert len(head) == 2
    for old, fresh in zip(model.weights, new.weights):
        if id(fresh) in head:
            assert tuple(fresh.shape) != tuple(old.shape)
        else:
            np.testing.assert_array_equal(np.asarray(fresh), np.asarray(old))
    same_count = with_new_head(model, num_classes=4)
    old_kernel = np.asarray(model.head_layers[0].weights[0])
    assert not np.allclose(np.asarray(same_count.head_layers[0].weights[0]), old_kernel)
    with pytest.raises(ValueError, match="num_classes=2 but 3 class_names"):
        with_new_head(model, num_classes=2, class_names=["a", "b", "c"])


# A network small enough for ensembles of a few: two conv - batch-norm blocks, 800 weights.
COMPACT = {"builder": "compact_cnn", "variant": "real", "options": {"filters": [4, 8]}}


def test_a_seed_ensemble_is_the_mean_of_its_networks_and_round_trips(tmp_path):
    singles = [tiny_classifier(network=COMPACT, rhemo=None, seed=seed) for seed in (0, 1)]
    ensemble = tiny_classifier(network={**COMPACT, "members": 2}, rhemo=None)
    assert [network.name for network in ensemble.networks] == ["member_0", "member_1"]
    for member, single in zip(ensemble.networks, singles):
        member.set_weights(single.networks[0].get_weights())
    audio = np.random.default_rng(0).normal(0, 0.1, (3, 64000)).astype(np.float32)
    scores = [single.predict_on_batch(audio) for single in singles]
    assert not np.allclose(scores[0], scores[1], atol=1e-4)
    np.testing.assert_allclose(ensemble.predict_on_batch(audio), np.mean(scores, axis=0), rtol=1e-5, atol=1e-7)
    loaded = load(str(save_preset(ensemble, tmp_path / "ensemble")))
    assert loaded.network_config["members"] == 2
    np.testing.assert_array_equal(loaded.predict_on_batch(audio), ensemble.predict_on_batch(audio))
    # a single network is saved without "members", as presets made before ensembles were, and loads as one
    single = save_preset(singles[0], tmp_path / "single")
    assert "members" not in json.loads((single / "config.json").read_text())["config"]["network"]
    np.testing.assert_array_equal(load(str(single)).predict_on_batch(audio), scores[0])


def test_new_classes_reinitialise_the_head_of_every_network_of_an_ensemble():
    model = tiny_classifier(network={**COMPACT, "members": 3}, rhemo=None)
    new = with_new_head(model, num_classes=4)
    head = {id(v) for layer in new.head_layers for v in layer.weights}
    assert len(new.head_layers) == 3 and len(head) == 6
    for old, fresh in zip(model.weights, new.weights, strict=True):
        if id(fresh) not in head:
            np.testing.assert_array_equal(np.asarray(fresh), np.asarray(old))
    for old, fresh in zip(model.head_layers, new.head_layers, strict=True):
        assert not np.allclose(np.asarray(fresh.kernel), np.asarray(old.kernel))


def test_known_classes_can_keep_their_output_weights():
    model = tiny_classifier(network={**COMPACT, "members": 2}, rhemo=None)
    names = ["sad", "fear", "neutral"]  # known classes, reordered, and a new one
    fresh_head = with_new_head(model, class_names=names)  # by default every output weight starts fresh
    for old, fresh in zip(model.head_layers, fresh_head.head_layers, strict=True):
        assert not np.any(np.all(np.isclose(np.asarray(fresh.kernel)[:, :, None], np.asarray(old.kernel)[:, None, :]),
                                 axis=0))
    new = with_new_head(model, class_names=names, keep_known_classes=True)
    for old, fresh in zip(model.head_layers, new.head_layers, strict=True):
        kernel, bias = np.asarray(fresh.kernel), np.asarray(fresh.bias)
        np.testing.assert_array_equal(kernel[:, [0, 2]], np.asarray(old.kernel)[:, [3, 0]])
        np.testing.assert_array_equal(bias[[0, 2]], np.asarray(old.bias)[[3, 0]])
        assert not np.any(np.all(np.isclose(kernel[:, [1]], np.asarray(old.kernel)), axis=0))  # "fear" is fresh
    # so a single network ranks the known classes as before: softmax keeps the ratio of their probabilities
    single = tiny_classifier(network=COMPACT, rhemo=None)
    audio = np.random.default_rng(0).normal(0, 0.1, (3, 64000)).astype(np.float32)
    before = single.predict_on_batch(audio)
    after = with_new_head(single, class_names=names, keep_known_classes=True).predict_on_batch(audio)
    np.testing.assert_allclose(after[:, 0] / after[:, 2], before[:, 3] / before[:, 0], rtol=1e-4)


def test_keeping_known_classes_needs_class_names_the_model_has(saved):
    model, folder = saved
    with pytest.raises(ValueError, match=r"needs class_names that the model has; it has \['neutral'"):
        with_new_head(model, class_names=["calm", "tense"], keep_known_classes=True)
    with pytest.raises(ValueError, match="needs class_names that the model has"):
        with_new_head(model, num_classes=3, keep_known_classes=True)
    with pytest.raises(ValueError, match="give class_names too"):
        load(str(folder), keep_known_classes=True)
    kept = load(str(folder), class_names=["angry", "calm"], keep_known_classes=True)
    np.testing.assert_array_equal(np.asarray(kept.head_layers[0].kernel)[:, 0],
                                  np.asarray(model.head_layers[0].kernel)[:, 1])


def test_load_with_new_classes(saved):
    _, folder = saved
    model = load(str(folder), num_classes=3)
    assert model.class_names == ["class_0", "class_1", "class_2"]
    assert model.metadata["base_model"] == "tiny"


def test_fine_tuning_trains_the_network_and_keeps_rhemo_frozen(corpus_root):
    from keras_ser.datasets import load_corpus, select_classes

    items, _ = select_classes(load_corpus("emodb", root=corpus_root("emodb")), CLASSES)
    chosen = [items[i] for i in range(0, len(items), 40)][:8]
    model = tiny_classifier(network={"builder": "a1", "variant": "real"},
                            rhemo={"variant": "full", "head_units": 8, "heads": ["valence"]})
    encoder_before = [np.asarray(w) for w in model.get_layer("rhemo_encoder").weights]
    network_before = [np.asarray(w) for w in model.networks[0].weights]
    history = model.fine_tune(chosen[:6], chosen[6:], epochs=1, batch_size=4, progress=False)
    assert np.isfinite(history.history["loss"][0]) and "val_loss" in history.history
    for before, after in zip(encoder_before, model.get_layer("rhemo_encoder").weights):
        np.testing.assert_array_equal(before, np.asarray(after))
    assert any(not np.allclose(b, np.asarray(a)) for b, a in zip(network_before, model.networks[0].weights))


def test_evaluation_matches_per_file_predictions(saved, corpus_root):
    from keras_ser.datasets import load_corpus, select_classes

    model, _ = saved
    items, labels = select_classes(load_corpus("emodb", root=corpus_root("emodb")), CLASSES)
    chosen = [items[i] for i in range(0, len(items), 30)]
    truth = np.array([CLASSES.index(item.canonical) for item in chosen])
    predicted = np.array([CLASSES.index(model.predict_file(item.path).label) for item in chosen])
    metrics = model.evaluate_items(chosen, progress=False)
    assert metrics["accuracy"] == pytest.approx(np.mean(truth == predicted))
    recalls = [np.mean(predicted[truth == c] == c) for c in range(4) if np.any(truth == c)]
    assert metrics["uar"] == pytest.approx(np.mean(recalls))
    assert list(metrics["per_corpus"]) == ["emodb"]


def test_an_ensemble_is_scored_by_the_mean_of_its_clip_probabilities(saved, corpus_root):
    from keras_ser.datasets import load_corpus, select_classes
    from keras_ser.presets.fine_tuning import evaluate_items

    model, _ = saved
    other = tiny_classifier(seed=1)
    items, _ = select_classes(load_corpus("emodb", root=corpus_root("emodb")), CLASSES)
    chosen = [items[i] for i in range(0, len(items), 30)]
    # reference: each model's window scores of each file, averaged per file, then over the models
    mean_scores = np.array([np.mean([member.score_windows(member.preprocessor.windows(
        member.preprocessor.load(item.path)))["emotion"].mean(axis=0) for member in (model, other)], axis=0)
        for item in chosen])
    truth = np.array([CLASSES.index(item.canonical) for item in chosen])
    expected = np.zeros((4, 4), int)
    np.add.at(expected, (truth, mean_scores.argmax(axis=1)), 1)
    metrics = evaluate_items([model, other], chosen, progress=False)
    assert metrics["confusion_matrix"] == expected.tolist()
    single = model.evaluate_items(chosen, progress=False)
    assert metrics["confusion_matrix"] != single["confusion_matrix"]  # the second model counts
    assert evaluate_items([model, model], chosen, progress=False)["confusion_matrix"] == single["confusion_matrix"]
    reordered = tiny_classifier(classes=CLASSES[::-1])
    with pytest.raises(ValueError, match=r"same classes, in the same order: 'tiny' has \['neutral'"):
        evaluate_items([model, reordered], chosen, progress=False)


def test_items_outside_the_classes_are_named(saved, corpus_root):
    from keras_ser.datasets import load_corpus

    model, _ = saved
    bored = [item for item in load_corpus("emodb", root=corpus_root("emodb")) if item.canonical == "boredom"][:1]
    with pytest.raises(ValueError, match=r"labelled 'L' \(vocabulary: 'boredom'\).*class_names"):
        model.evaluate_items(bored, progress=False)


def test_save_preset_refuses_to_overwrite_and_other_models(saved, tmp_path):
    import keras

    model, folder = saved
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_preset(model, folder)
    with pytest.raises(TypeError, match="SERClassifier"):
        save_preset(keras.Sequential([keras.layers.Dense(2)]), tmp_path / "x")


def test_bad_architectures_are_refused():
    with pytest.raises(PresetError, match="network builder 'vgg19'"):
        tiny_classifier(network={"builder": "vgg19"})
    with pytest.raises(PresetError, match="needs the 'emotion' head"):
        tiny_classifier(rhemo={"variant": "full", "heads": ["valence"]})
    with pytest.raises(PresetError, match="two or more distinct"):
        tiny_classifier(classes=["a"])
    for members in (0, 2.0, "2", True):
        with pytest.raises(PresetError, match=f"network members .* must be an integer >= 1, got {members!r}"):
            tiny_classifier(network={**COMPACT, "members": members}, rhemo=None)
    with pytest.raises(PresetError, match="must end in softmax; got classifier_activation 'sigmoid'"):
        tiny_classifier(network={**COMPACT, "options": {"classifier_activation": "sigmoid"}, "members": 2}, rhemo=None)
    with pytest.raises(PresetError, match="normalizer kind"):
        AudioPreprocessor(normalizer={"kind": "robust"})


def test_preprocessor_stft_settings_round_trip_and_bad_ones_are_named():
    from keras_ser.audio import STFTSettings

    ch4 = AudioPreprocessor(segment_seconds=2.0, stft=STFTSettings(320, 160, 201, 160))
    config = json.loads(json.dumps(ch4.get_config()))
    assert config["stft"] == {"frame_length": 320, "hop_length": 160, "time_steps": 201, "frequency_bins": 160,
                              "mel_bins": 0, "compression": "none",
                              "window": "hamming (periodic)", "magnitude": True, "centered": True}
    assert AudioPreprocessor.from_config(config) == ch4
    # a preprocessor.json written before the STFT was configurable holds the defaults
    assert AudioPreprocessor.from_config({"segment_seconds": 4.0}).stft == STFTSettings()
    with pytest.raises(PresetError, match="preprocessor STFT time_steps: 4.0 s segments give 401 STFT frames"):
        AudioPreprocessor(stft=STFTSettings(320, 160, 201, 160))
    with pytest.raises(PresetError, match="STFT .*'window': 'hann'"):
        AudioPreprocessor.from_config({**config, "stft": {**config["stft"], "window": "hann"}})
    with pytest.raises(PresetError, match="unknown preprocessor STFT keys"):
        AudioPreprocessor.from_config({**config, "stft": {**config["stft"], "n_mels": 64}})
    with pytest.raises(PresetError, match="STFT frequency_bins: 200 exceeds"):
        AudioPreprocessor.from_config({**config, "stft": {**config["stft"], "frequency_bins": 200}})


def test_a_classifier_computes_its_preprocessor_stft(emodb_file):
    import keras

    from keras_ser.audio import STFTSettings, load as load_audio, spectrogram

    ch4 = AudioPreprocessor(segment_seconds=2.0, stft=STFTSettings(320, 160, 201, 160))
    model = SERClassifier(CLASSES, network={"builder": "a1", "options": {"hidden_units": 8}}, preprocessor=ch4)
    features = keras.Model(model.input, model.get_layer("spectrogram").output)
    windows = ch4.windows(load_audio(emodb_file))
    np.testing.assert_allclose(features.predict(windows, verbose=0), spectrogram(windows, ch4.stft), rtol=1e-5, atol=2e-5)
    assert model.predict_file(emodb_file).label in CLASSES


def test_a_preset_saved_on_tensorflow_predicts_the_same_on_jax_without_tensorflow(saved, emodb_file):
    import importlib.util

    from prediction_helpers import predict_file_on_jax

    if importlib.util.find_spec("jax") is None:
        pytest.skip("needs JAX installed to run Keras without TensorFlow")
    model, folder = saved
    expected = {e["label"]: e["score"] for e in model.predict_file(emodb_file)}
    assert predict_file_on_jax(folder, emodb_file) == pytest.approx(expected, abs=1e-5)


def test_cli_predict_prints_labels_and_json(saved, emodb_file, capsys):
    from keras_ser.cli import main

    _, folder = saved
    assert main(["predict", str(emodb_file), "--model", str(folder), "--windows"]) == 0
    text = capsys.readouterr().out
    assert str(emodb_file) in text and "valence" in text and "0.00-   4.00 s" in text
    assert main(["predict", str(emodb_file), "--model", str(folder), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [e["label"] for e in result["labels"]] and abs(sum(e["score"] for e in result["labels"]) - 1) < 1e-6


def test_cli_reports_unknown_models_and_missing_files(saved, tmp_path, capsys):
    from keras_ser.cli import main

    _, folder = saved
    assert main(["predict", str(tmp_path / "absent.wav"), "--model", str(folder)]) == 1  # skipped and reported
    assert "absent.wav" in capsys.readouterr().err
    assert main(["download", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_cli_models_and_model_cards_list_the_zoo(saved, tmp_path, monkeypatch, capsys):
    from keras_ser.cli import main

    _, folder = saved
    zoo = tmp_path / "zoo"
    shutil.copytree(folder, zoo / "tiny-one")
    monkeypatch.setattr(registry, "zoo_dir", lambda: zoo)
    assert main(["models"]) == 0
    assert "tiny-one" in capsys.readouterr().out
    assert main(["model-cards", "--zoo", str(zoo), "--write", str(tmp_path / "CARDS.md")]) == 0
    assert "# keras-ser model zoo" in (tmp_path / "CARDS.md").read_text()


def test_cli_publish_offline_fails_with_the_reason(saved, monkeypatch, capsys):
    from huggingface_hub import constants

    from keras_ser.cli import main

    _, folder = saved
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["publish", str(folder), "someone/tiny"]) == 2
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err


def test_cli_export_writes_a_savedmodel_that_runs(saved, tmp_path, capsys):
    import tensorflow as tf

    from keras_ser.cli import main

    model, folder = saved
    assert main(["export", str(folder), "--format", "savedmodel", "--output", str(tmp_path / "sm")]) == 0
    audio = np.random.default_rng(1).normal(0, 0.1, (2, 64000)).astype(np.float32)
    exported = tf.saved_model.load(str(tmp_path / "sm"))
    served = exported.serve(tf.constant(audio))
    np.testing.assert_allclose(np.asarray(served), model.predict_on_batch(audio), atol=1e-5)


def test_a_zoo_entry_without_weights_comes_from_its_hub_repository(saved, tmp_path, monkeypatch):
    from huggingface_hub import constants

    _, folder = saved
    zoo = tmp_path / "zoo"
    shutil.copytree(folder, zoo / "remote-one")
    (zoo / "remote-one" / "model.weights.h5").unlink()
    metadata = json.loads((zoo / "remote-one" / "metadata.json").read_text())
    (zoo / "remote-one" / "metadata.json").write_text(json.dumps({**metadata, "hub_repo": "someone/remote-one"}))
    monkeypatch.setattr(registry, "zoo_dir", lambda: zoo)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PresetError, match="keras-ser download hf://someone/remote-one"):
        load("remote-one")
    _fake_hub_cache(tmp_path / "hub", "someone/remote-one", folder)
    assert load("remote-one").class_names == CLASSES
