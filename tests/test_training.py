import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from averaging_reference import mean_first_average, warmed_up_average
from keras_ser.cli import main
from keras_ser.training import ConfigError, RunConfig, config_from_dict, dump_toml, load_config, train
from keras_ser.training.strategies import load_orthogonal

TINY = {
    "name": "tiny",
    "data": {"corpora": ["emodb"], "max_items": 60,
             "segment_seconds": 1.0, "time_steps": 128, "frequency_bins": 64},
    "model": {"builder": "a2", "options": {"filters": 4, "hidden_units": 16}},
    "training": {"batch_size": 8, "epochs": 2},
}


def tiny(base=TINY, **sections):
    """`base` (a raw config) with `sections` merged in, validated."""
    raw = json.loads(json.dumps(base))
    for section, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    return config_from_dict(raw)


# --- configuration ----------------------------------------------------------------------

def test_defaults_validate_and_toml_round_trips(tmp_path):
    config = tiny(strategy={"kind": "anti_transfer", "orthogonal": ["runs/spk"], "at_layers": [1, "conv2"]})
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(config))
    assert load_config(path) == config
    assert RunConfig().validate() == RunConfig()


def test_an_anti_transfer_run_may_stop_on_its_at_term():
    strategy = {"kind": "anti_transfer", "orthogonal": ["runs/speaker"]}
    assert tiny(strategy=strategy, training={"monitor": "at_loss"}).training.monitor == "at_loss"


def test_a_single_value_is_accepted_for_a_list_key():
    assert tiny(data={"corpora": "ravdess"}).data.corpora == ["ravdess"]


@pytest.mark.parametrize(
    "sections, key, message",
    [
        ({"data": {"split": "bogus"}}, "data.split", "'bogus' is not one of speaker, random"),
        ({"data": {"colour": 1}}, "data.colour", "unknown key; known: corpora"),
        ({"data": {"max_items": "ten"}}, "data.max_items", "must be of type int"),
        ({"data": {"task": "speaker"}}, "data.split", "speaker recognition needs the same speakers"),
        ({"data": {"split": "fold", "fold": 4}}, "data.fold", r"must be in \[0, data.folds=4\)"),
        ({"data": {"split": "held_out"}}, "data.test_speaker", "needs the speaker to test on"),
        ({"data": {"corpora": ["emodb", "nemo"], "split": "leave_corpus_out"}}, "data.test_corpus",
         r"tests on one of data.corpora \['emodb', 'nemo'\], got ''"),
        ({"data": {"corpora": ["emodb", "nemo"], "split": "leave_corpus_out", "test_corpus": "tess"}}, "data.test_corpus",
         "got 'tess'"),
        ({"data": {"split": "leave_corpus_out", "test_corpus": "emodb"}}, "data.test_corpus",
         "trains on the corpora other than 'emodb': add at least one"),
        ({"data": {"features": "rhemo"}}, "data.rhemo_model", "need the path of a trained RH-emo model"),
        ({"data": {"corpora": ["csv"]}}, "data.manifest", "corpus \"csv\" reads the CSV file data.manifest names"),
        ({"data": {"manifest": "mine.csv"}}, "data.manifest", "give both or neither"),
        ({"data": {"corpora": ["folder"]}}, "data.corpora", "give corpus \"csv\" with data.manifest"),
        ({"data": {"fractions": [0.5, 0.5]}}, "data.fractions", r"\[train, val, test\] shares"),
        ({"data": {"fractions": [0.5, 0.3, 0.3]}}, "data.fractions", "summing to 1"),
        ({"data": {"split_seed": -2}}, "data.split_seed", "must be -1 .* or a seed >= 0, got -2"),
        ({"data": {"segment_seconds": 9.0}}, "data.time_steps", "9.0 s segments give 1126 STFT frames .* at least 1126"),
        ({"data": {"frequency_bins": 200}}, "data.frequency_bins", "200 exceeds the 129 bins of a 256-sample window"),
        ({"data": {"hop_length": 512}}, "data.hop_length", "must not exceed frame_length"),
        ({"data": {"frame_length": 0}}, "data.frame_length", "positive integer"),
        ({"training": {"batch_size": 0}}, "training.batch_size", "positive integer"),
        ({"training": {"reduce_lr_patience": -1}}, "training.reduce_lr_patience", r"0 \(off\) or more, got -1"),
        ({"training": {"reduce_lr_factor": 1.5}}, "training.reduce_lr_factor", "between 0 and 1, exclusive"),
        ({"training": {"minutes": -1}}, "training.minutes", r"0 \(no limit\) or a positive number of minutes, got -1"),
        ({"training": {"minutes": "2"}}, "training.minutes", "got '2'"),
        ({"training": {"monitor": "val_f1"}}, "training.monitor", "'val_f1' is not one of val_loss, .*val_uar"),
        ({"training": {"monitor": "at_loss"}}, "training.monitor", "'at_loss' is not one of"),  # no AT term
        ({"training": {"batches": "corpus"}}, "training.batches", "'corpus' is not one of mixed, per_corpus"),
        ({"optimizer": {"learning_rate": -1.0}}, "optimizer.learning_rate", "positive number"),
        ({"optimizer": {"ema_momentum": 1.0}}, "optimizer.ema_momentum", r"0 \(off\) or a momentum in \(0, 1\)"),
        ({"optimizer": {"ema_epochs": -2}}, "optimizer.ema_epochs", r"0 \(off\) or a number of epochs .* got -2"),
        ({"optimizer": {"ema_epochs": "2"}}, "optimizer.ema_epochs", "got '2'"),
        ({"optimizer": {"ema_epochs": 2, "ema_momentum": 0.99}}, "optimizer.ema_epochs", "either per step .* not both"),
        ({"strategy": {"kind": "anti_transfer"}}, "strategy.orthogonal", "needs 1 orthogonal model path"),
        ({"strategy": {"kind": "dual_anti_transfer", "orthogonal": ["a"]}}, "strategy.orthogonal", "needs 2"),
        ({"strategy": {"beta": True}}, "strategy.beta", "must be of type float"),
        ({"strategy": {"aggregation": "median"}}, "strategy.aggregation", "'median' is not one of gram"),
        ({"strategy": {"similarity": "l2"}}, "strategy.similarity", "'l2' is not one of cos_squared"),
        ({"model": {"options": 3}}, "model.options", "must be of type dict"),
        ({"model": "vgg"}, "model", "must be a table"),
        ({"extra": 1}, "extra", "unknown key"),
    ],
)
def test_bad_configuration_names_the_key(sections, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        tiny(**sections)
    assert info.value.key == key and f"'{key}'" in str(info.value)


def test_split_seed_keeps_the_speakers_fixed_across_run_seeds(data_root):
    from keras_ser.training.data import split_items

    def speakers(seed, split_seed=-1):
        config = tiny(seed=seed, data={"max_items": 0, "split_seed": split_seed})
        parts = split_items(config.data, seed=config.seed).parts
        return {name: sorted({item.speaker for item in part}) for name, part in parts.items()}

    assert speakers(1, split_seed=0) == speakers(2, split_seed=0) == speakers(0)
    assert any(speakers(seed) != speakers(0) for seed in (1, 2, 3))  # without it, the seed also moves the split


@pytest.mark.parametrize("split, options", [("speaker", {}), ("fold", {"fold": 3}), ("held_out", {"test_speaker": "MP0"}),
                                           ("per_corpus", {}), ("leave_corpus_out", {"test_corpus": "nemo"}),
                                           ("leave_corpus_out", {"test_corpus": "emodb"})])
def test_nemo_speakers_in_every_speaker_independent_split(corpus_root, split, options):
    from keras_ser.datasets import load_corpus, select_classes
    from keras_ser.training.data import split_items

    corpus_root("nemo")
    corpora = ["emodb", "nemo"] if split in ("per_corpus", "leave_corpus_out") else ["nemo"]
    parts = split_items(tiny(data={"corpora": corpora, "max_items": 0, "split": split, **options}).data).parts
    speakers = {name: {(item.corpus, item.speaker) for item in part} for name, part in parts.items()}
    assert not speakers["test"] & (speakers["train"] | speakers["val"])
    assert split == "held_out" or not speakers["train"] & speakers["val"]  # held_out validates on training speakers
    assert len({speaker for part in speakers.values() for corpus, speaker in part if corpus == "nemo"}) == 9
    if split == "leave_corpus_out":
        test_corpus = options["test_corpus"]
        assert {corpus for corpus, _ in speakers["train"] | speakers["val"]} == set(corpora) - {test_corpus}
        assert parts["test"] == select_classes(load_corpus(test_corpus))[0]  # every 4-class file of the corpus


def test_recordings_listed_in_a_csv_file_split_as_the_same_corpus_does(corpus_root, tmp_path):
    from keras_ser.datasets import load_corpus, select_classes
    from keras_ser.training.data import split_items

    emodb = select_classes(load_corpus("emodb", root=corpus_root("emodb")))[0]
    manifest = tmp_path / "mine.csv"
    manifest.write_text("path,label,speaker\n" + "".join(f"{item.path},{item.canonical},{item.speaker}\n"
                                                         for item in emodb))
    ours = split_items(tiny(data={"corpora": ["csv"], "manifest": str(manifest), "max_items": 0}).data).parts
    theirs = split_items(tiny(data={"max_items": 0}).data).parts
    for part in ("train", "val", "test"):
        assert [item.path for item in ours[part]] == [item.path for item in theirs[part]], part
        assert {item.corpus for item in ours[part]} == {"csv"}
    with pytest.raises(ConfigError, match="'data.manifest': no CSV file at '.*missing.csv'"):
        split_items(tiny(data={"corpora": ["csv"], "manifest": str(tmp_path / "missing.csv")}).data)
    manifest.write_text(f"path,label,speaker\n{emodb[0].path},angry,\n")
    with pytest.raises(ConfigError, match="'data.manifest': .*mine.csv' line 2: empty speaker"):
        split_items(tiny(data={"corpora": ["csv"], "manifest": str(manifest)}).data)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no configuration file"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(broken)


def test_overrides_set_keys_as_toml_values_or_text(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(tiny()))
    config = load_config(path, ["training.epochs=3", "training.balance=corpus_class", "optimizer.learning_rate=2e-4",
                                'data.corpora=["emodb", "tess"]', "model.options.hidden_units = 32", "seed=4",
                                "name=a=b"])
    assert config.training.epochs == 3 and config.training.balance == "corpus_class"
    assert config.optimizer.learning_rate == 2e-4 and config.data.corpora == ["emodb", "tess"]
    assert config.model.options == {"filters": 4, "hidden_units": 32}
    assert (config.seed, config.name) == (4, "a=b")
    assert load_config(path, []) == tiny()


@pytest.mark.parametrize("override, message", [
    ("trainingepochs", "'trainingepochs': an override is KEY=VALUE"),
    ("=5", "'=5': an override is KEY=VALUE"),
    ("training..epochs=1", "'training..epochs=1': an override is KEY=VALUE"),
    ("training.epochs.limit=1", "'training.epochs': is 2, not a table"),
    ("training.balnce=class", "'training.balnce': unknown key"),
    ("training.epochs=many", "'training.epochs': must be of type int, got 'many'"),
])
def test_bad_overrides_name_the_culprit(tmp_path, override, message):
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(tiny()))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path, [override])


def test_errors_found_while_running_name_the_key(tmp_path, data_root):
    with pytest.raises(ConfigError, match="model.builder.*'lenet' is not one of"):
        train(tiny(model={"builder": "lenet"}), tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="data.corpora"):
        train(tiny(data={"corpora": ["nonexistent"]}), tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="strategy.orthogonal.*no model at .*not a keras-ser preset"):
        train(tiny(strategy={"kind": "weight_init", "orthogonal": [str(tmp_path)]}), tmp_path / "c", progress=False)
    with pytest.raises(ConfigError, match="strategy.orthogonal.*no model at 'no-such-model'.*Known zoo models"):
        train(tiny(strategy={"kind": "weight_init", "orthogonal": ["no-such-model"]}), tmp_path / "e", progress=False)
    with pytest.raises(ConfigError, match="model.options"):
        train(tiny(model={"options": {"no_such_argument": 1}}), tmp_path / "d", progress=False)


# --- end to end -------------------------------------------------------------------------

# The default front end, and Ch. 4's: 20 ms windows, 10 ms hop, 2-s segments.
CH4_FRONT_END = {"segment_seconds": 2.0, "frame_length": 320, "hop_length": 160, "time_steps": 201,
                 "frequency_bins": 160}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, data_root):
    """`keras-ser train` of TINY on a front end, once per front end: (its config file, its run folder, what it
    printed)."""
    runs = {}

    def run(front_end):
        key = json.dumps(front_end, sort_keys=True)
        if key not in runs:
            folder = tmp_path_factory.mktemp("cli_run")
            config = folder / "tiny.toml"
            config.write_text(dump_toml(tiny(data=front_end)))
            with contextlib.redirect_stdout(io.StringIO()) as out:
                assert main(["train", str(config), "--run-dir", str(folder / "run")]) == 0
            runs[key] = config, folder / "run", out.getvalue()
        return runs[key]

    return run


@pytest.mark.parametrize("front_end", [{}, CH4_FRONT_END], ids=["default_stft", "chapter4_stft"])
def test_cli_trains_a_tiny_config_on_real_clips(tmp_path, cli_run, capsys, front_end):
    config, run_dir, printed = cli_run(front_end)
    assert "test accuracy" in printed
    for name in ("config.toml", "history.csv", "history.json", "metrics.json", "model.keras", "confusion_matrix.png",
                 "history_loss.png", "history_accuracy.png"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for part in ("test", "val"):
        assert {"accuracy", "uar", "macro_f1", "recall_per_class", "confusion_matrix"} <= set(metrics[part])
    assert load_config(run_dir / "config.toml") == tiny(data=front_end)
    # a finished run keeps one copy of its weights: model.keras
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "network.keras").exists()
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["loss"]) == 2 and "val_loss" in history and len(history["val_uar"]) == 2
    # without penalties the loss is the cross-entropy
    np.testing.assert_allclose(history["val_classification_loss"], history["val_loss"], rtol=1e-4)
    # model.keras holds the normaliser in front of the network: raw features in, class probabilities out
    model = keras.saving.load_model(run_dir / "model.keras")
    data = {**TINY["data"], **front_end}
    shape = (data["time_steps"], data["frequency_bins"], 1)
    assert tuple(model.input_shape[1:]) == shape
    probabilities = model.predict(np.random.default_rng(0).random((2, *shape), np.float32), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # the run becomes a preset whose z-score front end reproduces the run's test metrics from the audio files
    assert main(["preset", str(run_dir), str(tmp_path / "preset"), "--full-precision"]) == 0
    from keras_ser.presets import load

    preset = load(str(tmp_path / "preset"))
    assert preset.preprocessor.normalizer["kind"] == "zscore"
    assert preset.preprocessor.stft == tiny(data=front_end).data.stft()
    measured = preset.metadata["metrics"]["test"]["emodb"]
    assert measured["clips"] == sum(metrics["test"]["support_per_class"].values())
    # Equal, not close: the preset computes float32 spectrograms from the audio where the run read its float16
    # feature cache, which moves clip probabilities by ~2e-5 (measured), far below this seeded run's smallest
    # top-2 margin (~0.09), so every clip keeps its label (--full-precision keeps the weights float32).
    assert {key: measured[key] for key in ("accuracy", "uar", "macro_f1")} == {
        key: metrics["test"][key] for key in ("accuracy", "uar", "macro_f1")}
    # the card's speaker claim comes from the run's split (data.split = "speaker")
    assert preset.metadata["training_data"]["split_kind"] == "speaker"
    assert "Test results are speaker-independent" in (tmp_path / "preset" / "README.md").read_text()
    # a finished run is not trained again
    assert main(["train", str(config), "--run-dir", str(run_dir)]) == 0
    assert "already finished" in capsys.readouterr().out


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory, data_root):
    """Two one-epoch runs of a small CNN on TINY's clips, one split (data.split_seed = 0), seeds 0 and 1 given to
    `keras-ser train --seed`."""
    folder = tmp_path_factory.mktemp("seed_runs")
    recipe = folder / "tiny-seeds.toml"
    recipe.write_text(dump_toml(tiny(name="tiny-seeds", data={"split_seed": 0}, training={"epochs": 1},
                                     model={"builder": "compact_cnn", "options": {"filters": [4, 8]}})))
    for seed in (0, 1):
        assert main(["train", str(recipe), "--run-dir", str(folder / f"seed{seed}"), "--seed", str(seed)]) == 0
        assert load_config(folder / f"seed{seed}" / "config.toml").seed == seed
    return [folder / "seed0", folder / "seed1"]


@pytest.mark.filterwarnings("ignore:the fitted temperature .* is at the edge:UserWarning")  # 15 validation clips
def test_cli_makes_one_ensemble_preset_of_runs_that_differ_in_their_seed(seed_runs, corpus_root, tmp_path, capsys):
    from keras_ser.audio import spectrogram
    from keras_ser.presets import load

    assert main(["preset", *map(str, seed_runs), str(tmp_path / "preset"), "--full-precision"]) == 0
    assert "tiny-seeds test emodb: accuracy" in capsys.readouterr().out
    preset = load(str(tmp_path / "preset"))
    assert preset.network_config["members"] == 2
    info = preset.metadata
    assert info["architecture"] == "ensemble of 2 real compact_cnn (seeds 0, 1)"
    assert info["training_data"]["seed"] == [0, 1]
    runs = [json.loads((run / "metrics.json").read_text()) for run in seed_runs]
    assert info["recipe"]["best_epoch"] == [run["best_epoch"] for run in runs]
    assert info["recipe"]["wall_time_s"] == round(sum(run["wall_time_s"] for run in runs), 1)
    assert info["recipe"]["commands"] == [
        f"keras-ser train <config.toml> --run-dir {seed_runs[0]} --seed 0",
        f"keras-ser train <config.toml> --run-dir {seed_runs[1]} --seed 1",
        f"keras-ser preset {seed_runs[0]} {seed_runs[1]} {tmp_path / 'preset'}"]
    # each window's (uncalibrated) probabilities are the mean of the two runs' own models'
    windows = preset.preprocessor.windows(preset.preprocessor.load(corpus_root("emodb") / "wav" / "08b02Tc.flac"))
    features = spectrogram(windows, preset.preprocessor.stft)
    scores = [keras.saving.load_model(run / "model.keras").predict(features, verbose=0) for run in seed_runs]
    assert not np.allclose(scores[0], scores[1], atol=1e-3)
    np.testing.assert_allclose(preset.scorer.predict_on_batch(windows)["emotion"], np.mean(scores, axis=0), atol=1e-5)


def test_an_ensemble_preset_refuses_runs_that_differ_in_more_than_their_seed(seed_runs, tmp_path):
    from keras_ser.presets.from_run import preset_from_run

    def changed(name, **sections):
        """A copy of the second run's folder whose config has `sections` merged in."""
        shutil.copytree(seed_runs[1], tmp_path / name)
        config = tiny(load_config(seed_runs[1] / "config.toml").to_dict(), **sections)
        (tmp_path / name / "config.toml").write_text(dump_toml(config))
        return tmp_path / name

    other_epochs = changed("epochs", training={"epochs": 3})
    with pytest.raises(ValueError, match=re.escape(f"runs '{seed_runs[0]}' and '{other_epochs}' differ in "
                                                   "training.epochs (1 and 3): the runs of an ensemble may differ "
                                                   "only in their seed")):
        preset_from_run([seed_runs[0], other_epochs], tmp_path / "preset", progress=False)
    # with data.split_seed = -1 each seed draws its own clips and speakers: refused
    own_split = [changed(f"own_split{seed}", seed=seed, data={"split_seed": -1}) for seed in (0, 1)]
    with pytest.raises(ValueError, match=r"split the data differently \(their train parts differ"):
        preset_from_run(own_split, tmp_path / "preset", progress=False)
    # z-score statistics fitted on other clips: refused
    other_normalizer = changed("normalizer")
    model = keras.saving.load_model(other_normalizer / "model.keras")
    model.get_layer("normalizer").adapt(np.arange(10.0))
    model.save(other_normalizer / "model.keras")
    with pytest.raises(ValueError, match=re.escape(f"'{other_normalizer}' fitted different input normalisers")):
        preset_from_run([seed_runs[0], other_normalizer], tmp_path / "preset", progress=False)
    with pytest.raises(ValueError, match=re.escape(f"'{seed_runs[0]}' was trained on spectrograms, not RH-emo "
                                                   "features, so its preset has no valence/arousal/dominance heads")):
        preset_from_run(seed_runs[0], tmp_path / "preset", progress=False, dimension_heads=False)
    assert not (tmp_path / "preset").exists()


def test_a_preset_of_an_experiment_run_gets_a_name_keras_can_train_under(seed_runs, tmp_path):
    from keras_ser.presets import load
    from keras_ser.presets.from_run import preset_from_run

    run = tmp_path / "test_corpus=emodb,seed=0"  # an experiment names its runs and their configs so
    shutil.copytree(seed_runs[0], run)
    config = load_config(run / "config.toml")
    config.name = run.name
    (run / "config.toml").write_text(dump_toml(config))
    preset_from_run(run, tmp_path / "preset", progress=False)
    model = load(str(tmp_path / "preset"))
    assert model.name == model.metadata["name"] == "test_corpus-emodb-seed-0"
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    windows = np.zeros((2, model.preprocessor.window_samples), np.float32)
    model.fit(windows, np.array([0, 1]), epochs=1, verbose=0)  # raised "not a valid root scope name" with '=' and ','
    with pytest.raises(ValueError, match=re.escape("preset name 'my preset' is not a valid model name: use letters")):
        preset_from_run(run, tmp_path / "named", name="my preset", progress=False)
    assert not (tmp_path / "named").exists()


def test_cli_reports_config_errors(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('[data]\nsplit = "bogus"\n')
    assert main(["train", str(config)]) == 2
    assert "config key 'data.split'" in capsys.readouterr().err
    assert main(["train", str(config), "--set", "data.split=speaker", "--set", "training.epochs=many"]) == 2
    assert "config key 'training.epochs': must be of type int" in capsys.readouterr().err


def test_cli_trains_each_seed_into_its_own_folder(tmp_path, monkeypatch, capsys):
    import keras_ser.training

    config = tmp_path / "recipe.toml"
    config.write_text(dump_toml(tiny()))
    trained = []

    def record(config, run_dir, restart=False):  # the folder choice is under test, not the training
        trained.append((config.seed, str(run_dir)))
        return {"test": {"accuracy": 0.5, "uar": 0.5}}

    monkeypatch.setattr(keras_ser.training, "train", record)
    for extra in ([], ["--seed", "2"], ["--seed", "2", "--run-dir", "mine"], ["--set", "seed=3"]):
        assert main(["train", str(config), *extra]) == 0
    assert trained == [(0, "runs/tiny"), (2, "runs/tiny-seed2"), (2, "mine"), (3, "runs/tiny-seed3")]


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, pause_after_first_epoch=0.0):
        super().__init__()
        self.pause = pause_after_first_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            time.sleep(self.pause)
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill after epoch 2")


class _EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory, data_root):
    """TINY for 4 epochs killed after its epoch 1, having paused 4 s after epoch 0: (config, run folder), for tests
    to resume a copy of."""
    config = tiny(training={"epochs": 4, "patience": 10})
    run_dir = tmp_path_factory.mktemp("interrupted") / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir, callbacks=[_Interrupt(pause_after_first_epoch=4.0)], progress=False)
    assert not (run_dir / "metrics.json").exists()
    return config, run_dir


def test_an_interrupted_run_resumes_from_its_last_epoch(tmp_path, interrupted_run):
    config, interrupted = interrupted_run
    run_dir = shutil.copytree(interrupted, tmp_path / "run")
    recorder = _EpochRecorder()
    started = time.time()
    metrics = train(config, run_dir, callbacks=[recorder], progress=False)
    second_attempt_s = time.time() - started
    assert recorder.epochs == [2, 3]
    # the wall time counts the first attempt up to the end of its epoch 1, the 4 s pause included
    assert metrics["wall_time_s"] >= second_attempt_s + 2.0, (metrics["wall_time_s"], second_attempt_s)
    epochs = [int(line.split(",")[0]) for line in (run_dir / "history.csv").read_text().splitlines()[1:]]
    assert epochs == [0, 1, 2, 3]


def _plateau_learning_rates(monitored, start, factor, patience, min_delta=1e-4):
    """The learning rate of each epoch under reduce-on-plateau of a minimised value (Keras's rule, no cooldown)."""
    rates, rate, best, wait = [], start, np.inf, 0
    for value in monitored:
        rates.append(rate)
        if value < best - min_delta:
            best, wait = value, 0
        else:
            wait += 1
            if wait >= patience:
                rate, wait = rate * factor, 0
    return rates


# With seed 1 on TensorFlow the validation loss is above epoch 0's in epochs 1-3: patience 1 reduces the rate before
# the interruption (the backup must hold it), patience 2 counts one epoch on each side of it (the wait must survive).
@pytest.mark.parametrize("patience", [1, 2])
def test_a_plateau_reduces_the_learning_rate_also_across_a_restart(tmp_path, data_root, patience):
    config = tiny(seed=1, training={"epochs": 7, "patience": 10, "reduce_lr_patience": patience,
                                    "reduce_lr_factor": 0.5})
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir, callbacks=[_Interrupt()], progress=False)
    train(config, run_dir, progress=False)
    history = json.loads((run_dir / "history.json").read_text())
    expected = _plateau_learning_rates(history["val_loss"], config.optimizer.learning_rate, 0.5, patience)
    np.testing.assert_allclose(history["learning_rate"], expected, rtol=1e-6)
    # the first reduction follows epoch `patience`: epoch 1 (before the interruption) or epoch 2 (after it)
    assert expected[patience + 1] < expected[patience] == expected[0], history["val_loss"]


def test_a_time_budget_ends_training_after_the_epoch_that_reaches_it(tmp_path, data_root):
    # a budget shorter than one epoch: epoch 0 runs, and a second would overrun it
    metrics = train(tiny(training={"epochs": 4, "patience": 4, "minutes": 1e-6}), tmp_path / "run", progress=False)
    assert metrics["epochs_run"] == 1 and metrics["best_epoch"] == 0


def test_a_run_being_trained_elsewhere_is_refused_and_restart_trains_again(tmp_path, cli_run):
    fcntl = pytest.importorskip("fcntl")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / ".lock", "w") as other:  # another trainer's lock
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        other.write("4242")
        other.flush()
        with pytest.raises(RuntimeError, match=r"'.*run' is being trained by another process \(pid 4242\)"):
            train(tiny(), run_dir, progress=False)
    assert not (run_dir / "config.toml").exists()
    _, finished, _ = cli_run({})  # TINY, trained
    shutil.copytree(finished, run_dir, dirs_exist_ok=True)
    first = train(tiny(), run_dir, progress=False)  # finished: its metrics, read back
    recorder = _EpochRecorder()
    again = train(tiny(), run_dir, callbacks=[recorder], progress=False, restart=True)
    assert recorder.epochs == [0, 1] and again["test"] == first["test"]  # trained again, from scratch, same seed


def test_a_run_killed_while_writing_its_backup_resumes_from_the_one_before(tmp_path, interrupted_run):
    config, interrupted = interrupted_run
    run_dir = shutil.copytree(interrupted, tmp_path / "run")
    latest = run_dir / "checkpoints" / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])  # as a kill mid-write leaves it
    recorder = _EpochRecorder()
    metrics = train(config, run_dir, callbacks=[recorder], progress=False)
    assert recorder.epochs == [1, 2, 3]
    assert metrics["epochs_run"] == 4
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["loss"]) == 4  # epoch 1's two rows count once


def test_an_l2_run_can_stop_on_the_cross_entropy_alone(tmp_path, data_root):
    config = tiny(model={"options": {"filters": 4, "hidden_units": 16, "l2": 0.1}},
                  training={"monitor": "val_classification_loss"})
    train(config, tmp_path / "l2", progress=False)
    history = json.loads((tmp_path / "l2" / "history.json").read_text())
    penalty = np.subtract(history["val_loss"], history["val_classification_loss"])
    assert np.all(penalty > 0.01), penalty  # val_loss carries 0.1 * sum(kernel ** 2), the monitored value does not


def test_a_run_can_stop_on_the_validation_uar_and_keeps_its_best_epoch(tmp_path, data_root):
    config = tiny(seed=4, training={"epochs": 4, "patience": 10, "monitor": "val_uar"})
    metrics = train(config, tmp_path / "uar", progress=False)
    history = json.loads((tmp_path / "uar" / "history.json").read_text())
    assert len(history["val_uar"]) == 4 and (tmp_path / "uar" / "history_uar.png").is_file()
    # the first epoch with the highest validation UAR is kept, and the final metrics are its
    assert metrics["best_epoch"] == int(np.argmax(history["val_uar"]))
    assert metrics["best_epoch"] != int(np.argmin(history["val_loss"]))  # this seed's UAR and loss disagree
    assert metrics["val"]["uar"] == pytest.approx(max(history["val_uar"]), abs=1e-9)


AVERAGED_WEIGHTS = textwrap.dedent(
    """
    import json, sys
    import keras, numpy as np
    from keras_ser.training import config_from_dict, train

    class Recorder(keras.callbacks.Callback):  # the raw trainable weights after each step; each epoch's last step
        steps, epoch_ends = [], []
        def on_train_batch_end(self, batch, logs=None):
            self.steps.append([np.array(w, dtype="float64") for w in self.model.trainable_weights])
        def on_epoch_end(self, epoch, logs=None):
            self.epoch_ends.append(len(self.steps) - 1)

    raw, run_dir = json.loads(sys.argv[1]), sys.argv[2]
    recorder = Recorder()
    metrics = train(config_from_dict(raw), run_dir, callbacks=[recorder], progress=False)
    saved = [np.array(w) for w in keras.models.load_model(f"{run_dir}/model.keras").trainable_weights]
    history = json.load(open(f"{run_dir}/history.json"))
    np.savez(f"{run_dir}/weights.npz",  # each weight across the steps, then as saved
             **{f"steps_{i}": np.stack(each) for i, each in enumerate(zip(*recorder.steps))},
             **{f"saved_{i}": weight for i, weight in enumerate(saved)})
    print(json.dumps({
        "weights": len(saved), "kept_step": recorder.epoch_ends[metrics["best_epoch"]],
        "epoch_ends": recorder.epoch_ends,
        "val_uar": metrics["val"]["uar"], "kept_epoch_val_uar": history["val_uar"][metrics["best_epoch"]],
    }))
    """
)


def test_the_averages_momentum_warms_up_to_its_cap():
    from keras_ser.training.averaging import warmed_up_momentum

    steps = [0, 1, 2, 100, 1789, 1791, 10_000]
    expected = [0.0, 2 / 11, 3 / 12, 101 / 110, 1790 / 1799, 0.995, 0.995]
    found = [float(warmed_up_momentum(0.995, step)) for step in steps]
    assert found == pytest.approx(expected, abs=1e-6)


def test_an_average_in_epochs_is_a_mean_until_it_spans_them():
    from keras_ser.training.averaging import averaging_optimizer, epochs_momentum, mean_first_momentum

    momentum = epochs_momentum(2, 90)
    assert momentum == pytest.approx(1 - 1 / 180)
    steps = [0, 1, 2, 178, 179, 180, 10_000]
    expected = [0.0, 1 / 2, 2 / 3, 178 / 179, 179 / 180, 179 / 180, 179 / 180]
    assert [float(mean_first_momentum(momentum, step)) for step in steps] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match=r"over 0.25 epoch\(s\) of 4 step\(s\) spans 1 steps.* average over more"):
        epochs_momentum(0.25, 4)
    with pytest.raises(ValueError, match=r"warm_up must be one of \['mean', 'tenth'\], got 'linear'"):
        averaging_optimizer(keras.optimizers.Adam, 0.99, warm_up="linear")


@pytest.mark.parametrize("backend, averaging", [("tensorflow", "momentum"), ("jax", "momentum"),
                                                ("tensorflow", "epochs")])
def test_averaged_weights_are_the_ones_validated_kept_and_saved(tmp_path, data_root, backend, averaging):
    if backend == "jax" and importlib_find("jax") is None:
        pytest.skip("JAX is not installed")
    # Over the run's ~11 steps the warm-up sets the momentum (0.18 to 0.55; Keras's own average would move at 0.9
    # from the first step's weights and keep a third of them). Over one epoch: the first epoch's mean, then an
    # average at 1 - 1 / (its steps) through the second.
    raw = json.loads(json.dumps(TINY))
    raw["optimizer"] = {"ema_momentum": 0.9} if averaging == "momentum" else {"ema_epochs": 1}
    raw["training"].update(epochs=2, patience=10, monitor="val_uar")
    result = subprocess.run([sys.executable, "-c", AVERAGED_WEIGHTS, json.dumps(raw), str(tmp_path / "ema")],
                            env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    with np.load(tmp_path / "ema" / "weights.npz") as recorded:
        every_step = list(zip(*(recorded[f"steps_{i}"] for i in range(found["weights"]))))
        saved_weights = [recorded[f"saved_{i}"] for i in range(found["weights"])]
    steps = every_step[:found["kept_step"] + 1]
    assert len(every_step) > 9
    span = found["epoch_ends"][0] + 1
    expected = warmed_up_average(steps, 0.9) if averaging == "momentum" else mean_first_average(steps, span)
    for saved, average in zip(saved_weights, expected, strict=True):
        np.testing.assert_allclose(saved, average, rtol=1e-4, atol=1e-6)
    assert not all(np.allclose(saved, raw, rtol=1e-4, atol=1e-6) for saved, raw in zip(saved_weights, steps[-1]))
    assert found["val_uar"] == pytest.approx(found["kept_epoch_val_uar"], abs=1e-9)  # validated on the average


def test_a_multi_corpus_run_can_stop_on_the_mean_of_its_corpora_validation_uar(tmp_path, data_root):
    config = tiny(seed=4, data={"corpora": ["emodb", "ravdess"], "split": "per_corpus", "max_items": 120},
                  training={"epochs": 3, "patience": 10, "monitor": "val_corpus_uar"})
    metrics = train(config, tmp_path / "corpus_uar", progress=False)
    history = json.loads((tmp_path / "corpus_uar" / "history.json").read_text())
    assert metrics["best_epoch"] == int(np.argmax(history["val_corpus_uar"]))
    # the kept epoch's monitored value is the mean of the final per-corpus validation UARs, an evaluation of its own
    per_corpus = metrics["val"]["per_corpus"]
    assert sorted(per_corpus) == ["emodb", "ravdess"]
    expected = np.mean([per_corpus[corpus]["uar"] for corpus in per_corpus])
    assert max(history["val_corpus_uar"]) == pytest.approx(expected, abs=1e-9)
    assert history["val_uar"][metrics["best_epoch"]] == pytest.approx(metrics["val"]["uar"], abs=1e-9)


# Four trainings in one process: their traced functions would stay in the suite's memory. The child also runs
# tests/test_models.py's full-size A2.
@pytest.mark.isolated(group="a2")
def test_orthogonal_pretraining_then_anti_transfer_and_weight_init(tmp_path, data_root):
    speaker = tiny(data={"task": "speaker", "split": "random"}, training={"epochs": 1})
    train(speaker, tmp_path / "speaker", progress=False)
    speaker_metrics = json.loads((tmp_path / "speaker" / "metrics.json").read_text())
    assert len(speaker_metrics["test"]["class_names"]) == 10  # EmoDB's 10 speakers
    orthogonal = {"orthogonal": [str(tmp_path / "speaker")], "at_layers": [1]}
    train(tiny(strategy={"kind": "anti_transfer", "beta": 1.0, **orthogonal}), tmp_path / "at", progress=False)
    history = json.loads((tmp_path / "at" / "history.json").read_text())
    assert "at_loss" in history and len(history["at_loss"]) == 2
    train(tiny(strategy={"kind": "weight_init_frozen", **orthogonal}, training={"epochs": 1}), tmp_path / "wi",
          progress=False)
    pretrained, trained = load_orthogonal(tmp_path / "speaker"), load_orthogonal(tmp_path / "wi")
    assert not any(layer.name == "normalizer" for layer in pretrained.layers)  # the bare network
    np.testing.assert_array_equal(trained.get_layer("conv1").get_weights()[0],
                                  pretrained.get_layer("conv1").get_weights()[0])

    # Dual AT: stage 1 (AT against the first model) initialises every layer of stage 2 (AT against the
    # second). A learning rate of 1e-12 keeps stage 2 where it started, so its weights must be stage 1's.
    dual = tiny(strategy={"kind": "dual_anti_transfer", "orthogonal": [str(tmp_path / "speaker")] * 2,
                          "at_layers": [1]}, optimizer={"learning_rate": 1e-12})
    train(dual, tmp_path / "dual", progress=False)
    assert json.loads((tmp_path / "dual" / "stage1" / "metrics.json").read_text())["test"]["class_names"]
    assert len(json.loads((tmp_path / "dual" / "history.json").read_text())["at_loss"]) == 2
    stage1, stage2 = load_orthogonal(tmp_path / "dual" / "stage1"), load_orthogonal(tmp_path / "dual")
    assert len(stage2.get_weights()) == len(stage1.get_weights())
    for ours, theirs in zip(stage2.get_weights(), stage1.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_weight_init_from_a_seed_ensemble_preset_takes_the_member_of_the_runs_seed(tmp_path, data_root):
    """A preset (here a folder) as `strategy.orthogonal`: a run with seed 3 starts from member 3 mod 2 = 1."""
    from keras_ser.layers import conv_layers
    from keras_ser.presets import AudioPreprocessor, SERClassifier, save_preset

    keras.utils.set_random_seed(0)
    pair = SERClassifier(["neutral", "angry", "happy", "sad"], name="pair",
                         network={"builder": "a2", "options": {"filters": 4, "hidden_units": 16}, "members": 2},
                         preprocessor=AudioPreprocessor(normalizer={"kind": "max", "maximum": 40.0}))
    folder = save_preset(pair, tmp_path / "pair", metadata={"license": "cc-by-nc-sa-4.0"})
    frozen = {"kind": "weight_init_frozen", "orthogonal": [str(folder)], "at_layers": [1]}  # conv1 stays as copied
    train(tiny(seed=3, strategy=frozen, training={"epochs": 1}), tmp_path / "run", progress=False)

    def first_kernel(network):
        return conv_layers(network)[0].get_weights()[0]

    members = [first_kernel(network) for network in pair.networks]
    assert not np.array_equal(*members)
    np.testing.assert_array_equal(first_kernel(load_orthogonal(tmp_path / "run")), members[1])
    np.testing.assert_array_equal(first_kernel(load_orthogonal(folder, member=3)), members[1])


DATA_PARALLEL = textwrap.dedent(
    """
    import json, os, sys
    backend = os.environ["KERAS_BACKEND"]
    if backend == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from keras_ser.training import config_from_dict, train
    from keras_ser.training.strategies import load_orthogonal
    from keras_ser.training.data import prepare_data
    raw = json.loads(sys.argv[1])
    # same batches on one and two devices: a training set with no partial batch
    while len(prepare_data(config_from_dict(raw).data, progress=False).labels["train"]) % 8:
        raw["data"]["max_items"] += 1
    weights = {}
    for kind in ("none", "data_parallel"):
        raw["training"]["distribution"] = kind
        train(config_from_dict(raw), os.path.join(sys.argv[2], kind), progress=False)
        weights[kind] = load_orthogonal(os.path.join(sys.argv[2], kind)).get_weights()
    assert len(keras.distribution.list_devices()) == 2, keras.distribution.list_devices()
    assert all(np.isfinite(w).all() for w in weights["data_parallel"])
    for a, b in zip(weights["none"], weights["data_parallel"]):
        # atol: the summation order differs between devices (and with oneDNN on or off), ~3e-6 seen
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    print("MATCH")
    """
)


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_matches_single_device(tmp_path, data_root, backend):
    if backend == "jax" and importlib_find("jax") is None:
        pytest.skip("JAX is not installed")
    raw = json.loads(json.dumps(TINY))
    raw["training"].update(epochs=1, batch_size=8)
    # SGD: updates linear in the gradient, so summation-order noise stays tiny (Adam divides it by ~0)
    raw["optimizer"] = {"name": "sgd", "learning_rate": 0.01}
    xla_flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
    env = {**os.environ, "KERAS_BACKEND": backend, "XLA_FLAGS": xla_flags}
    result = subprocess.run(
        [sys.executable, "-c", DATA_PARALLEL, json.dumps(raw), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert "MATCH" in result.stdout, result.stderr[-3000:]


def importlib_find(name):
    import importlib.util

    return importlib.util.find_spec(name)


def test_rhemo_recipe_feeds_a_quaternion_classifier(tmp_path, data_root, capsys):
    rhemo_dir = tmp_path / "rhemo"
    assert main(["rhemo", "emodb", "--run-dir", str(rhemo_dir), "--max-items", "40",
                 "--stage1-epochs", "1", "--stage2-epochs", "1", "--head-units", "16"]) == 0
    assert "test emotion head UAR" in capsys.readouterr().out
    split_speakers = json.loads((rhemo_dir / "split.json").read_text())
    assert not set(split_speakers["train"]) & set(split_speakers["test"])
    encoder = keras.saving.load_model(rhemo_dir / "encoder.keras")
    spectrograms = np.random.default_rng(0).random((2, 512, 128, 1), np.float32) * 50
    embedding = encoder.predict(spectrograms, verbose=0)
    assert embedding.shape == (2, 64, 64, 4) and embedding.min() >= 0
    config = tiny(data={"features": "rhemo", "rhemo_model": str(rhemo_dir / "encoder.keras"),
                        "segment_seconds": 4.0, "time_steps": 512, "frequency_bins": 128},  # the encoder's STFT
                  model={"builder": "a3", "variant": "quaternion", "options": {"filters": 4, "hidden_units": 8}},
                  training={"epochs": 1})
    metrics = train(config, tmp_path / "classifier", progress=False)
    assert 0 <= metrics["test"]["uar"] <= 1
    # Both runs become presets, measured from the audio files on the run's own test speakers.
    assert main(["preset", str(rhemo_dir), str(tmp_path / "rhemo_preset"), "--full-precision"]) == 0
    recipe = tmp_path / "classifier.toml"
    assert main(["preset", str(tmp_path / "classifier"), str(tmp_path / "classifier_preset"), "--recipe", str(recipe)]) == 0
    from keras_ser.presets import load
    from keras_ser.presets.from_run import preset_from_run

    rhemo_preset = load(str(tmp_path / "rhemo_preset"))
    assert rhemo_preset.class_names == ["neutral", "angry", "happy", "sad"] and rhemo_preset.networks == []
    assert rhemo_preset.dimension_names == ["valence", "arousal", "dominance"]
    # the preset is measured on the run's own 40 files and split, not on the whole corpus
    assert rhemo_preset.metadata["training_data"]["speakers"] == split_speakers
    measured = rhemo_preset.metadata["metrics"]
    assert measured["test"]["emodb"]["clips"] + measured["val"]["emodb"]["clips"] <= 40
    classifier = load(str(tmp_path / "classifier_preset"))
    info = classifier.metadata
    assert info["recipe"]["commands"][1] == f"keras-ser train {recipe} --run-dir {tmp_path / 'classifier'}"
    assert info["metrics"]["test"]["emodb"]["clips"] == sum(metrics["test"]["support_per_class"].values())
    assert info["weights"]["model.weights.h5"]["dtype"] == "float16" and "non-commercial" not in info["data_licenses"]["emodb"]
    for ours, theirs in zip(classifier.get_layer("rhemo_encoder").weights, rhemo_preset.get_layer("rhemo_encoder").weights):
        # the classifier's encoder is the one it was trained on (arrays this small stay float32)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert classifier.dimension_names == ["valence", "arousal", "dominance"]
    # Without RH-emo's valence/arousal/dominance heads: the same emotion scores, and 3 heads' weights fewer.
    for run, folder in ((rhemo_dir, "rhemo_emotion_only"), (tmp_path / "classifier", "classifier_emotion_only")):
        assert main(["preset", str(run), str(tmp_path / folder), "--no-dimension-heads"]) == 0
    windows = classifier.preprocessor.windows(classifier.preprocessor.load(data_root / "emodb" / "wav" / "03a01Wa.flac"))
    for full, folder in ((rhemo_preset, "rhemo_emotion_only"), (classifier, "classifier_emotion_only")):
        emotion_only = load(str(tmp_path / folder))
        assert emotion_only.dimension_names == [] and set(emotion_only.score_windows(windows)) == {"emotion"}
        np.testing.assert_allclose(emotion_only.score_windows(windows)["emotion"],
                                   full.score_windows(windows)["emotion"], atol=5e-3)  # float16 weights against float32
        head = 16 * 64 * 64 + 16 + 16 * 16 + 16 + 16 + 1  # 4096 inputs, two layers of 16 units, one sigmoid output
        assert full.count_params() - emotion_only.count_params() == 3 * head
    # A copy of the RH-emo run without rhemo.keras (as from the GPU machine) still makes presets without the heads.
    (rhemo_dir / "rhemo.keras").rename(tmp_path / "rhemo.keras")
    with pytest.raises(FileNotFoundError, match=re.escape(f"'{rhemo_dir}' holds no rhemo.keras: make the preset "
                                                          "without RH-emo's valence/arousal/dominance heads")):
        preset_from_run(tmp_path / "classifier", tmp_path / "needs_heads", progress=False)
    preset_from_run(tmp_path / "classifier", tmp_path / "from_encoder", progress=False, dimension_heads=False)
    np.testing.assert_array_equal(load(str(tmp_path / "from_encoder")).score_windows(windows)["emotion"],
                                  load(str(tmp_path / "classifier_emotion_only")).score_windows(windows)["emotion"])
    (tmp_path / "rhemo.keras").rename(rhemo_dir / "rhemo.keras")
    with pytest.raises(ConfigError, match="data.rhemo_model.*not an RH-emo encoder"):
        train(tiny(data={"features": "rhemo", "rhemo_model": str(rhemo_dir / "rhemo.keras")}), tmp_path / "x",
              progress=False)
    with pytest.raises(ConfigError, match=r"data.rhemo_model.*encodes \(512, 128, 1\) spectrograms.*\(201, 160, 1\)"):
        train(tiny(data={"features": "rhemo", "rhemo_model": str(rhemo_dir / "encoder.keras"), **CH4_FRONT_END}),
              tmp_path / "y", progress=False)
