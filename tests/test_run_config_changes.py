"""A run directory refuses a changed configuration; the whole configuration is checked before features are computed."""

import functools
import json

import pytest
from test_training import tiny as training_tiny

from keras_ser.training import run as run_module
from keras_ser.training.config import ConfigError, ModelConfig, RunConfig, dump_toml, load_config
from keras_ser.training.experiment import run_experiment, train_in_child
from keras_ser.training.run import ChangedConfigError, train

TINY = {
    "name": "tiny",
    "data": {"corpora": ["emodb"], "max_items": 60},
    "model": {"builder": "a2", "options": {"filters": 4, "hidden_units": 16}},
    "training": {"batch_size": 8, "epochs": 1},
}
# TINY as a person might write it: other order, other number formats, defaults spelt out.
TINY_HAND_WRITTEN = """\
name = "tiny"
[training]
epochs = 1
batch_size = 8
[model]
options = { hidden_units = 16, filters = 4 }
builder = "a2"
variant = "real"
[optimizer]
learning_rate = 0.5e-3
[data]
max_items = 60
corpora = "emodb"
"""
FAKE_METRICS = {"test": {"uar": 0.25, "accuracy": 0.25}, "val": {"uar": 0.25}, "wall_time_s": 1.0}


tiny = functools.partial(training_tiny, TINY)


@pytest.fixture
def no_features(monkeypatch):
    """Fail the test if a run starts preparing its data (the step that computes features)."""

    def prepare_data(*args, **kwargs):
        raise AssertionError("features were computed")

    monkeypatch.setattr(run_module, "prepare_data", prepare_data)


def _run_dir(tmp_path, config_text, *, finished):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.toml").write_text(config_text)
    if finished:
        (run_dir / "metrics.json").write_text(json.dumps(FAKE_METRICS))
    else:  # interrupted: a backup of its last epoch, no metrics
        (run_dir / "checkpoints" / "backup").mkdir(parents=True)
    return run_dir


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "interrupted"])
def test_a_changed_configuration_is_refused_naming_its_keys(tmp_path, no_features, finished):
    run_dir = _run_dir(tmp_path, TINY_HAND_WRITTEN, finished=finished)
    changed = tiny(model={"builder": "a3", "options": {"filters": 8, "hidden_units": 16}}, training={"epochs": 3})
    with pytest.raises(ChangedConfigError) as info:
        train(changed, run_dir, progress=False)
    message = str(info.value)
    assert "model.builder: 'a2' -> 'a3'" in message and "model.options.filters: 4 -> 8" in message
    assert "training.epochs: 1 -> 3" in message and "hidden_units" not in message and "--restart" in message
    assert (run_dir / "config.toml").read_text() == TINY_HAND_WRITTEN
    assert isinstance(info.value, ValueError)  # the CLI prints it as an error


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "interrupted"])
def test_an_unchanged_configuration_continues_the_run_however_its_file_is_written(tmp_path, no_features, finished):
    run_dir = _run_dir(tmp_path, TINY_HAND_WRITTEN, finished=finished)
    if finished:
        assert train(tiny(), run_dir, progress=False) == FAKE_METRICS
    else:
        with pytest.raises(AssertionError, match="features were computed"):  # resumes
            train(tiny(), run_dir, progress=False)
    assert (run_dir / "config.toml").read_text() == TINY_HAND_WRITTEN


def test_an_option_set_in_only_one_configuration_is_named(tmp_path, no_features):
    run_dir = _run_dir(tmp_path, TINY_HAND_WRITTEN, finished=True)
    with pytest.raises(ChangedConfigError, match=r"model.options.l2: \(unset\) -> 0.1"):
        train(tiny(model={"options": {"filters": 4, "hidden_units": 16, "l2": 0.1}}), run_dir, progress=False)


def test_restart_trains_the_changed_configuration(tmp_path, data_root):
    run_dir = _run_dir(tmp_path, TINY_HAND_WRITTEN, finished=True)
    changed = tiny(seed=1)
    metrics = train(changed, run_dir, progress=False, restart=True)
    assert metrics != FAKE_METRICS and metrics["epochs_run"] == 1
    assert load_config(run_dir / "config.toml") == changed


def test_a_dual_run_resumes_its_second_stage_and_refuses_a_changed_first(tmp_path, no_features):
    models = [tmp_path / "a.keras", tmp_path / "b.keras"]
    for path in models:
        path.write_bytes(b"")  # exists: the run is stopped before it loads them
    dual = tiny(strategy={"kind": "dual_anti_transfer", "orthogonal": [str(p) for p in models]})
    stage1 = tiny(strategy={"kind": "anti_transfer", "orthogonal": [str(models[0])]})
    run_dir = _run_dir(tmp_path, dump_toml(dual), finished=False)  # interrupted in stage 2
    (run_dir / "stage1").mkdir()
    (run_dir / "stage1" / "config.toml").write_text(dump_toml(stage1))
    (run_dir / "stage1" / "metrics.json").write_text(json.dumps(FAKE_METRICS))
    with pytest.raises(AssertionError, match="features were computed"):  # stage 1 finished: on to stage 2
        train(dual, run_dir, progress=False)
    swapped = tiny(strategy={"kind": "dual_anti_transfer", "orthogonal": [str(p) for p in models[::-1]]})
    with pytest.raises(ChangedConfigError, match=r"strategy.orthogonal: \['.*a.keras', '.*b.keras'\] -> \['.*b.keras'"):
        train(swapped, run_dir, progress=False)
    assert (run_dir / "config.toml").read_text() == dump_toml(dual)


@pytest.mark.parametrize(
    "model, data, key, message",
    [
        ({"builder": "vgg61"}, {}, "model.builder", "'vgg61' is not one of a1, a2"),
        ({"variant": "complex"}, {}, "model.variant", "'complex' is not one of real, quaternion, mts"),
        ({"options": {"filter": 4}}, {}, "model.options", "a2\\(\\) takes no option 'filter'; its options: filters"),
        ({"options": {"num_classes": 3}}, {}, "model.options", "takes no option 'num_classes'"),
        ({"variant": "quaternion"}, {}, "model.variant", "quaternion networks need 4-channel input"),
        ({}, {"corpora": ["emodb", "emobd"]}, "data.corpora", "'emobd' is not one of crema_d"),
    ],
)
def test_the_model_and_corpora_are_checked_with_the_configuration(model, data, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        tiny(model=model, data=data)
    assert info.value.key == key


def test_a_misspelt_builder_fails_before_anything_is_computed_or_written(tmp_path, no_features):
    config = RunConfig(model=ModelConfig(builder="alexnett"))  # built in code: not validated yet
    with pytest.raises(ConfigError, match="model.builder.*'alexnett' is not one of") as info:
        train(config, tmp_path / "run", progress=False)
    assert info.value.key == "model.builder" and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "sections, key",
    [({"strategy": {"kind": "weight_init", "orthogonal": ["nowhere"]}}, "strategy.orthogonal"),
     ({"data": {"features": "rhemo", "rhemo_model": "nowhere/encoder.keras"}}, "data.rhemo_model")],
)
def test_missing_model_files_fail_before_features_are_computed(tmp_path, no_features, sections, key):
    with pytest.raises(ConfigError, match="nowhere") as info:
        train(tiny(**sections), tmp_path / "run", progress=False)
    assert info.value.key == key


def test_a_configuration_failing_on_its_data_leaves_no_config_behind(tmp_path, data_root):
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match="data.classes"):
        train(tiny(data={"classes": ["neutral", "joyful"]}), run_dir, progress=False)
    assert not (run_dir / "config.toml").exists()  # so the corrected configuration may use the directory


EXPERIMENT = """
name = "exp"
[base]
data = { corpora = ["emodb"], max_items = 60 }
model = { builder = "a2", options = { filters = 4, hidden_units = 16 } }
training = { batch_size = 8, epochs = EPOCHS }
[grid]
seed = [0, 1]
"""


def test_an_experiment_skips_its_finished_runs_and_refuses_changed_ones(tmp_path, no_features):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT.replace("EPOCHS", "1"))
    runs = tmp_path / "runs"
    for seed in (0, 1):
        folder = runs / "exp" / f"seed={seed}"
        folder.mkdir(parents=True)
        (folder / "config.toml").write_text(dump_toml(tiny(name=f"seed={seed}", seed=seed)))
        (folder / "metrics.json").write_text(json.dumps(FAKE_METRICS))
    assert len(run_experiment(str(path), runs_dir=runs, progress=False, isolate=False)["results"]) == 2
    path.write_text(EXPERIMENT.replace("EPOCHS", "2"))
    for summary_only in (False, True):
        with pytest.raises(ChangedConfigError, match=r"seed=0' holds .*training.epochs: 1 -> 2.*--runs-dir"):
            run_experiment(str(path), runs_dir=runs, progress=False, isolate=False, summary_only=summary_only)
    changed = tiny(name="seed=1", seed=1, training={"epochs": 2})
    with pytest.raises(ChangedConfigError, match="training.epochs"):  # refused without starting a process
        train_in_child(changed, runs / "exp" / "seed=1", progress=False)
