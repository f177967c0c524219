import contextlib
import functools
import io
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest
from test_training import TINY, tiny

from keras_ser.cli import main
from keras_ser.training import ConfigError, load_config
from keras_ser.training.config import dump_toml
from keras_ser.training.data import prepare_data
from keras_ser.training.run import ChangedConfigError, build_network
from keras_ser.tuning import MTS_SCALE_SETS, OBJECTIVE, SERHyperModel, load_tuning, make_tuner, parse_space, tune

TINY_BASE = {
    "name": "tiny_tune",
    "data": TINY["data"],
    "model": {"builder": "a3", "options": {"filters": 4, "hidden_units": 16}},
    "training": {"batch_size": 8, "epochs": 1},
}
LR_SPACE = {"learning_rate": {"min": 1e-4, "max": 1e-2}}


base = functools.partial(tiny, TINY_BASE)


def write_tuning(path, base_sections, space_lines):
    """A tuning TOML of the tiny base config (with `base_sections` merged in) and a [space] given as TOML lines."""
    raw = json.loads(json.dumps(TINY_BASE))
    for section, values in base_sections.items():
        raw.setdefault(section, {}).update(values)
    lines = ["[base]", f'name = "{raw["name"]}"']
    for section in ("data", "model", "strategy", "training"):
        if section in raw:
            lines.append(f"{section} = {_inline(raw[section])}")
    path.write_text("\n".join(lines + ["", "[space]", *space_lines]) + "\n")
    return path


def _inline(table):
    return "{" + ", ".join(f"{k} = {_inline(v) if isinstance(v, dict) else json.dumps(v)}"
                           for k, v in table.items()) + "}"


@pytest.fixture(scope="module")
def tiny_data(data_root):
    return prepare_data(base().data, progress=False)


@pytest.fixture(scope="module")
def orthogonal_models(tmp_path_factory, tiny_data):
    """Two untrained A3 speaker networks (10 EmoDB speakers) saved as .keras files."""
    folder = tmp_path_factory.mktemp("orthogonal")
    paths = {}
    for seed, name in enumerate(("speaker", "text")):
        keras.utils.set_random_seed(seed)
        network = build_network(base(), tiny_data.input_shape, 10)
        network.save(folder / f"{name}.keras")
        paths[name] = str(folder / f"{name}.keras")
    return paths


# --- search space -----------------------------------------------------------------------

AT_BASE = {"strategy": {"kind": "anti_transfer", "orthogonal": ["x"]}}


@pytest.mark.parametrize(
    "sections, space, key, message",
    [
        ({}, {}, "space", "give a table of hyperparameters"),
        ({}, {"dropout": 1}, "space.dropout", "unknown key; known: at_layer"),
        ({}, {"at_layer": "all"}, "space.at_layer", "needs base strategy.kind = \"anti_transfer\""),
        (AT_BASE, {"at_layer": [0, 1]}, "space.at_layer", "1-based conv layer numbers"),
        (AT_BASE, {"beta": {"min": 1.0, "max": 0.5}}, "space.beta", "min must be below max"),
        (AT_BASE, {"beta": {"signs": [2]}}, "space.beta.signs", r"give \[1\], \[-1\] or \[1, -1\]"),
        (AT_BASE, {"beta": {"step": 1}}, "space.beta.step", "unknown key; known: min, max, signs"),
        (AT_BASE, {"orthogonal": {"speaker": ""}}, "space.orthogonal", "name = \"path"),
        ({}, {"learning_rate": {"min": 0.0, "max": 1e-3}}, "space.learning_rate", "positive numbers"),
        ({}, {"learning_rate": 1e-3}, "space.learning_rate", "give a table"),
        ({}, {"scales": "all"}, "space.scales", "apply to model.variant = \"mts\", not 'real'"),
        ({"model": {"variant": "mts"}}, {"scales": [[0.5, -1]]}, "space.scales", "list of scale sets"),
        ({"strategy": {"kind": "dual_anti_transfer", "orthogonal": ["a", "b"]}}, LR_SPACE, "strategy.kind",
         "one stage per trial"),
    ],
)
def test_bad_search_space_names_the_key(sections, space, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_space(space, base(**sections))
    assert info.value.key == key


def test_space_defaults_and_the_thesis_scale_sets():
    space = parse_space({"beta": {}, "at_layer": [3, 1, 3]}, base(**AT_BASE))
    assert space["beta"] == {"min": 0.01, "max": 20.0, "signs": [1]}
    assert space["at_layer"] == [1, 3]
    assert len(MTS_SCALE_SETS) == 11 and all(1 in s and len(s) % 2 == 1 for s in MTS_SCALE_SETS)
    scales = parse_space({"scales": "all"}, base(model={"variant": "mts"}))["scales"]
    assert scales[0] == "0.25,1,4" and scales[-1] == "0.7,0.8,0.9,1,1.111,1.25,1.428" and len(set(scales)) == 11


def test_bad_tuning_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tuning file"):
        load_tuning(tmp_path / "missing.toml")
    only_base = tmp_path / "only_base.toml"
    only_base.write_text('[base]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"must hold exactly a \[base\] run configuration and a \[space\]"):
        load_tuning(only_base)
    bad_base = tmp_path / "bad_base.toml"
    bad_base.write_text('[base]\ndata = {split = "bogus"}\n[space]\nlearning_rate = {min = 1e-4, max = 1e-3}\n')
    with pytest.raises(ConfigError, match="data.split"):
        load_tuning(bad_base)


def test_overrides_change_the_base_and_a_search_continues_only_with_its_own_base(tmp_path, capsys):
    config = write_tuning(tmp_path / "lr.toml", {}, ["learning_rate = {min = 1e-4, max = 1e-2}"])
    base, _ = load_tuning(config, ["training.epochs=3", "data.max_items=20"])
    assert base.training.epochs == 3 and base.data.max_items == 20
    with pytest.raises(ConfigError, match="an override is KEY=VALUE"):
        load_tuning(config, ["training.epochs"])
    project = tmp_path / "runs" / TINY_BASE["name"]
    project.mkdir(parents=True)
    (project / "config.toml").write_text(dump_toml(load_tuning(config)[0]))  # a search begun with 1 epoch a trial
    with pytest.raises(ChangedConfigError, match=r"holds a search of another configuration \(training.epochs: 1 -> 2\)"
                                                 r".*--set name=<new name>"):
        tune(config, 1, directory=tmp_path / "runs", progress=False, overrides=["training.epochs=2"])
    assert main(["tune", str(config), "--max-trials", "1", "--directory", str(tmp_path / "runs"),
                 "--set", "training.batch_size=4"]) == 2
    assert "training.batch_size: 8 -> 4" in capsys.readouterr().err
    assert load_config(project / "config.toml").training.epochs == 1  # the refused runs left it as it was


def test_shipped_search_spaces_load():
    for path in sorted(Path(__file__).parent.parent.joinpath("tuning").glob("*.toml")):
        config, space = load_tuning(path)
        assert space, path


# --- the hypermodel ---------------------------------------------------------------------

def test_hyperparameters_map_onto_the_run_config(tiny_data, orthogonal_models):
    space = parse_space({"at_layer": "all", "beta": {"signs": [1, -1]}, "orthogonal": orthogonal_models,
                         "learning_rate": {"min": 1e-5, "max": 1e-3}},
                        base(strategy={"kind": "anti_transfer", "orthogonal": [orthogonal_models["speaker"]]}))
    hypermodel = SERHyperModel(base(strategy={"kind": "anti_transfer", "orthogonal": ["x"]}), space, tiny_data)
    assert hypermodel.space["at_layer"] == [1, 2]  # A3 has two conv layers
    hp = keras_tuner.HyperParameters()
    hypermodel.config_for(hp)  # declares the hyperparameters
    assert set(hp.values) == {"at_layer", "beta", "beta_sign", "orthogonal", "learning_rate"}
    hp.values.update(at_layer=2, beta=2.5, beta_sign=-1, orthogonal="text", learning_rate=3e-4)
    config = hypermodel.config_for(hp)
    assert config.strategy.at_layers == [2] and config.strategy.beta == -2.5
    assert config.strategy.orthogonal == [orthogonal_models["text"]] and config.optimizer.learning_rate == 3e-4
    with pytest.raises(ConfigError, match=r"space.at_layer.*has conv layers 1..2, got 3"):
        SERHyperModel(base(**AT_BASE), parse_space({"at_layer": [1, 3]}, base(**AT_BASE)), tiny_data)


def test_scale_set_reaches_the_mts_layers(tiny_data):
    mts = base(model={"variant": "mts"})
    hypermodel = SERHyperModel(mts, parse_space({"scales": [[0.5, 1, 2], [0.8, 1, 1.25]]}, mts), tiny_data)
    hp = keras_tuner.HyperParameters()
    hp.Choice("scales", ["0.5,1,2", "0.8,1,1.25"])
    hp.values["scales"] = "0.8,1,1.25"
    model = hypermodel.build(hp)
    scales = {tuple(layer.scales) for layer in model.layers if hasattr(layer, "scales")}
    assert scales == {(0.8, 1.0, 1.25)}


def test_a_trial_reduces_its_learning_rate_on_a_plateau(data_root):
    # seed 1: the validation UAR stays level over epochs 0-2 (seeds 0, 2 and 4 improve every epoch)
    config = base(seed=1, training={"epochs": 4, "patience": 10, "monitor": "val_uar", "reduce_lr_patience": 1,
                                    "reduce_lr_factor": 0.5})
    space = parse_space({"learning_rate": {"min": 1e-3, "max": 1e-2}}, config)
    hypermodel = SERHyperModel(config, space, prepare_data(config.data, progress=False))
    hp = keras_tuner.HyperParameters()
    history = hypermodel.fit(hp, hypermodel.build(hp)).history
    rate, expected, best = hp.get("learning_rate"), [], -1.0
    for uar in history["val_uar"]:  # Keras's rule for a maximised value, patience 1
        expected.append(rate)
        best, rate = (uar, rate) if uar > best + 1e-4 else (best, rate * 0.5)
    np.testing.assert_allclose(history["learning_rate"], expected, rtol=1e-6)
    assert len(set(expected)) > 1, history["val_uar"]  # the learning rate was reduced


def _clip_uar(model, data):
    """Clip-level UAR from scratch: window probabilities averaged per clip, mean recall over classes."""
    x, y = data.arrays("val")
    probabilities = model.predict(x, verbose=0)
    clips = data.parts["val"].item_index[data.parts["val"].rows]
    predicted, truth = {}, {}
    for clip in np.unique(clips):
        predicted[clip] = probabilities[clips == clip].mean(axis=0).argmax()
        truth[clip] = y[clips == clip][0]
    recalls = [np.mean([predicted[c] == label for c in truth if truth[c] == label]) for label in set(truth.values())]
    return float(np.mean(recalls))


@pytest.fixture(scope="module")
def cli_search(tmp_path_factory, orthogonal_models):
    """`keras-ser tune` of anti-transfer settings (the orthogonal network among them), one trial, then resumed up
    to two: (the tuning file, the project folder, what each call printed, trial_0's trial.json after the first)."""
    folder = tmp_path_factory.mktemp("cli_search")
    config = write_tuning(
        folder / "at.toml", {"strategy": {"kind": "anti_transfer", "orthogonal": [orthogonal_models["speaker"]]}},
        ["at_layer = \"all\"", "beta = {min = 0.01, max = 20.0, signs = [1, -1]}",
         f"orthogonal = {_inline(orthogonal_models)}", "learning_rate = {min = 1e-4, max = 1e-2}"])
    args = ["tune", str(config), "--directory", str(folder / "runs"), "--no-isolate"]  # isolation: tested below
    project = folder / "runs" / "tiny_tune"
    printed = []
    for trials in (1, 2):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert main([*args, "--max-trials", str(trials)]) == 0
        printed.append(out.getvalue())
        if trials == 1:
            first = (project / "trial_0" / "trial.json").read_text()
    return config, project, printed, first


def test_anti_transfer_search_reports_val_uar_to_the_oracle(cli_search, tiny_data):
    config, project, _, _ = cli_search
    at_base, space = load_tuning(config)
    tuner = make_tuner("random", SERHyperModel(at_base, space, tiny_data), 2, project.parent, project.name)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2
    for trial in trials:  # "objective value missing" would leave a trial FAILED with no score
        assert trial.status == "COMPLETED" and math.isfinite(trial.score) and 0 <= trial.score <= 1
        assert trial.metrics.exists(OBJECTIVE)
        # one epoch: the score is the clip-level validation UAR of the trained weights
        assert trial.score == pytest.approx(_clip_uar(tuner.load_model(trial), tiny_data))


# --- the command line -------------------------------------------------------------------

def test_cli_search_writes_the_report_and_resumes(cli_search, orthogonal_models):
    _, project, (output_1, output_2), first = cli_search
    assert "1 trials" in output_1
    assert "Reloading Tuner" in output_2 and output_2.count("Running Trial") == 1 and "2 trials" in output_2
    assert (project / "trial_0" / "trial.json").read_text() == first  # the finished trial was not rerun
    rows = (project / "results.csv").read_text().splitlines()
    assert rows[0] == "trial,at_layer,beta,beta_sign,orthogonal,learning_rate,val_uar,status" and len(rows) == 3
    assert all(row.endswith(",COMPLETED") for row in rows[1:])
    assert (project / "results.md").read_text().startswith("| trial | at_layer |")
    assert (project / "val_uar_per_at_layer.png").stat().st_size > 0
    best = load_config(project / "best_config.toml")
    scores = {row.split(",")[0]: float(row.split(",")[-2]) for row in rows[1:]}
    best_trial = json.loads((project / f"trial_{max(scores, key=scores.get)}" / "trial.json").read_text())
    values = best_trial["hyperparameters"]["values"]
    assert best.strategy.at_layers == [values["at_layer"]]
    assert best.strategy.beta == pytest.approx(values["beta_sign"] * values["beta"])
    assert best.strategy.orthogonal == [orthogonal_models[values["orthogonal"]]]
    assert best.optimizer.learning_rate == pytest.approx(values["learning_rate"])


def _rss_mb():
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


def test_isolated_trials_keep_the_search_process_flat(tmp_path, data_root):
    """On TensorFlow each trial trains in a child process by default, so the search's own memory stays flat."""
    config = write_tuning(tmp_path / "lr.toml", {}, ["learning_rate = {min = 1e-4, max = 1e-2}"])
    tune(config, 1, directory=tmp_path, progress=False)
    after_one = _rss_mb()
    tuner = tune(config, 2, directory=tmp_path, progress=False)  # resumes: one more trial (in-process: ~100 MB)
    growth = _rss_mb() - after_one
    assert len(tuner.oracle.trials) == 2 and growth < 40, growth
    results = sorted((tmp_path / TINY_BASE["name"]).glob("trial_*/trial_result.json"))
    assert len(results) == 2
    assert all(0 <= max(json.loads(path.read_text())["val_uar"]) <= 1 for path in results)


def test_isolation_is_refused_for_hyperband():
    from keras_ser.tuning.isolation import isolated

    with pytest.raises(ValueError, match="random or bayesian"):
        isolated(keras_tuner.Hyperband)


def test_cli_reports_space_errors(tmp_path, capsys):
    config = write_tuning(tmp_path / "bad.toml", {}, ["at_layer = [1]"])
    assert main(["tune", str(config), "--max-trials", "1"]) == 2
    assert "config key 'space.at_layer'" in capsys.readouterr().err


# --- distributed ------------------------------------------------------------------------

def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.isolated(group="slow_modules")  # 40 s of three processes: in the lane, which finished 80 s before the rest
def test_chief_and_two_workers_share_one_search(tmp_path, data_root):
    config = write_tuning(tmp_path / "lr.toml", {}, ["learning_rate = {min = 1e-4, max = 1e-2}"])
    common = [sys.executable, "-m", "keras_ser.cli", "tune", str(config), "--max-trials", "2",
              "--directory", str(tmp_path / "runs"), "--oracle-port", str(_free_port()),
              "--no-isolate"]  # trials in child processes: tested above
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("chief", "worker0", "worker1")]
    processes = []
    try:
        processes.append(subprocess.Popen([*common, "--chief"], env=env, stdout=logs[0], stderr=subprocess.STDOUT))
        for index in (0, 1):
            processes.append(subprocess.Popen([*common, "--worker", str(index)], env=env, stdout=logs[index + 1],
                                              stderr=subprocess.STDOUT))
        for process in processes:
            process.wait(timeout=240)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for log in logs:
            log.close()
    outputs = {name: (tmp_path / f"{name}.log").read_text() for name in ("chief", "worker0", "worker1")}
    assert [process.returncode for process in processes] == [0, 0, 0], {k: v[-2000:] for k, v in outputs.items()}
    project = tmp_path / "runs" / "tiny_tune"
    rows = (project / "results.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 and all(row.endswith(",COMPLETED") for row in rows), rows
    assert "2 trials" in outputs["chief"], outputs["chief"][-2000:]
    assert all("no trials left" in outputs[name] for name in ("worker0", "worker1")), outputs
