"""The pieces of thesis_claims_loco: bootstrap intervals, named conditions, pretraining in experiments, the speaker probe."""

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from keras_ser.cli import main
from keras_ser.layers.mts_conv import resampled_length
from keras_ser.training import ConfigError
from keras_ser.training.config import dump_toml
from keras_ser.training.experiment import (
    _resolved, _reuse_first_stage, expand, load_experiment, pretraining_plan, summarise, summary_markdown)
from keras_ser.training.metrics import bootstrap_mean_interval
from keras_ser.training.plots import plot_paired_differences
from keras_ser.training.run import check_run_dir, first_stage, train

# A slow module: its tests run beside the others, in the one child process of the slow modules (tests/conftest.py).
pytestmark = pytest.mark.isolated(group="slow_modules")

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _reference_interval(differences, resamples, seed, confidence=0.95):
    """A bootstrap computed another way: one resample at a time with `choice`, percentiles of the means."""
    rng = np.random.default_rng(seed)
    means = [np.mean(rng.choice(differences, size=len(differences), replace=True)) for _ in range(resamples)]
    return np.percentile(means, [50 * (1 - confidence), 50 * (1 + confidence)])


def test_bootstrap_interval_matches_an_independent_computation():
    differences = np.random.default_rng(3).normal(0.02, 0.05, 12)
    low, high = bootstrap_mean_interval(differences, resamples=20_000, seed=1)
    ref_low, ref_high = _reference_interval(differences, 20_000, seed=2)
    standard_error = differences.std() / np.sqrt(len(differences))
    # two Monte Carlo estimates of the same quantiles: a few hundredths of a standard error apart
    assert abs(low - ref_low) < 0.15 * standard_error and abs(high - ref_high) < 0.15 * standard_error
    assert low < differences.mean() < high
    assert high - low == pytest.approx(2 * 1.96 * standard_error, rel=0.2)  # close to the normal interval
    assert bootstrap_mean_interval(differences, resamples=20_000, seed=1) == [low, high]  # seeded
    # exact cases: the means of two draws from {0, 1} are 0, 0.5, 1 with chances 1/4, 1/2, 1/4
    assert bootstrap_mean_interval([0.0, 1.0]) == [0.0, 1.0]
    assert bootstrap_mean_interval([0.0, 1.0], confidence=0.5) == [0.5, 0.5]
    assert bootstrap_mean_interval([0.03] * 5) == pytest.approx([0.03, 0.03])


@pytest.mark.parametrize("differences, kwargs, message", [
    ([], {}, "non-empty 1-D"),
    ([0.1, np.nan], {}, "finite"),
    ([0.1], {"confidence": 1.0}, "confidence"),
    ([0.1], {"resamples": 0}, "resamples"),
])
def test_bootstrap_interval_refuses_bad_input(differences, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_mean_interval(differences, **kwargs)


def test_paired_differences_plot(tmp_path):
    path = plot_paired_differences({"at − baseline": {"0": 0.01, "1": -0.02, "2": 0.04}, "mts − baseline": [0.05]},
                                   tmp_path / "d.png", intervals={"at − baseline": [-0.02, 0.04]})
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="unknown comparisons"):
        plot_paired_differences({"a": [0.1]}, tmp_path / "e.png", intervals={"b": [0, 1]})
    with pytest.raises(ValueError, match="finite"):
        plot_paired_differences({"a": []}, tmp_path / "e.png")
    with pytest.raises(ValueError, match="groups of 'a' name 1 groups for 2 differences"):
        plot_paired_differences({"a": [0.1, 0.2]}, tmp_path / "e.png", groups={"a": ["emodb"]})
    with pytest.raises(ValueError, match="groups for unknown comparisons"):
        plot_paired_differences({"a": [0.1]}, tmp_path / "e.png", groups={"b": ["emodb"]})


def test_paired_differences_plot_colours_each_group(tmp_path, monkeypatch):
    from keras_ser.training import plots

    drawn, save = {}, plots._save

    def keep_figure(figure, path):
        drawn["figure"] = figure
        return save(figure, path)

    monkeypatch.setattr(plots, "_save", keep_figure)
    differences = {"mts − baseline": [0.01, -0.02, 0.04, 0.03], "at − baseline": [-0.05, 0.02]}
    groups = {"mts − baseline": ["emodb", "tess", "emodb", "nemo"], "at − baseline": ["tess", "nemo"]}
    plot_paired_differences(differences, tmp_path / "d.png", groups=groups, title="a title " * 30)
    (axes,) = drawn["figure"].axes
    lines = {line.get_gid(): line for line in axes.lines if line.get_gid()}
    assert set(lines) == {"pairs mts − baseline emodb", "pairs mts − baseline tess", "pairs mts − baseline nemo",
                          "pairs at − baseline tess", "pairs at − baseline nemo"}
    np.testing.assert_allclose(lines["pairs mts − baseline emodb"].get_ydata(), [0.01, 0.04])
    assert lines["pairs mts − baseline tess"].get_color() == lines["pairs at − baseline tess"].get_color()
    assert lines["pairs mts − baseline tess"].get_color() != lines["pairs mts − baseline nemo"].get_color()
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["emodb", "tess", "nemo"]
    assert axes.get_title().count("\n") >= 2  # a long title is wrapped to the figure, not cut off


CONDITIONS = """
[base]
data = { corpora = ["emodb", "ravdess", "tess"], split = "leave_corpus_out", fractions = [0.8, 0.2, 0.0] }
model = { builder = "compact_cnn", options = { filters = [4, 4] } }
[grid]
"data.test_corpus" = ["emodb", "tess"]
seed = [0, 1, 2]
[[cases]]
condition = "mts"
"model.variant" = ["mts"]
[[cases]]
condition = "baseline"
[[cases]]
condition = "twice"
"strategy.kind" = ["dual_anti_transfer"]
"strategy.orthogonal" = [["runs/a", "runs/b"]]
"strategy.beta" = [0.0]
[compare]
key = "condition"
reference = "baseline"
paired = ["seed"]
"""


@pytest.mark.parametrize("pairs", [None, '[["twice", "mts"]]'])
def test_conditions_are_compared_with_the_reference_per_held_out_corpus_and_pooled(tmp_path, pairs):
    experiment = load_experiment(_write(tmp_path, CONDITIONS + (f"pairs = {pairs}\n" if pairs else "")))
    runs = expand(experiment)
    assert runs[0][1].name == "test_corpus=emodb,seed=0,condition=mts,variant=mts"
    gains = {"baseline": 0.0, "mts": 0.05, "twice": 0.02}
    rng = np.random.default_rng(0)
    results, differences, corpora = [], {}, {}
    for settings, config in runs:
        noise = rng.normal(0, 0.03)
        uar = 0.5 + gains[settings["condition"]] + noise
        corpus = settings["data.test_corpus"]
        probe = {"corpus": "ravdess", "chance": 0.2, "accuracy": 0.6 - 2 * gains[settings["condition"]] + noise}
        differences.setdefault(settings["condition"], []).append(uar)
        corpora.setdefault(settings["condition"], []).append(corpus)
        results.append({"settings": settings, "name": config.name, "val": {"uar": uar}, "probe": probe,
                        "test": {"uar": uar, "accuracy": uar, "per_corpus": {corpus: {"uar": uar, "accuracy": uar}}}})
    summary = summarise(experiment, results)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["context_keys"] == ["data.test_corpus"]  # the grid's keys but the paired seed
    tests = {(c["context"]["data.test_corpus"], c["a"], c["b"]): c for c in summary["comparisons"]}
    wanted = [("baseline", "mts"), ("baseline", "twice")] + ([("twice", "mts")] if pairs else [])  # (a, b): b − a
    assert set(tests) == {(corpus, a, b) for corpus in ("emodb", "tess", "all") for a, b in wanted}
    if pairs:
        assert tests[("all", "twice", "mts")]["uar"]["differences"] == pytest.approx(
            np.subtract(differences["mts"], differences["twice"]).tolist())
    pooled = tests[("all", "baseline", "mts")]["uar"]
    expected = np.subtract(differences["mts"], differences["baseline"])  # b − reference, pair by pair
    assert pooled["n"] == 6 and pooled["differences"] == pytest.approx(expected.tolist())
    assert pooled["mean_difference"] == pytest.approx(expected.mean())
    assert pooled["interval"] == bootstrap_mean_interval(expected)
    assert pooled["contexts"] == corpora["mts"] == corpora["baseline"]  # each pair's held-out corpus, for the plot
    assert "contexts" not in tests[("emodb", "baseline", "mts")]["uar"]
    emodb = tests[("emodb", "baseline", "mts")]
    assert emodb["uar"]["n"] == 3 and emodb["per_corpus"]["emodb"]["uar"]["interval"] == emodb["uar"]["interval"]
    assert tests[("all", "baseline", "mts")]["probe"]["mean_difference"] == pytest.approx(expected.mean() - 0.15)
    chosen = {(c["group"]["data.test_corpus"], c["group"]["condition"]): c for c in summary["chosen"]}
    assert chosen[("tess", "twice")]["probe"]["runs"] == 3 and chosen[("tess", "twice")]["probe"]["corpora"] == {"ravdess": 3}
    markdown = summary_markdown(summary)
    low, high = (100 * v for v in pooled["interval"])
    assert re.search(r"\| data.test_corpus=all \| mts vs baseline \| all \| 6 \| \+[0-9.]+ \| [0-9.<> ]+ \| "
                     + re.escape(f"[{low:+.1f}, {high:+.1f}] |"), markdown)
    (probe_row, *_) = [line for line in markdown.split("Linear speaker probe")[1].splitlines()
                        if line.startswith("| data.test_corpus=tess, condition=twice,")]
    assert probe_row.split(" | ")[1:4] == ["3", f"{100 * chosen[('tess', 'twice')]['probe']['accuracy']:.1f} ± "
                                                 f"{100 * chosen[('tess', 'twice')]['probe']['accuracy_std']:.1f}", "20.0"]


PRETRAIN = """
[base]
data = {{ corpora = ["emodb", "ravdess", "tess"], split = "leave_corpus_out", fractions = [0.8, 0.2, 0.0] }}
model = {{ builder = "compact_cnn", options = {{ filters = [4, 4] }} }}
[grid]
"data.test_corpus" = ["emodb", "tess"]
seed = [0, 1]
[pretrain.speaker]
corpora = "training"
config = {{ data = {{ task = "speaker", split = "random", fractions = [0.8, 0.1, 0.1] }} }}
{extra}
[[cases]]
"strategy.kind" = ["baseline"]
[[cases]]
"strategy.kind" = ["anti_transfer"]
"strategy.orthogonal" = [["{reference}"]]
"""


def test_pretraining_follows_the_training_corpora_and_keys(tmp_path):
    experiment = load_experiment(_write(tmp_path, PRETRAIN.format(extra='follows = ["seed"]',
                                                                  reference="{pretrain.speaker}")))
    runs = expand(experiment)
    plan = pretraining_plan(experiment, runs)
    needs = {config.name: needs for (_, config), needs in zip(runs, plan)}
    assert needs["test_corpus=emodb,seed=0,kind=baseline"] == []
    ((index, name, label, config),) = needs["test_corpus=tess,seed=1,kind=anti_transfer,orthogonal=pretrain.speaker"]
    assert (index, name, label) == (0, "speaker", "seed=1,corpora=emodb-ravdess")
    assert config.data.corpora == ["emodb", "ravdess"] and config.seed == 1 and config.data.task == "speaker"
    assert config.model.options == {"filters": [4, 4]} and config.strategy.kind == "baseline"


@pytest.mark.parametrize("extra, reference, key, message", [
    ("", "{pretrain.speakers}", "strategy.orthogonal", r"'\{pretrain.speakers\}' .* names no pretraining.*\(speaker\)"),
    ("", "{pretrain.speaker", "strategy.orthogonal", "names no pretraining"),
    ("colour = 1", "{pretrain.speaker}", "pretrain.speaker.colour", "unknown key"),
    ('follows = ["data.nothing"]', "{pretrain.speaker}", "pretrain.speaker.follows", "'data.nothing' is not a run"),
    ('[pretrain.text]\nconfig = { data = { task = "text", split = "speaker", fractions = [0.8, 0.1, 0.1], mel_bins = 40 } }',
     "{pretrain.text}", "pretrain.text.follows", "has data.mel_bins = 0 but its orthogonal network 40"),
    ('[pretrain.text]\nconfig = { data = { task = "text", split = "speaker", fractions = [0.9, 0.1, 0.0] } }',
     "{pretrain.text}", "pretrain.text.config", "leave the test part empty"),
    ('[pretrain.text]\nconfig = { data = { task = "speaker" } }', "{pretrain.text}", "data.split",
     r"use 'random' \(in \[pretrain.text\], for run"),
    ('[pretrain.text]\nconfig = 3', "{pretrain.text}", "pretrain.text.config", "run configuration"),
    ('[pretrain.text]\ncorpora = "all"\nconfig = {}', "{pretrain.text}", "pretrain.text.corpora", "'training'"),
    ('[probe]\ncorpora = ["nowhere"]', "{pretrain.speaker}", "probe.corpora", "give the corpora to probe"),
    ('[compare]\nkey = "strategy.kind"\nreference = "base"', "{pretrain.speaker}", "compare.reference",
     "'base' is not a value of compare.key"),
    ('[compare]\nkey = "strategy.kind"\nreference = "baseline"\npairs = [["baseline", "dual"]]', "{pretrain.speaker}",
     "compare.pairs", "'dual' is not a value of compare.key 'strategy.kind' \\(anti_transfer, baseline\\)"),
    ('[compare]\nkey = "strategy.kind"\nreference = "baseline"\npairs = ["baseline"]', "{pretrain.speaker}",
     "compare.pairs", "give a list of \\[a, b\\] pairs"),
    ('[compare]\nkey = "strategy.kind"\npairs = [["baseline", "anti_transfer"]]', "{pretrain.speaker}",
     "compare.pairs", "set reference"),
])
def test_bad_pretraining_and_probe_settings_name_the_key(tmp_path, extra, reference, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        expand(load_experiment(_write(tmp_path, PRETRAIN.format(extra=extra, reference=reference))))
    assert info.value.key == key


def test_training_corpora_need_a_leave_corpus_out_split(tmp_path):
    text = PRETRAIN.format(extra="", reference="{pretrain.speaker}").replace('"leave_corpus_out"', '"random"')
    with pytest.raises(ConfigError, match="'training' needs runs with data.split") as info:
        expand(load_experiment(_write(tmp_path, text)))
    assert info.value.key == "pretrain.speaker.corpora"


def test_thesis_claims_loco_pretrains_on_the_training_corpora_only():
    experiment = load_experiment(REPO / "experiments" / "thesis_claims_loco.toml")
    runs = expand(experiment)
    assert len(runs) == 4 * 3 * (1 + 2 + 9 + 3 + 1)
    # The MTS scale sets resample the compact CNN's 3-tap kernels to different lengths (round half up: 1.5 -> 2,
    # 2.1 -> 2, 4.284 -> 4); (0.8, 1, 1.25) would give (2, 3, 4) again, the same network as (0.7, 1, 1.428).
    taps = {tuple(resampled_length(3, scale) for scale in config.model.options["scales"])
            for settings, config in runs if settings["condition"] == "mts"}
    assert taps == {(2, 3, 6), (2, 3, 4)}
    assert tuple(resampled_length(3, scale) for scale in (0.8, 1.0, 1.25)) == (2, 3, 4)
    networks = {}
    for (settings, config), needs in zip(runs, pretraining_plan(experiment, runs)):
        wanted = {"at": ["speaker"], "dual_at": ["speaker", "text"], "baseline_twice": ["speaker", "text"]}
        assert [name for _, name, _, _ in needs] == wanted.get(settings["condition"], [])
        for _, name, label, pretrained in needs:
            assert pretrained.data.corpora == [c for c in config.data.corpora if c != config.data.test_corpus]
            assert pretrained.data.task == name and pretrained.model == config.model
            networks[name, label] = pretrained
    assert len(networks) == 8  # one per held-out corpus and task


def test_a_dual_run_takes_its_stage_1_from_the_finished_anti_transfer_run_of_that_configuration(tmp_path):
    experiment = load_experiment(REPO / "experiments" / "thesis_claims_loco.toml")
    out = tmp_path / "thesis_claims_loco"
    runs = expand(experiment)
    runs = [(settings, _resolved(config, needs, out), needs)
            for (settings, config), needs in zip(runs, pretraining_plan(experiment, runs))]
    by_name = {config.name: config for _, config, _ in runs}

    def named(**wanted):
        (config,) = [c for s, c, _ in runs if all(s.get(k) == v for k, v in wanted.items())]
        return config

    common = {"data.test_corpus": "tess", "seed": 1}
    dual = named(**common, condition="dual_at", **{"strategy.at_layers": [2]})
    control = named(**common, condition="baseline_twice")
    for beta, wall_time in ((1.0, 7.5), (3.0, 9.0)):  # finished AT runs at layer 2; beta 1 is dual's stage 1
        folder = out / named(**common, condition="at", **{"strategy.at_layers": [2], "strategy.beta": beta}).name
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "config.toml").write_text(dump_toml(by_name[folder.name]))
        (folder / "metrics.json").write_text(json.dumps({"wall_time_s": wall_time}))
        (folder / "model.keras").write_bytes(f"network of beta {beta}".encode())
        (folder / "probe.json").write_text("{}")
    stage_dir = out / dual.name / "stage1"
    stage_dir.mkdir(parents=True)
    (stage_dir / "history.csv").write_text("epoch\n0\n")  # an unfinished stage 1: replaced
    for config in (dual, control):
        _reuse_first_stage(config, runs, out, progress=False)
    source = named(**common, condition="at", **{"strategy.at_layers": [2], "strategy.beta": 1.0}).name
    assert (stage_dir / "REUSED_FROM").read_text() == source + "\n"
    assert (stage_dir / "model.keras").read_bytes() == b"network of beta 1.0"
    assert sorted(p.name for p in stage_dir.iterdir()) == ["REUSED_FROM", "config.toml", "metrics.json", "model.keras"]
    check_run_dir(first_stage(dual), stage_dir)  # the stage's own configuration, under the dual run's name
    assert train(first_stage(dual), stage_dir, progress=False) == {"wall_time_s": 7.5}  # finished: not trained
    assert not (out / control.name).exists()  # its stage 1 (beta 0) is no run of the experiment
    other = named(**{**common, "seed": 0}, condition="dual_at", **{"strategy.at_layers": [2]})
    _reuse_first_stage(other, runs, out, progress=False)  # seed 0's AT run has not run
    assert not (out / other.name).exists()


def _mini_corpora(root, corpus_root):
    """Links to 2 EmoDB speakers' and 10 RAVDESS actors' clips of the 4 classes (4 per speaker)."""
    emodb = sorted(p for p in (corpus_root("emodb") / "wav").glob("*.flac") if p.name[5] in "NWFT")
    chosen = [p for speaker in ("03", "08") for p in [q for q in emodb if q.name[:2] == speaker][:4]]
    ravdess = corpus_root("ravdess")
    for actor in range(1, 11):
        folder = ravdess / f"Actor_{actor:02d}"
        clips = sorted(folder.glob("03-01-0[1345]-01-01-01-*.flac"))
        assert len(clips) == 4, folder
        chosen += clips
    for path in chosen:
        target = root / ("emodb/wav" if path.parent.name == "wav" else f"ravdess/{path.parent.name}") / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)


def test_cli_runs_a_miniature_of_thesis_claims_loco(tmp_path, corpus_root, capsys):
    _mini_corpora(tmp_path / "data", corpus_root)
    path = _write(tmp_path, f"""
name = "mini_claims"
[base]
data = {{ root = "{tmp_path / 'data'}", corpora = ["emodb", "ravdess"], split = "leave_corpus_out", fractions = [0.8, 0.2, 0.0], mel_bins = 40, compression = "log", normalization = "utterance" }}
model = {{ builder = "compact_cnn", options = {{ filters = [4, 4] }} }}
training = {{ batch_size = 16, epochs = 1, monitor = "val_uar" }}
[grid]
"data.test_corpus" = ["emodb"]
seed = [0]
[pretrain.speaker]
corpora = "training"
config = {{ data = {{ task = "speaker", split = "random", fractions = [0.8, 0.1, 0.1] }} }}
[[cases]]
condition = "baseline"
[[cases]]
condition = "at"
"strategy.kind" = ["anti_transfer"]
"strategy.orthogonal" = [["{{pretrain.speaker}}"]]
"strategy.at_layers" = [[2]]
[compare]
key = "condition"
reference = "baseline"
paired = ["seed"]
[probe]
corpora = ["emodb", "ravdess"]
""")
    runs_dir = tmp_path / "runs"
    started = time.time()
    assert main(["experiment", str(path), "--runs-dir", str(runs_dir), "--discard-models", "--no-isolate"]) == 0
    first_s = time.time() - started
    out = runs_dir / "mini_claims"
    pretrained = out / "pretrain" / "speaker" / "corpora=ravdess"
    config = (pretrained / "config.toml").read_text()
    assert 'corpora = ["ravdess"]' in config and 'task = "speaker"' in config  # never the held-out EmoDB
    assert (pretrained / "model.keras").is_file()  # kept: the AT runs need it
    at_run = out / "test_corpus=emodb,seed=0,condition=at,kind=anti_transfer,orthogonal=pretrain.speaker,at_layers=2"
    assert f'orthogonal = ["{pretrained}"]' in (at_run / "config.toml").read_text()
    assert not (at_run / "model.keras").exists()
    summary = json.loads((out / "summary.json").read_text())
    ((comparison,),) = [[c for c in summary["comparisons"] if c["a"] == "baseline" and c["b"] == "at"]]
    low, high = comparison["uar"]["interval"]
    assert low == high == comparison["uar"]["mean_difference"]  # one pair
    for row in summary["chosen"]:
        assert row["probe"]["corpora"] == {"ravdess": 1}  # EmoDB is held out: RAVDESS's validation speakers
    for name in ("test_corpus=emodb,seed=0,condition=baseline", at_run.name):
        probe = json.loads((out / name / "probe.json").read_text())
        assert probe["speakers"] == 2 and probe["fit_clips"] == probe["scored_clips"] == 4
        assert 0 <= probe["accuracy"] <= 1 and probe["chance"] == 0.5
    assert summary["pretraining"][0]["corpora"] == ["ravdess"]
    markdown = (out / "summary.md").read_text()
    assert "Linear speaker probe" in markdown and "95 % interval" in markdown
    assert "| pretrain/speaker/corpora=ravdess | speaker | ravdess |" in markdown
    assert (out / "summary_differences.png").read_bytes().startswith(b"\x89PNG")
    # resumable: a second call trains nothing, the pretraining included, and the probes are read back
    stamps = {p: p.stat().st_mtime for p in out.rglob("metrics.json")}
    capsys.readouterr()
    assert main(["experiment", str(path), "--runs-dir", str(runs_dir), "--no-isolate"]) == 0
    assert "[pretrain]" not in capsys.readouterr().out
    assert {p: p.stat().st_mtime for p in out.rglob("metrics.json")} == stamps
    assert json.loads((out / "summary.json").read_text())["chosen"] == summary["chosen"]
    assert main(["experiment", str(path), "--runs-dir", str(runs_dir), "--plan"]) == 0
    assert "finished pretrain/speaker/corpora=ravdess" in capsys.readouterr().out
    # another machine continues from the summary and the speaker network kept beside it: neither is trained again
    kept = tmp_path / "kept"
    (kept / pretrained.relative_to(out)).mkdir(parents=True)
    for name in ("config.toml", "metrics.json", "model.keras"):
        (kept / pretrained.relative_to(out) / name).write_bytes((pretrained / name).read_bytes())
    record = json.loads((out / "summary.json").read_text())
    record["results"] = [r for r in record["results"] if r["name"] != at_run.name]  # as if it had not run
    (kept / "summary.json").write_text(json.dumps(record))
    elsewhere = tmp_path / "elsewhere"
    command = ["experiment", str(path), "--runs-dir", str(elsewhere), "--recorded", str(kept / "summary.json")]
    assert main([*command, "--plan"]) == 0
    assert "recorded pretrain/speaker/corpora=ravdess" in capsys.readouterr().out
    assert main([*command, "--no-isolate"]) == 0
    printed = capsys.readouterr().out
    assert "[pretrain] pretrain/speaker/corpora=ravdess: taken from" in printed and "taking 1 of 2 runs" in printed
    restored = elsewhere / "mini_claims" / pretrained.relative_to(out)
    assert (restored / "model.keras").read_bytes() == (pretrained / "model.keras").read_bytes()
    assert not (restored / "history.csv").exists()  # copied, not trained
    assert (elsewhere / "mini_claims" / at_run.name / "probe.json").is_file()
    assert not (elsewhere / "mini_claims" / "test_corpus=emodb,seed=0,condition=baseline").exists()
    continued = json.loads((elsewhere / "mini_claims" / "summary.json").read_text())
    assert continued["pretraining"] == summary["pretraining"]  # the same network: no second, "recorded" row
    kept_config = kept / pretrained.relative_to(out) / "config.toml"
    kept_config.write_text(kept_config.read_text().replace("seed = 0", "seed = 5"))
    assert main([*command[:3], str(tmp_path / "third"), *command[4:], "--no-isolate"]) == 2
    assert "holds a run of another configuration (seed: 5 -> 0)" in capsys.readouterr().err
    print(f"first call {first_s:.1f} s")


def test_the_paired_scores_plot_pairs_runs_within_a_held_out_corpus_only():
    from keras_ser.training.experiment import _condition_labels

    chosen = [{"group": {"data.test_corpus": corpus, "condition": condition},
               "paired_uar": {"0": 0.5, "1": 0.6}} for corpus in ("emodb", "tess") for condition in ("baseline", "mts")]
    labels = _condition_labels(chosen, ["data.test_corpus"])
    assert labels == {f"test_corpus={corpus}, condition={condition}": {f"{corpus},0": 0.5, f"{corpus},1": 0.6}
                      for corpus in ("emodb", "tess") for condition in ("baseline", "mts")}
    assert _condition_labels(chosen)["test_corpus=tess, condition=mts"] == {"0": 0.5, "1": 0.6}
