import json
from pathlib import Path

import numpy as np
import pytest

from keras_ser.cli import main
from keras_ser.training import ConfigError, load_config
from keras_ser.training.experiment import expand, find_experiment, load_experiment, summarise, summary_markdown

# A slow module: its tests run beside the others, in the one child process of the slow modules (tests/conftest.py).
pytestmark = pytest.mark.isolated(group="slow_modules")

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


GRID = """
name = "demo"
[base]
data = { corpora = ["emodb"], split = "fold", folds = 4 }
model = { builder = "a3" }
[grid]
"data.fold" = [0, 1, 2]
[[cases]]
"model.variant" = ["real"]
[[cases]]
"model.variant" = ["mts"]
"model.options.scales" = [[0.5, 1.0, 2.0], [0.7, 1.0, 1.428]]
[select]
keys = ["model.options.scales"]
[compare]
key = "model.variant"
"""


def test_expand_combines_grid_and_cases(tmp_path):
    runs = expand(load_experiment(_write(tmp_path, GRID)))
    assert len(runs) == 3 * 1 + 3 * 2
    names = [config.name for _, config in runs]
    assert len(set(names)) == len(names)
    assert "fold=1,variant=mts,scales=0.7-1.0-1.428" in names
    assert [settings["data.fold"] for settings, _ in runs] == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # fold by fold
    assert [settings["model.variant"] for settings, _ in runs[:3]] == ["real", "mts", "mts"]
    mts = [config for settings, config in runs if settings["model.variant"] == "mts"]
    assert all(config.model.options["scales"] in ([0.5, 1.0, 2.0], [0.7, 1.0, 1.428]) for config in mts)


def _result(fold, variant, scales, val_uar, test_uar, test_acc, best_epoch=None, epochs_run=None):
    settings = {"data.fold": fold, "model.variant": variant}
    if scales is not None:
        settings["model.options.scales"] = scales
    return {"settings": settings, "name": "x", "val": {"uar": val_uar},
            "test": {"uar": test_uar, "accuracy": test_acc}, "best_epoch": best_epoch, "epochs_run": epochs_run}


def test_summary_selects_on_validation_and_pairs_folds(tmp_path):
    experiment = load_experiment(_write(tmp_path, GRID))
    a, b = [0.5, 1.0, 2.0], [0.7, 1.0, 1.428]
    real_test = [0.50, 0.55, 0.60]
    b_test = [0.58, 0.61, 0.70]
    results = []
    for fold in range(3):
        results.append(_result(fold, "real", None, 0.5, real_test[fold], real_test[fold] + 0.01, 4, 4))
        results.append(_result(fold, "mts", a, 0.40, 0.99, 0.99, 0, 50))  # best on test, worse on validation
        results.append(_result(fold, "mts", b, 0.60, b_test[fold], b_test[fold] + 0.02, 3 * fold + 1, 9 + fold))
    summary = summarise(experiment, results)
    chosen = {c["group"]["model.variant"]: c for c in summary["chosen"]}
    assert chosen["mts"]["selected"] == {"model.options.scales": "0.7-1.0-1.428"}
    assert chosen["mts"]["test_uar"] == pytest.approx(np.mean(b_test))
    assert chosen["real"]["test_uar"] == pytest.approx(np.mean(real_test))
    assert chosen["mts"]["test_accuracy_std"] == pytest.approx(np.std(np.array(b_test) + 0.02))
    (comparison,) = summary["comparisons"]
    assert (comparison["a"], comparison["b"]) == ("mts", "real")
    assert comparison["uar"]["n"] == 3
    assert comparison["uar"]["mean_difference"] == pytest.approx(np.mean(np.array(real_test) - b_test))
    assert json.loads(json.dumps(summary)) == summary
    assert (chosen["mts"]["best_epoch_range"], chosen["mts"]["epochs_run_range"]) == ([1, 7], [9, 11])  # b's runs only
    markdown = summary_markdown(summary)
    rows = {line.split(" | ")[0]: line for line in markdown.splitlines() if line.startswith("| model.variant=")}
    assert rows["| model.variant=mts"].endswith("| 1-7 | 9-11 |")
    assert rows["| model.variant=real"].endswith("| 4 | 4 |")  # the same epoch in every fold
    assert "shown as \"-\" is not set by that condition" in markdown


def test_selection_compares_candidates_on_the_folds_they_share(tmp_path):
    experiment = load_experiment(_write(tmp_path, GRID))
    a, b = [0.5, 1.0, 2.0], [0.7, 1.0, 1.428]
    results = [_result(fold, "real", None, 0.5, 0.5, 0.5) for fold in range(3)]
    results += [_result(fold, "mts", a, val, 0.6, 0.6) for fold, val in enumerate([0.60, 0.62, 0.10])]
    results += [_result(fold, "mts", b, 0.58, 0.7, 0.7) for fold in range(2)]  # fold 2 runs the other set only
    chosen = {c["group"]["model.variant"]: c for c in summarise(experiment, results)["chosen"]}
    # on folds 0 and 1 a beats b (0.61 against 0.58); over all its folds a's mean (0.44) would lose
    assert chosen["mts"]["selected"] == {"model.options.scales": "0.5-1.0-2.0"}
    assert chosen["mts"]["val_uar"] == pytest.approx(0.61) and chosen["mts"]["runs"] == 3
    assert chosen["mts"]["selected_on"] == ["fold=0", "fold=1"] and chosen["real"]["selected_on"] == ["fold=0", "fold=1", "fold=2"]
    markdown = summary_markdown(summarise(experiment, results))
    assert "| model.variant=mts | model.options.scales=0.5-1.0-2.0 (compared on fold=0; fold=1) | 3 |" in markdown


@pytest.mark.parametrize(
    "text, key, message",
    [
        ('[grid]\n"data.fold" = 3\n', "grid.data.fold", "non-empty list"),
        ('[grid]\n"data.fold" = [0]\n[select]\nkeys = ["seed"]\n', "select.keys", "'seed' is not a grid key"),
        ('colour = 1\n', "colour", "unknown experiment key"),
        ('[grid]\n"data.split" = ["bogus"]\n', "data.split", "in run 'split=bogus'"),
    ],
)
def test_bad_experiment_files(tmp_path, text, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        expand(load_experiment(_write(tmp_path, text)))
    assert info.value.key == key


def test_unknown_experiment_lists_the_known_ones(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    with pytest.raises(FileNotFoundError, match="known experiments: .*table4_1_emodb"):
        find_experiment("nonexistent")


def test_shipped_experiments_and_recipes_are_valid():
    experiments = sorted((REPO / "experiments").glob("*.toml"))
    assert {p.stem for p in experiments} >= {"table4_1_emodb", "table4_1_ravdess", "table4_1_tess",
                                              "anti_transfer_emodb"}
    for path in experiments:
        assert expand(load_experiment(path)), path
    recipes = sorted((REPO / "experiments" / "pretrain").glob("*.toml"))
    assert {p.stem for p in recipes} >= {"speaker_ravdess", "speaker_emodb", "text_emodb", "words_tess",
                                          "statement_ravdess", "digits_fsdd"}
    for path in recipes:
        assert load_config(path).data.task in ("speaker", "text"), path
    for path in sorted((REPO / "experiments" / "baselines").glob("*.toml")):
        assert load_config(path).validate().data.task == "emotion", path


# One fold: two runs, both at once in child processes, or in this one, where the continuation below trains its
# one run in a child (--isolate); pairing over folds is tested above.
@pytest.mark.parametrize("isolate", ["--workers=2", "--no-isolate"])
def test_cli_runs_a_tiny_experiment(tmp_path, data_root, capsys, isolate):
    folds = 1
    path = _write(tmp_path, f"""
name = "tiny_experiment"
[base]
data = {{ corpora = ["emodb"], split = "fold", folds = 4, max_items = 80, segment_seconds = 1.0, time_steps = 128, frequency_bins = 64 }}
model = {{ builder = "compact_cnn", options = {{ filters = [4, 4] }} }}
training = {{ batch_size = 16, epochs = 1 }}
[grid]
"data.fold" = {list(range(folds))}
"model.variant" = ["real", "mts"]
[compare]
key = "model.variant"
""")
    assert main(["experiment", str(path), "--runs-dir", str(tmp_path / "runs"), "--discard-models", isolate]) == 0
    if isolate == "--workers=2":
        printed = capsys.readouterr().out
        assert "training 2 runs at once" in printed and printed.count("[finished] fold=0,variant=") == 2
    out = tmp_path / "runs" / "tiny_experiment"
    runs = sorted(path for path in out.iterdir() if path.is_dir())
    assert len(runs) == 2 * folds and all((run / "metrics.json").is_file() and not (run / "model.keras").exists()
                                          for run in runs)
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["results"]) == 2 * folds and len(summary["comparisons"]) == 1
    markdown = (out / "summary.md").read_text()
    assert (out / "summary_uar.png").read_bytes().startswith(b"\x89PNG")
    assert f"| model.variant=mts | - | {folds} |" in markdown and f"| model.variant=real | - | {folds} |" in markdown
    assert f"| real vs mts | all | {folds} |" in markdown and "Partial" not in markdown
    # --summary-only summarises the finished runs and trains none
    (runs[0] / "metrics.json").unlink()
    capsys.readouterr()
    assert main(["experiment", str(path), "--runs-dir", str(tmp_path / "runs"), "--summary-only"]) == 0
    assert f"summarising the {2 * folds - 1} of {2 * folds} runs that have finished" in capsys.readouterr().out
    assert not (runs[0] / "metrics.json").exists()
    assert len(json.loads((out / "summary.json").read_text())["results"]) == 2 * folds - 1
    assert f"**Partial: {2 * folds - 1} of {2 * folds} runs have finished.**" in (out / "summary.md").read_text()
    # --plan lists every run in training order, finished or not, and trains none
    capsys.readouterr()
    assert main(["experiment", str(path), "--runs-dir", str(tmp_path / "runs"), "--plan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[-1] for line in lines[:-1]]
    assert sorted(listed) == [run.name for run in runs] and listed[:2] == ["fold=0,variant=real", "fold=0,variant=mts"]
    pending = [line.split()[-1] for line in lines[:-1] if line.split()[1] == "pending"]
    assert pending == [runs[0].name]
    assert lines[-1] == f"tiny_experiment: {2 * folds - 1} of {2 * folds} runs finished in {tmp_path / 'runs'}/tiny_experiment"
    assert not (runs[0] / "metrics.json").exists()
    assert main(["experiment", str(path), "--runs-dir", str(tmp_path / "elsewhere"), "--summary-only"]) == 2
    assert "no run of experiment 'tiny_experiment' has finished in" in capsys.readouterr().err
    if isolate == "--no-isolate":  # another machine continues from the partial summary: only the missing run trains
        recorded = tmp_path / "recorded.json"
        recorded.write_text((out / "summary.json").read_text())
        (kept,) = json.loads(recorded.read_text())["results"]
        assert kept["name"] == runs[1].name and kept["config"]["training"]["epochs"] == 1
        assert main(["experiment", str(path), "--runs-dir", str(tmp_path / "elsewhere"), "--plan",
                     "--recorded", str(recorded)]) == 0
        assert f"recorded {runs[1].name}" in capsys.readouterr().out
        assert main(["experiment", str(path), "--runs-dir", str(tmp_path / "elsewhere"), "--discard-models",
                     "--isolate", "--recorded", str(recorded)]) == 0
        assert "taking 1 of 2 runs from the summary they are recorded in" in capsys.readouterr().out
        elsewhere = tmp_path / "elsewhere" / "tiny_experiment"
        assert (elsewhere / runs[0].name / "metrics.json").is_file() and not (elsewhere / runs[1].name).exists()
        continued = json.loads((elsewhere / "summary.json").read_text())
        assert [r["name"] for r in continued["results"]] == [runs[1].name, runs[0].name]  # in the experiment's order
        assert continued["results"][0] == kept and "Partial" not in (elsewhere / "summary.md").read_text()
        # --only trains the runs it matches, and summarises them with the others finished
        only = tmp_path / "only"
        for pattern, message in (("(", "only='(' is not a regular expression"),
                                 ("seed=", "only='seed=' matches none of the 2 runs of experiment 'tiny_experiment'")):
            assert main(["experiment", str(path), "--runs-dir", str(only), "--only", pattern]) == 2
            assert message in capsys.readouterr().err
        assert main(["experiment", str(path), "--runs-dir", str(only), "--no-isolate", "--only", "variant=mts$"]) == 0
        assert "1 of 2 runs match 'variant=mts$'" in capsys.readouterr().out
        assert [run.name for run in (only / "tiny_experiment").iterdir() if run.is_dir()] == ["fold=0,variant=mts"]
        assert "**Partial: 1 of 2 runs have finished.**" in (only / "tiny_experiment" / "summary.md").read_text()


@pytest.mark.parametrize("workers, seeds", [(1, [0]), (2, [0, 1, 2])])
def test_a_run_failing_in_its_process_names_the_run_and_the_key(tmp_path, data_root, capsys, workers, seeds):
    path = _write(tmp_path, f"""
name = "failing_experiment"
[base]
data = {{ corpora = ["emodb"], max_items = 40 }}
model = {{ builder = "a3", options = {{ filters = 4, hidden_units = 8 }} }}
strategy = {{ kind = "weight_init", orthogonal = ["nowhere"] }}
training = {{ batch_size = 16, epochs = 1 }}
[grid]
seed = {seeds}
""")
    runs = tmp_path / "runs" / "failing_experiment"
    assert main(["experiment", str(path), "--runs-dir", str(runs.parent), "--isolate", f"--workers={workers}"]) == 2
    error = capsys.readouterr().err
    assert "run '" in error and "seed=0' failed in its process" in error
    assert "config key 'strategy.orthogonal': no model at 'nowhere" in error
    if workers > 1:  # after a failure no other run starts: with two at once, the third never does
        assert not (runs / f"seed={seeds[-1]}").exists()


def test_a_recorded_summary_must_be_of_this_experiment_and_configuration(tmp_path, capsys):
    path = _write(tmp_path, GRID)
    settings, config = expand(load_experiment(path))[0]
    scores = {"accuracy": 0.5, "uar": 0.5}
    stored = config.to_dict()
    stored["training"]["epochs"] = config.training.epochs + 1
    summary = {"name": "demo", "results": [{"settings": settings, "name": config.name, "config": stored,
                                             "test": scores, "val": scores}]}
    cases = [("missing.json", None, "no summary at '"),
             ("broken.json", "{", "is not a summary.json written by `keras-ser experiment`"),
             ("other.json", {**summary, "name": "other"}, "summarises experiment 'other', not 'demo'"),
             ("changed.json", summary, f"records run '{config.name}' with another configuration (training.epochs: "
                                       f"{config.training.epochs + 1} -> {config.training.epochs})")]
    for name, content, message in cases:
        if content is not None:
            _write(tmp_path, content if isinstance(content, str) else json.dumps(content), name)
        command = ["experiment", str(path), "--runs-dir", str(tmp_path / "runs"), "--recorded", str(tmp_path / name)]
        assert main([*command, "--summary-only"]) == 2
        assert message in capsys.readouterr().err, name
    assert not (tmp_path / "runs").exists()
    del summary["results"][0]["config"]  # summaries from before configurations were recorded: matched by name
    summary["pretraining"] = [{"folder": "pretrain/speaker/corpora=a-b", "task": "speaker", "corpora": ["a", "b"],
                               "test_accuracy": 0.8, "test_uar": 0.5}]
    _write(tmp_path, json.dumps(summary), "by_name.json")
    command = ["experiment", str(path), "--runs-dir", str(tmp_path / "runs"), "--recorded", str(tmp_path / "by_name.json")]
    assert main([*command, "--summary-only"]) == 0
    assert "taking 1 of 9 runs from the summary" in capsys.readouterr().out
    markdown = (tmp_path / "runs" / "demo" / "summary.md").read_text()
    assert "**Partial: 1 of 9 runs have finished.**" in markdown
    assert "| pretrain/speaker/corpora=a-b (recorded) | speaker | a, b | 80.0 | 50.0 |" in markdown


def test_workers_must_be_a_positive_number(tmp_path, capsys):
    path = _write(tmp_path, GRID)
    for workers in ("0", "-1"):
        assert main(["experiment", str(path), "--runs-dir", str(tmp_path / "runs"), "--workers", workers]) == 2
        assert f"workers must be a whole number of runs trained at once, at least 1, not {workers}" in capsys.readouterr().err
    assert main(["experiment", str(path), "--runs-dir", str(tmp_path / "runs"), "--workers", "2", "--no-isolate"]) == 2
    assert "workers=2 trains each run in its own process; it cannot be combined with isolate=False" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_case_only_keys_go_with_the_compared_condition(tmp_path):
    experiment = load_experiment(_write(tmp_path, """
[grid]
"data.fold" = [0, 1]
"model.builder" = ["alexnet", "vgg16"]
[[cases]]
"model.variant" = ["real"]
[[cases]]
"model.variant" = ["quaternion"]
"data.features" = ["rhemo"]
"data.rhemo_model" = ["runs/rhemo/encoder.keras"]
[compare]
key = "model.variant"
"""))
    results = []
    for fold in (0, 1):
        for builder in ("alexnet", "vgg16"):
            for variant, extra in (("real", {}), ("quaternion", {"data.features": "rhemo",
                                                                  "data.rhemo_model": "runs/rhemo/encoder.keras"})):
                settings = {"data.fold": fold, "model.builder": builder, "model.variant": variant, **extra}
                score = 0.5 + 0.1 * (variant == "quaternion") + 0.01 * fold
                results.append({"settings": settings, "name": "x", "val": {"uar": score},
                                "test": {"uar": score, "accuracy": score}})
    names = [config.name for _, config in expand(experiment)]
    assert "fold=0,builder=vgg16,variant=quaternion,features=rhemo,rhemo_model=runs_rhemo_encoder.keras" in names
    comparisons = summarise(experiment, results)["comparisons"]
    assert sorted(c["context"]["model.builder"] for c in comparisons) == ["alexnet", "all", "vgg16"]
    for c in comparisons:
        assert {c["a"], c["b"]} == {"real", "quaternion"}
        assert c["uar"]["n"] == (4 if c["context"]["model.builder"] == "all" else 2)
        sign = 1 if c["b"] == "quaternion" else -1
        assert c["uar"]["mean_difference"] == pytest.approx(sign * 0.1)


def test_the_pooled_comparison_tests_every_pair_of_every_context(tmp_path):
    scipy_stats = pytest.importorskip("scipy.stats")
    experiment = load_experiment(_write(tmp_path, """
[grid]
seed = [0, 1, 2, 3]
"model.builder" = ["alexnet", "vgg16", "resnet50"]
"model.variant" = ["real", "quaternion"]
[compare]
key = "model.variant"
"""))
    rng = np.random.default_rng(0)
    results, differences, tess_differences, tess_real = [], [], [], []
    for seed in range(4):
        for builder in ("alexnet", "vgg16", "resnet50"):
            real, gain, tess_gain = rng.uniform(0.3, 0.6), rng.normal(0.02, 0.05), rng.normal(-0.05, 0.05)
            differences.append(gain)
            tess_differences.append(tess_gain)
            tess_real.append(real / 2)
            for variant, uar, tess in (("real", real, real / 2), ("quaternion", real + gain, real / 2 + tess_gain)):
                settings = {"seed": seed, "model.builder": builder, "model.variant": variant}
                per_corpus = {"emodb": {"uar": uar, "accuracy": uar}, "tess": {"uar": tess, "accuracy": tess}}
                results.append({"settings": settings, "name": "x", "val": {"uar": uar},
                                "test": {"uar": uar, "accuracy": uar, "per_corpus": per_corpus}})
    summary = summarise(experiment, results)
    (pooled,) = [c for c in summary["comparisons"] if c["context"]["model.builder"] == "all"]
    sign = 1 if pooled["b"] == "quaternion" else -1
    assert pooled["uar"]["n"] == 12
    assert pooled["uar"]["mean_difference"] == pytest.approx(sign * np.mean(differences))
    assert pooled["uar"]["p_value"] == pytest.approx(scipy_stats.wilcoxon(differences).pvalue)
    tess = pooled["per_corpus"]["tess"]["uar"]
    assert tess["mean_difference"] == pytest.approx(sign * np.mean(tess_differences))
    assert tess["p_value"] == pytest.approx(scipy_stats.wilcoxon(tess_differences).pvalue)
    (real_alexnet,) = [c for c in summary["chosen"] if c["group"] == {"model.builder": "alexnet", "model.variant": "real"}]
    assert real_alexnet["per_corpus"]["tess"]["test_uar"] == pytest.approx(np.mean(tess_real[0::3]))
    markdown = summary_markdown(summary)
    assert "| setting | emodb | tess |" in markdown and "| model.builder=all | real vs quaternion | tess | 12 | +5.6 | < 0.001 |" in markdown


def test_cases_sharing_the_compared_value_are_told_apart(tmp_path):
    experiment = load_experiment(_write(tmp_path, """
[grid]
seed = [0, 1, 2]
[[cases]]
"strategy.kind" = ["baseline"]
[[cases]]
"strategy.kind" = ["dual_anti_transfer"]
"strategy.orthogonal" = [["runs/a", "runs/b"]]
[[cases]]
"strategy.kind" = ["dual_anti_transfer"]
"strategy.orthogonal" = [["runs/a", "runs/b"]]
"strategy.beta" = [0.0]
[compare]
key = "strategy.kind"
"""))
    results = []
    for settings, _ in expand(experiment):
        gain = 0.0 if settings["strategy.kind"] == "baseline" else 0.03 if "strategy.beta" in settings else 0.1
        score = 0.5 + gain + 0.01 * settings["seed"]
        results.append({"settings": settings, "name": "x", "val": {"uar": score}, "test": {"uar": score, "accuracy": score}})
    comparisons = {(c["a"], c["b"]): c["uar"]["mean_difference"] for c in summarise(experiment, results)["comparisons"]}
    dual, control = "dual_anti_transfer (beta=-)", "dual_anti_transfer (beta=0.0)"
    assert set(comparisons) == {("baseline", dual), ("baseline", control), (dual, control)}
    assert comparisons[("baseline", dual)] == pytest.approx(0.1)
    assert comparisons[("baseline", control)] == pytest.approx(0.03)
    assert comparisons[(dual, control)] == pytest.approx(-0.07)


def test_cases_take_in_named_blocks(tmp_path):
    text = """
[base]
data = { corpora = ["emodb"], split = "fold", folds = 4 }
model = { builder = "a3" }
[grid]
"data.fold" = [0]
[blocks.front_end]
"data.mel_bins" = [40]
"data.compression" = ["log"]
[blocks.crops]
"data.crops" = ["random", "fixed"]
[[cases]]
use = ["front_end"]
[[cases]]
use = ["front_end", "crops"]
"data.mel_bins" = [32]
"""
    runs = expand(load_experiment(_write(tmp_path, text)))
    assert [config.name for _, config in runs] == [
        "fold=0,mel_bins=40,compression=log",
        "fold=0,mel_bins=32,compression=log,crops=random",  # the case's own value wins, in the block's place
        "fold=0,mel_bins=32,compression=log,crops=fixed",
    ]
    assert runs[1][1].data.mel_bins == 32 and runs[1][1].data.crops == "random"


def test_a_run_name_too_long_for_a_folder_names_its_case(tmp_path):
    text = f'[grid]\n"data.fold" = [0]\n[[cases]]\n"data.mel_bins" = [40]\n[[cases]]\n"model.builder" = ["{"x" * 250}"]\n'
    with pytest.raises(ConfigError, match=r"has 265 bytes.*at most 255: give the case fewer keys") as info:
        expand(load_experiment(_write(tmp_path, text)))  # "fold=0,builder=" and 250 letters
    assert info.value.key == "cases[1]"


@pytest.mark.parametrize(
    "blocks, use, key, message",
    [
        ('[blocks.crops]\n"data.crops" = ["random"]\n', '["masks"]', "cases[0].use", "no block 'masks'; blocks: crops"),
        ("", '"crops"', "cases[0].use", "must be a list of block names"),
        ('[blocks]\ncrops = 3\n', '["crops"]', "blocks.crops", "must be a table"),
        ('[blocks.crops]\n"data.crops" = "random"\n', '["crops"]', "cases[0].data.crops", "non-empty list"),
    ],
)
def test_bad_blocks_name_the_culprit(tmp_path, blocks, use, key, message):
    text = f'[grid]\n"data.fold" = [0]\n{blocks}[[cases]]\nuse = {use}\n'
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(_write(tmp_path, text))
    assert info.value.key == key
