"""Experiments: a grid of run configurations, trained one by one, summarised and compared.

An experiment file (TOML) holds a `[base]` run configuration, a `[grid]` of
dotted keys with the values to try (every combination is one run), and
optionally:

- `[[cases]]`: alternative extra grids combined with `[grid]` in turn (e.g.
  the standard variant alone, and the MTS variant with its scale sets);
- `[blocks.<name>]`: named groups of case keys that a case takes in with
  `use = ["<name>", ...]` (its own keys win), so that cases combining the same
  changes do not repeat them;
- `condition = "<label>"` in a case: the condition's name, a setting of its own
  (`condition=<label>` in run names) that sets no configuration key, so that
  `[compare] key = "condition"` compares conditions that differ in several keys;
- `[select]`: `keys` whose best value is chosen on the validation UAR for each
  setting of the other keys (like the thesis's search of MTS scale sets), the
  candidates compared on the paired runs (seeds, folds) they all have; so the
  other seeds may run the chosen value alone;
- `[compare]`: `key`, the key whose values are compared (e.g. `model.variant`),
  with runs paired over `paired` (default: the folds, seeds or held-out
  speakers in the grid) and a two-sided Wilcoxon signed-rank test and a 95 %
  bootstrap interval of the mean difference per pair of values within each
  setting of the other `[grid]` keys (keys set only in `[[cases]]` go with the
  compared condition); `reference`, a value of `key` that comparisons subtract
  (b − reference), and then only against it, with `pairs`, a list of [a, b] values, the other comparisons
  wanted (b − a; e.g. dual anti-transfer against its own control);
- `[pretrain.<name>]`: an orthogonal-task network the runs need, trained by the
  experiment before the first run that names it in `strategy.orthogonal` as
  "{pretrain.<name>}". `config` is its run configuration, over `[base]` without
  `[base]`'s strategy (so the same network and front end unless it says
  otherwise); `follows` lists the run keys it takes from each run (default none);
  `corpora = "training"` trains it on each run's training corpora (data.corpora
  less data.test_corpus). One network is trained per distinct value of those,
  into `<runs_dir>/<experiment>/pretrain/<name>/<key=value,...>/`, and kept
  (also with `keep_models=False`); the runs that use it must share its network
  and front end (`MATCHING_KEYS`);
- `[probe]`: `corpora`, a linear speaker probe of each run's penultimate
  features on the validation speakers of the first of these corpora the run
  trains on (`keras_ser.training.probe`), written to the run's probe.json before
  its model may be discarded, and summarised and compared per condition.

Runs go to `<runs_dir>/<experiment>/<key=value,...>/`; finished runs are not
trained again, so an interrupted experiment continues where it stopped; a run
folder holding another configuration's run stops it before anything is trained.
On the TensorFlow backend each run trains in its own process (see `processes`);
`workers=N` trains N runs at once, each in its own process, the pretrainings first.
`recorded=<summary.json>` continues an experiment on another machine: the runs that
an earlier summary of it records count as finished (their recorded scores and probe
are summarised), so only the others are trained, and the pretrained networks kept
beside that summary (`pretrain/<name>/<label>/` with its config.toml, metrics.json
and model.keras) are used instead of being trained again.
"""

import copy
import dataclasses
import itertools
import json
import os
import re
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from keras_ser.datasets.cache import CACHE_ENV
from keras_ser.training.config import ConfigError, config_from_dict, dump_toml, read_toml, set_key
from keras_ser.training.metrics import bootstrap_mean_interval, wilcoxon_signed_rank
from keras_ser.training.plots import plot_paired_differences, plot_paired_scores
from keras_ser.training.probe import PROBE_FILE, check_probe, probe_run
from keras_ser.training.processes import isolate_by_default, run_child
from keras_ser.training.run import (CHECKPOINTS, CONFIG_FILE, FIRST_STAGE_DIR, LOCK_FILE, METRICS_FILE, MODEL_FILE,
                                    ChangedConfigError, check_run_dir, config_changes, first_stage, train)

# Grid keys that repeat one setting (folds, seeds, held-out speakers or corpora): averaged over, and paired in tests.
REPEAT_KEYS = ("data.fold", "seed", "data.test_speaker", "data.test_corpus")
# The longest folder name most file systems take (NAME_MAX); a run's name is its folder's.
MAX_NAME_BYTES = 255
EXPERIMENT_KEYS = ("name", "description", "base", "grid", "blocks", "cases", "select", "compare", "pretrain", "probe")
CONDITION_KEY = "condition"  # a case's name: a setting that sets no configuration key
PRETRAIN_KEYS = ("config", "follows", "corpora")
PRETRAIN_DIR = "pretrain"
PRETRAIN_REFERENCE = re.compile(r"\{pretrain\.([A-Za-z0-9_]+)\}")
# What a run and the orthogonal network it is trained against must share: the input and the network.
MATCHING_KEYS = ("data.segment_seconds", "data.frame_length", "data.hop_length", "data.time_steps",
                 "data.frequency_bins", "data.mel_bins", "data.compression", "data.features", "data.rhemo_model",
                 "data.normalization", "model.builder", "model.variant", "model.options")
KEPT_FILES = (CONFIG_FILE, METRICS_FILE, MODEL_FILE)  # a pretrained network kept beside a summary
REUSED_FROM_FILE = "REUSED_FROM"  # in a dual run's stage 1 copied from another run: that run's name
EPOCH_KEYS = ("best_epoch", "epochs_run")  # a run's metrics.json fields that the summary gives as ranges
EXPERIMENT_HINT = "delete that folder to train this configuration, or give the experiment another --runs-dir"
# The experiments/ folder of the current directory, else of this source checkout.
EXPERIMENT_DIRS = (Path("experiments"), Path(__file__).resolve().parents[2] / "experiments")


def find_experiment(name):
    """The experiment file for a name in `experiments/` or a path to a .toml file."""
    if name.endswith(".toml"):
        candidates = [Path(name)]
    else:
        candidates = [folder / f"{name}.toml" for folder in EXPERIMENT_DIRS]
    for path in candidates:
        if path.is_file():
            return path
    known = sorted({p.stem for folder in EXPERIMENT_DIRS if folder.is_dir() for p in folder.glob("*.toml")})
    raise FileNotFoundError(f"no experiment '{name}'; known experiments: {', '.join(known) or 'none'}")


def load_experiment(path):
    raw = read_toml(path, "experiment")
    for key in raw:
        if key not in EXPERIMENT_KEYS:
            raise ConfigError(key, f"unknown experiment key; known: {', '.join(EXPERIMENT_KEYS)}")
    raw.setdefault("name", Path(path).stem)
    raw.setdefault("grid", {})
    raw.setdefault("cases", [{}])
    raw["cases"] = [_with_blocks(case, raw.get("blocks", {}), i) for i, case in enumerate(raw["cases"])]
    for where, grid in [("grid", raw["grid"])] + [(f"cases[{i}]", case) for i, case in enumerate(raw["cases"])]:
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}.{key}", "must be a non-empty list of values")
    known = set(raw["grid"]).union(*raw["cases"])
    for section, field in (("select", "keys"), ("compare", "key")):
        wanted = raw.get(section, {}).get(field, [])
        for key in wanted if isinstance(wanted, list) else [wanted]:
            if key not in known:
                raise ConfigError(f"{section}.{field}", f"'{key}' is not a grid key ({', '.join(sorted(known))})")
    if "reference" in raw.get("compare", {}):
        key = raw["compare"].get("key")
        values = {_label(v) for grid in [raw["grid"], *raw["cases"]] for v in grid.get(key, [])}
        if _label(raw["compare"]["reference"]) not in values:
            raise ConfigError("compare.reference", f"{raw['compare']['reference']!r} is not a value of compare.key "
                                                   f"'{key}' ({', '.join(sorted(values)) or 'none'})")
        pairs = raw["compare"].get("pairs", [])
        if not isinstance(pairs, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
            raise ConfigError("compare.pairs", f"give a list of [a, b] pairs of compare.key's values, got {pairs!r}")
        for value in (value for pair in pairs for value in pair):
            if _label(value) not in values:
                raise ConfigError("compare.pairs", f"{value!r} is not a value of compare.key '{key}' "
                                                   f"({', '.join(sorted(values))})")
    elif "pairs" in raw.get("compare", {}):
        raise ConfigError("compare.pairs", "pairs adds comparisons to those against compare.reference; set reference "
                                           "(without it every pair of values is compared)")
    _check_pretrain(raw.get("pretrain", {}))
    if "probe" in raw:
        raw["probe"] = check_probe(raw["probe"])
    return raw


def _check_pretrain(pretrain):
    """Raise ConfigError naming the `[pretrain.<name>]` key that cannot be used."""
    if not isinstance(pretrain, dict):
        raise ConfigError("pretrain", "give each orthogonal network as a table [pretrain.<name>]")
    for name, section in pretrain.items():
        where = f"pretrain.{name}"
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise ConfigError(where, "name it with letters, digits and '_' only (it is referred to as "
                                     "\"{pretrain.<name>}\" in strategy.orthogonal)")
        if not isinstance(section, dict):
            raise ConfigError(where, "must be a table: config = {...}, and optionally follows and corpora")
        for key in section:
            if key not in PRETRAIN_KEYS:
                raise ConfigError(f"{where}.{key}", f"unknown key; known: {', '.join(PRETRAIN_KEYS)}")
        if not isinstance(section.get("config"), dict):
            raise ConfigError(f"{where}.config", "give the orthogonal task's run configuration (over [base], without "
                                                 "its strategy), e.g. { data = { task = \"speaker\", split = \"random\" } }")
        follows = section.get("follows", [])
        if not isinstance(follows, list) or not all(isinstance(key, str) and key for key in follows):
            raise ConfigError(f"{where}.follows", f"must be a list of run keys such as \"seed\", got {follows!r}")
        if section.get("corpora", "training") != "training":
            raise ConfigError(f"{where}.corpora", "'training' (each run's data.corpora less its data.test_corpus), or "
                                                  "leave it out and set data.corpora in its config")


def _with_blocks(case, blocks, index):
    """A case with the keys of the blocks it uses, in order, under its own (its condition's name as a list of one)."""
    used = case.get("use", [])
    if not isinstance(used, list) or not all(isinstance(name, str) for name in used):
        raise ConfigError(f"cases[{index}].use", "must be a list of block names")
    merged = {}
    for name in used:
        if name not in blocks:
            raise ConfigError(f"cases[{index}].use", f"no block '{name}'; blocks: {', '.join(blocks) or 'none'}")
        if not isinstance(blocks[name], dict):
            raise ConfigError(f"blocks.{name}", "must be a table of keys and their lists of values")
        merged.update(blocks[name])
    merged.update({key: values for key, values in case.items() if key != "use"})
    if CONDITION_KEY in merged:
        label = merged[CONDITION_KEY]
        label = label[0] if isinstance(label, list) and len(label) == 1 else label
        if not isinstance(label, str) or not label:
            raise ConfigError(f"cases[{index}].{CONDITION_KEY}", f"must be the condition's name, got {label!r}")
        merged = {CONDITION_KEY: [label], **{k: v for k, v in merged.items() if k != CONDITION_KEY}}  # named first
    return merged


def _label(value):
    """A setting's value as it appears in run names and folder names (no '/', no braces)."""
    text = "-".join(map(str, value)) if isinstance(value, list) else str(value)
    return text.replace("/", "_").replace("{", "").replace("}", "")


def expand(experiment):
    """(settings, RunConfig) for every combination of the grid, repetition by repetition."""
    runs = []
    for index, case in enumerate(experiment["cases"]):
        grid = {**experiment["grid"], **case}
        for values in itertools.product(*grid.values()):
            raw = copy.deepcopy(experiment.get("base", {}))
            settings = dict(zip(grid, values))
            for key, value in settings.items():
                if key != CONDITION_KEY:
                    set_key(raw, key, value)
            raw["name"] = ",".join(_short(key, _label(value)) for key, value in settings.items()) or "run"
            if (size := len(raw["name"].encode())) > MAX_NAME_BYTES:
                raise ConfigError(f"cases[{index}]", f"the run name '{raw['name']}' has {size} bytes, and it names "
                                                    f"the run's folder, which may have at most {MAX_NAME_BYTES}: "
                                                    f"give the case fewer keys (one whose value the base already "
                                                    f"has can go)")
            try:
                runs.append((settings, config_from_dict(raw)))
            except ConfigError as error:
                raise ConfigError(error.key, f"{error.message} (in run '{raw['name']}')") from None
    # Each repetition (seed, fold, ...) runs every condition before the next starts, so a stopped
    # experiment leaves complete pairs.
    repeats = [key for key in dict.fromkeys(k for settings, _ in runs for k in settings) if key in REPEAT_KEYS]
    order = {key: list(dict.fromkeys(_label(settings.get(key)) for settings, _ in runs)) for key in repeats}
    runs = sorted(runs, key=lambda run: tuple(order[key].index(_label(run[0].get(key))) for key in repeats))
    pretraining_plan(experiment, runs)  # refuses references to no [pretrain] section, and mismatched networks
    return runs


def _value(tree, dotted):
    """The value of a dotted key in a run configuration's `to_dict()`; KeyError when it has no such key."""
    node = tree
    for part in dotted.split("."):
        node = node[part]
    return node


def _merged(base, over):
    """`base` with the tables of `over` merged in, key by key."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _pretraining_config(experiment, name, config):
    """(label, RunConfig) of the orthogonal network [pretrain.<name>] that the run `config` is trained against."""
    section, where = experiment["pretrain"][name], f"pretrain.{name}"
    base = {key: value for key, value in experiment.get("base", {}).items() if key not in ("name", "strategy")}
    raw = _merged(base, section["config"])
    ours = config.to_dict()
    settings = {}
    for key in section.get("follows", []):
        try:
            settings[key] = _value(ours, key)
        except (KeyError, TypeError):
            raise ConfigError(f"{where}.follows", f"'{key}' is not a run configuration key") from None
        set_key(raw, key, settings[key])
    if section.get("corpora") == "training":
        if config.data.split != "leave_corpus_out":
            raise ConfigError(f"{where}.corpora", f"'training' needs runs with data.split = \"leave_corpus_out\" "
                                                  f"(run '{config.name}' has {config.data.split!r}); set data.corpora "
                                                  f"in pretrain.{name}.config instead")
        settings["data.corpora"] = [c for c in config.data.corpora if c != config.data.test_corpus]
        set_key(raw, "data.corpora", settings["data.corpora"])
    label = ",".join(_short(key, _label(value)) for key, value in settings.items()) or "all"
    raw["name"] = f"{PRETRAIN_DIR}_{name},{label}"
    try:
        pretrained = config_from_dict(raw)
    except ConfigError as error:
        raise ConfigError(error.key, f"{error.message} (in [{where}], for run '{config.name}')") from None
    if pretrained.data.split != "leave_corpus_out" and not pretrained.data.fractions[2]:
        raise ConfigError(f"{where}.config", f"data.fractions {pretrained.data.fractions} leave the test part empty; "
                                             "give it a share, e.g. data.fractions = [0.8, 0.1, 0.1]")
    theirs = pretrained.to_dict()
    for key in MATCHING_KEYS:
        if _value(ours, key) != _value(theirs, key):
            raise ConfigError(f"{where}.follows", f"run '{config.name}' has {key} = {_value(ours, key)!r} but its "
                                                  f"orthogonal network {_value(theirs, key)!r}: they must share the "
                                                  f"input and the network; set it in [base] or add '{key}' to "
                                                  f"pretrain.{name}.follows")
    return label, pretrained


def pretraining_plan(experiment, runs):
    """For each run, [(index in strategy.orthogonal, pretraining name, label, RunConfig)] of the networks it needs.

    Raises ConfigError for a "{pretrain.<name>}" with no [pretrain.<name>] section.
    """
    sections = experiment.get("pretrain", {})
    plan = []
    for _, config in runs:
        needs = []
        for index, entry in enumerate(config.strategy.orthogonal):
            if "{pretrain." not in entry:
                continue
            match = PRETRAIN_REFERENCE.fullmatch(entry)
            if match is None or match.group(1) not in sections:
                raise ConfigError("strategy.orthogonal", f"'{entry}' (in run '{config.name}') names no pretraining; "
                                                         "write \"{pretrain.<name>}\" for a section [pretrain.<name>] "
                                                         f"of the experiment ({', '.join(sections) or 'it has none'})")
            needs.append((index, match.group(1), *_pretraining_config(experiment, match.group(1), config)))
        plan.append(needs)
    return plan


def _pretrain_dir(out, name, label):
    return out / PRETRAIN_DIR / name / label


def _resolved(config, needs, out):
    """`config` with its "{pretrain.<name>}" references replaced by the pretraining runs' folders."""
    if not needs:
        return config
    orthogonal = list(config.strategy.orthogonal)
    for index, name, label, _ in needs:
        orthogonal[index] = str(_pretrain_dir(out, name, label))
    return dataclasses.replace(config, strategy=dataclasses.replace(config.strategy, orthogonal=orthogonal))


def train_in_child(config, run_dir, cache_dir=None, progress=True):
    """`train(config, run_dir)` in a child process (`keras-ser train`); returns its metrics."""
    run_dir = Path(run_dir)
    check_run_dir(config, run_dir)
    if not (run_dir / METRICS_FILE).exists():
        env = {**os.environ, **({CACHE_ENV: str(cache_dir)} if cache_dir is not None else {})}
        with tempfile.TemporaryDirectory() as folder:  # the child writes run_dir's config.toml once it trains
            path = Path(folder) / CONFIG_FILE
            path.write_text(dump_toml(config))
            run_child(["-m", "keras_ser.cli", "train", str(path), "--run-dir", str(run_dir)],
                      f"run '{run_dir}'", env=env, quiet=not progress)
    return json.loads((run_dir / METRICS_FILE).read_text())


def _finished(out, config):
    """Whether the run of `config` in the experiment folder `out` has written its metrics."""
    return (out / config.name / METRICS_FILE).exists()


def recorded_results(path, experiment, configs):
    """Run name -> result, of the runs of `experiment` (`configs`: run name -> its configuration) that the
    summary.json at `path` records, and the pretrainings it records.

    Results recorded with their configuration must match the run's configuration now (else
    ChangedConfigError); results from summaries written before configurations were recorded are
    matched by run name, which holds every grid and case setting. Runs the experiment no longer has
    are left out.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no summary at '{path}' to take recorded runs from: give the summary.json "
                                "an earlier `keras-ser experiment` wrote (e.g. experiments/results/<name>/summary.json)")
    try:
        summary = json.loads(path.read_text())
        results = summary["results"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"'{path}' is not a summary.json written by `keras-ser experiment` ({error!r})") from None
    if summary.get("name") != experiment["name"]:
        raise ValueError(f"'{path}' summarises experiment '{summary.get('name')}', not '{experiment['name']}'")
    recorded = {}
    for result in results:
        config = configs.get(result.get("name"))
        if config is None:
            continue
        changes = config_changes(result["config"], config) if "config" in result else []
        if changes:
            raise ChangedConfigError(f"'{path}' records run '{config.name}' with another configuration "
                                     f"({'; '.join(changes)}); train it again without --recorded, or restore the "
                                     "experiment file it was run with")
        recorded[config.name] = result
    return recorded, summary.get("pretraining", [])


def plan_experiment(name, runs_dir="runs", recorded=None):
    """The experiment's name and (run name, status) for each of its runs, in training order.

    The status is "finished", "recorded" (in the summary.json `recorded`, or a network kept beside it, not in
    `runs_dir`) or "pending".
    A pretraining comes before the first run that needs it, named `pretrain/<name>/<label>`.
    """
    experiment = load_experiment(find_experiment(name))
    out = Path(runs_dir) / experiment["name"]
    runs = expand(experiment)
    kept = Path(recorded).parent if recorded else None
    configs = {config.name: config for _, config in runs}
    recorded = recorded_results(recorded, experiment, configs)[0] if recorded else {}
    planned, listed = [], set()
    for (_, config), needs in zip(runs, pretraining_plan(experiment, runs)):
        if config.name in recorded and not _finished(out, config):
            planned.append((config.name, "recorded"))
            continue
        for _, pretraining, label, _ in needs:
            if (pretraining, label) not in listed:
                listed.add((pretraining, label))
                folder = _pretrain_dir(out, pretraining, label)
                status = "finished" if (folder / METRICS_FILE).exists() else \
                    "recorded" if kept and _kept_pretraining(kept, out, folder) else "pending"
                planned.append((f"{PRETRAIN_DIR}/{pretraining}/{label}", status))
        planned.append((config.name, "finished" if _finished(out, config) else "pending"))
    return experiment["name"], planned


def _train_concurrently(jobs, workers, cache_dir, progress):
    """Train the unfinished (config, run folder) jobs in child processes, `workers` at a time, in order.

    After a failure no further job starts; the jobs running finish, and the first failure is raised.
    """
    pending = [(config, folder) for config, folder in jobs if not (folder / METRICS_FILE).exists()]
    failed = threading.Event()

    def train_one(job):
        config, folder = job
        if failed.is_set():
            return
        try:
            metrics = train_in_child(config, folder, cache_dir=cache_dir, progress=False)
        except BaseException:
            failed.set()
            raise
        if progress:
            print(f"[finished] {folder.name}: test UAR {metrics['test']['uar']:.3f}, "
                  f"{metrics.get('wall_time_s', float('nan')):.0f} s", flush=True)

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(train_one, job) for job in pending]
    for future in futures:
        future.result()


def run_experiment(name, runs_dir="runs", cache_dir=None, progress=True, keep_models=True, isolate=None,
                   summary_only=False, workers=1, recorded=None, only=None):
    """Train every run of an experiment (skipping finished ones) and write its summary.

    A run folder holding a run of another configuration (the experiment file changed) raises
    ChangedConfigError before any run is trained or summarised.

    `keep_models=False` deletes each run's model.keras files (a dual run's stage 1 too) once its
    metrics (and its probe) are written; pretrained orthogonal networks are kept. A dual anti-transfer run whose
    stage 1 has the configuration of a finished run with its model kept takes a copy of that run as its stage 1.
    `isolate` trains each run in its own process (default: on TensorFlow); the probe runs in this one.
    `summary_only=True` trains nothing and summarises the runs finished so far. `workers` > 1 trains that many
    runs at once, each in its own process (the pretrainings first, as the runs need them), then probes and
    summarises them in this one. `recorded`, an earlier summary.json of this experiment (see
    `recorded_results`), supplies the results of the runs it records that `runs_dir` lacks. `only`, a regular
    expression, trains only the runs whose names it matches (e.g. one seed first) and summarises them with the
    runs finished or recorded.
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a whole number of runs trained at once, at least 1, not {workers!r}")
    if workers > 1 and isolate is False:
        raise ValueError(f"workers={workers} trains each run in its own process; it cannot be combined with isolate=False")
    experiment = load_experiment(find_experiment(name))
    out = Path(runs_dir) / experiment["name"]
    run = train_in_child if (isolate_by_default() if isolate is None else isolate) else train
    results = []
    runs = expand(experiment)
    configs = {config.name: config for _, config in runs}  # as the experiment states them, for the record
    plan = pretraining_plan(experiment, runs)
    runs = [(settings, _resolved(config, needs, out), needs) for (settings, config), needs in zip(runs, plan)]
    planned = len(runs)
    kept = Path(recorded).parent if recorded else None  # the recorded summary's folder: networks may be kept there
    recorded, recorded_pretrainings = recorded_results(recorded, experiment, configs) if recorded else ({}, [])
    recorded = {name: result for name, result in recorded.items() if not _finished(out, configs[name])}
    if recorded and progress:
        print(f"taking {len(recorded)} of {planned} runs from the summary they are recorded in", flush=True)
    if summary_only:
        runs = [(settings, config, needs) for settings, config, needs in runs
                if _finished(out, config) or config.name in recorded]
        if not runs:
            raise FileNotFoundError(f"no run of experiment '{experiment['name']}' has finished in '{out}'; "
                                    "run it without --summary-only first")
        if progress:
            print(f"summarising the {len(runs)} of {planned} runs that have finished", flush=True)
    elif only is not None:
        try:
            pattern = re.compile(only)
        except re.error as error:
            raise ValueError(f"only={only!r} is not a regular expression ({error})") from None
        matching = [config.name for _, config, _ in runs if pattern.search(config.name)]
        if not matching:
            raise ValueError(f"only={only!r} matches none of the {planned} runs of experiment '{experiment['name']}'; "
                             "`keras-ser experiment NAME --plan` lists their names")
        runs = [(settings, config, needs) for settings, config, needs in runs
                if config.name in matching or _finished(out, config) or config.name in recorded]
        if progress:
            print(f"{len(matching)} of {planned} runs match {only!r}; the others are summarised if finished", flush=True)
    pretrainings = {_pretrain_dir(out, name, label): pretrained for _, config, needs in runs
                    if config.name not in recorded for _, name, label, pretrained in needs}
    for folder, pretrained in pretrainings.items():
        check_run_dir(pretrained, folder, hint=EXPERIMENT_HINT)
    if kept and not summary_only:
        _restore_pretrainings(kept, out, pretrainings, progress)
    for _, config, _ in runs:
        check_run_dir(config, out / config.name, hint=EXPERIMENT_HINT)
    if workers > 1 and not summary_only:
        if progress:
            print(f"training {workers} runs at once, each in its own process", flush=True)
        _train_concurrently([(pretrained, folder) for folder, pretrained in pretrainings.items()], workers, cache_dir,
                            progress)
        jobs = [(config, out / config.name) for _, config, _ in runs if config.name not in recorded]
        for config, _ in jobs:
            _reuse_first_stage(config, runs, out, progress)
        _train_concurrently(jobs, workers, cache_dir, progress)
    for number, (settings, config, needs) in enumerate(runs, 1):
        if config.name in recorded:
            results.append(recorded[config.name])
            continue
        if summary_only:
            metrics = json.loads((out / config.name / METRICS_FILE).read_text())
        else:
            for _, pretraining, label, pretrained in needs:
                folder = _pretrain_dir(out, pretraining, label)
                if not (folder / METRICS_FILE).exists():
                    if progress:
                        print(f"[pretrain] {pretraining}/{label}", flush=True)
                    run(pretrained, folder, cache_dir=cache_dir, progress=progress)
            if progress:
                print(f"[{number}/{len(runs)}] {config.name}", flush=True)
            _reuse_first_stage(config, runs, out, progress)
            metrics = run(config, out / config.name, cache_dir=cache_dir, progress=progress)
        probe = probe_run(out / config.name, experiment["probe"], cache_dir) if "probe" in experiment else None
        if not keep_models:
            for model_file in (out / config.name).rglob(MODEL_FILE):
                model_file.unlink()
        results.append({"settings": settings, "name": config.name, "config": configs[config.name].to_dict(),
                        "test": metrics["test"], "val": metrics["val"],
                        **{key: metrics.get(key) for key in ("wall_time_s", *EPOCH_KEYS)},
                        **({"probe": probe} if "probe" in experiment else {})})
    summary = {**summarise(experiment, results), "planned_runs": planned,
               "pretraining": _pretraining_results(out, pretrainings, recorded_pretrainings if recorded else [])}
    out.mkdir(parents=True, exist_ok=True)  # absent when every run summarised is a recorded one
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(summary_markdown(summary))
    plot_paired_scores(_condition_labels(summary["chosen"], summary["context_keys"]),
                       out / "summary_uar.png", title=f"{experiment['name']}: test UAR (lines join paired runs)")
    differences, intervals, contexts = _difference_columns(summary["comparisons"])
    if differences:
        plot_paired_differences(differences, out / "summary_differences.png", intervals=intervals, groups=contexts,
                                title=f"{experiment['name']}: paired Δ test UAR (b − a), mean and 95 % bootstrap interval")
    return summary


def _reuse_first_stage(config, runs, out, progress):
    """Copy into the unfinished dual anti-transfer run `config` its stage 1 from a finished run of `runs` with that
    stage's configuration (e.g. the anti-transfer run at the same layer, beta and seed), so it is not trained twice."""
    stage_dir = out / config.name / FIRST_STAGE_DIR
    if config.strategy.kind != "dual_anti_transfer" or _finished(out, config) or (stage_dir / METRICS_FILE).exists():
        return
    stage = first_stage(config)
    for _, other, _ in runs:
        source = out / other.name
        if (other.strategy.kind == stage.strategy.kind and (source / MODEL_FILE).exists() and _finished(out, other)
                and not config_changes(dataclasses.replace(other, name=stage.name).to_dict(), stage)):
            if stage_dir.exists():  # an unfinished stage 1
                shutil.rmtree(stage_dir)
            shutil.copytree(source, stage_dir, ignore=shutil.ignore_patterns(CHECKPOINTS, LOCK_FILE, PROBE_FILE))
            (stage_dir / CONFIG_FILE).write_text(dump_toml(stage))
            (stage_dir / REUSED_FROM_FILE).write_text(other.name + "\n")
            if progress:
                print(f"{config.name}: stage 1 is the finished run {other.name}", flush=True)
            return


def _kept_pretraining(kept, out, folder):
    """The folder under `kept` with every KEPT_FILES of the pretraining `folder` (under `out`), else None."""
    source = kept / folder.relative_to(out)
    return source if all((source / name).is_file() for name in KEPT_FILES) else None


def _restore_pretrainings(kept, out, pretrainings, progress):
    """Copy each pretrained network that `out` lacks from `kept` (the folder of a recorded summary), if kept there."""
    for folder, pretrained in pretrainings.items():
        source = _kept_pretraining(kept, out, folder)
        if (folder / METRICS_FILE).exists() or source is None:
            continue
        check_run_dir(pretrained, source, hint="delete that folder to train this network again")
        folder.mkdir(parents=True, exist_ok=True)
        for name in KEPT_FILES:
            shutil.copy2(source / name, folder / name)
        if progress:
            print(f"[pretrain] {folder.relative_to(out)}: taken from {source}", flush=True)


def _pretraining_results(out, pretrainings, recorded=()):
    """Each finished pretraining's folder (relative to the experiment's), corpora, task and test scores, then
    the `recorded` rows (from an earlier summary) that differ from these, marked "recorded": a network trained
    again for new runs may not be the one the recorded runs used."""
    rows = []
    for folder, pretrained in pretrainings.items():
        if (folder / METRICS_FILE).exists():
            test = json.loads((folder / METRICS_FILE).read_text())["test"]
            rows.append({"folder": str(folder.relative_to(out)), "task": pretrained.data.task,
                         "corpora": pretrained.data.corpora, "test_accuracy": test["accuracy"], "test_uar": test["uar"]})
    rows = json.loads(json.dumps(rows))  # as the recorded rows read back
    earlier = [row for row in recorded if {k: v for k, v in row.items() if k != "recorded"} not in rows]
    return rows + [{**row, "recorded": True} for row in earlier]


def _difference_columns(comparisons):
    """Label -> paired test-UAR differences, label -> their interval and label -> each one's context (for colours),
    of the pooled comparisons if any, else all."""
    pooled = [c for c in comparisons if c["context"] and all(v == "all" for v in c["context"].values())]
    differences, intervals, contexts = {}, {}, {}
    for c in pooled or comparisons:
        context = "" if pooled else ", ".join(f"{_short(k, v)}" for k, v in c["context"].items())
        label = f"{c['b']} − {c['a']}" + (f" ({context})" if context else "")
        differences[label] = c["uar"]["differences"]
        intervals[label] = c["uar"]["interval"]
        if pooled and "contexts" in c["uar"]:
            contexts[label] = c["uar"]["contexts"]
    return differences, intervals, contexts


def _key_of(settings, keys):
    return tuple(_label(settings.get(key, "-")) for key in keys)


def summarise(experiment, results):
    """Choose `select` keys on validation UAR, average over the rest, and compare `compare.key`'s values."""
    grid_keys = list(dict.fromkeys([*experiment["grid"], *(k for case in experiment["cases"] for k in case)]))
    select = experiment.get("select", {}).get("keys", [])
    select = select if isinstance(select, list) else [select]
    compare = experiment.get("compare", {}).get("key")
    reference = experiment.get("compare", {}).get("reference")
    wanted = [tuple(_label(value) for value in pair) for pair in experiment.get("compare", {}).get("pairs", [])]
    paired = experiment.get("compare", {}).get("paired") or [k for k in grid_keys if k in REPEAT_KEYS]
    group_keys = [k for k in grid_keys if k not in select and k not in paired]

    chosen = []
    for group in sorted({_key_of(r["settings"], group_keys) for r in results}):
        members = [r for r in results if _key_of(r["settings"], group_keys) == group]
        candidates = {}
        for r in members:
            candidates.setdefault(_key_of(r["settings"], select), []).append(r)
        # Compared on the paired runs every candidate has (if any): a mean over other seeds would not compare like with like.
        common = set.intersection(*({_key_of(r["settings"], paired) for r in runs} for runs in candidates.values()))
        best_value, best_score = None, -np.inf
        for value in sorted(candidates):
            score = float(np.mean([r["val"]["uar"] for r in candidates[value]
                                   if not common or _key_of(r["settings"], paired) in common]))
            if score > best_score:
                best_value, best_score = value, score
        picked = candidates[best_value]
        compared_on = sorted(common) if common else sorted({_key_of(r["settings"], paired) for r in picked})
        chosen.append({
            "group": dict(zip(group_keys, group)),
            "selected": dict(zip(select, best_value)) if select else {},
            "val_uar": best_score,
            "selected_on": [",".join(_short(k, v) for k, v in zip(paired, key)) for key in compared_on],
            "runs": len(picked),
            **{f"{key}_range": _range([r.get(key) for r in picked]) for key in EPOCH_KEYS},
            **_test_scores(picked, paired),
            "per_corpus": {corpus: _test_scores(picked, paired, corpus) for corpus in _corpora(picked)},
            **_probe_scores(picked, paired),
        })
    comparisons = []
    # Settings of [[cases]] belong to the condition being compared; the [grid] keys give the context.
    others = [k for k in group_keys if k != compare and k in experiment["grid"]] if compare else []
    if compare:
        contexts = sorted({tuple((k, c["group"][k]) for k in others) for c in chosen})
        pooled = {}  # (a, b) -> the two conditions' chosen rows, every context's
        for context in contexts:
            rows = [c for c in chosen if all(c["group"][k] == v for k, v in context)]
            for a, b in itertools.combinations(rows, 2):
                if reference is not None:  # only against it, and the `pairs` wanted
                    if b["group"][compare] == _label(reference) or (b["group"][compare], a["group"][compare]) in wanted:
                        a, b = b, a  # differences are b − reference, or b − a as `pairs` gives them
                    if a["group"][compare] != _label(reference) and (a["group"][compare], b["group"][compare]) not in wanted:
                        continue
                labels = _condition(a, rows, compare), _condition(b, rows, compare)
                comparison = _comparison(dict(context), labels, [(a, b)])
                if comparison is not None:
                    comparisons.append(comparison)
                    pooled.setdefault(labels, []).append((a, b))
        if len(contexts) > 1:  # the thesis's test: every paired result of the two conditions together
            comparisons += [_comparison({k: "all" for k in others}, labels, pairs) for labels, pairs in pooled.items()]
    return {"name": experiment["name"], "description": experiment.get("description", ""),
            "results": results, "chosen": chosen, "context_keys": others, "comparisons": comparisons}


def _range(values):
    """[min, max] of the values known (None when none is: runs from before they were recorded)."""
    known = [v for v in values if v is not None]
    return [min(known), max(known)] if known else None


def _corpora(runs):
    """The corpora every run reports test metrics for (multi-corpus runs), in order."""
    names = [list(r["test"].get("per_corpus", {})) for r in runs]
    return [name for name in names[0] if all(name in n for n in names)] if names else []


def _test_scores(runs, paired, corpus=None):
    """Mean and std of test accuracy and UAR (overall or one corpus'), and each run's by its paired key."""
    tests = [r["test"] if corpus is None else r["test"]["per_corpus"][corpus] for r in runs]
    keys = [",".join(_key_of(r["settings"], paired)) for r in runs]
    scores = {}
    for metric in ("accuracy", "uar"):
        values = [t[metric] for t in tests]
        scores.update({f"test_{metric}": float(np.mean(values)), f"test_{metric}_std": float(np.std(values)),
                       f"paired_{metric}": dict(zip(keys, values))})
    return scores


def _probe_scores(runs, paired):
    """The speaker probe's mean and std accuracy over the runs probed, and each one's by its paired key (or {})."""
    probed = [r for r in runs if r.get("probe")]
    if not probed:
        return {}
    values = [r["probe"]["accuracy"] for r in probed]
    corpora = {}
    for r in probed:
        corpora[r["probe"]["corpus"]] = corpora.get(r["probe"]["corpus"], 0) + 1
    return {"probe": {"runs": len(probed), "accuracy": float(np.mean(values)), "accuracy_std": float(np.std(values)),
                      "chance": float(np.mean([r["probe"]["chance"] for r in probed])), "corpora": corpora},
            "paired_probe": {",".join(_key_of(r["settings"], paired)): r["probe"]["accuracy"] for r in probed}}


def _condition(row, rows, compare):
    """A row's value of the compared key, with the settings that tell it from rows sharing that value.

    E.g. "dual_anti_transfer (beta=0.0)" when two [[cases]] have the same `strategy.kind`.
    """
    value = row["group"][compare]
    varying = [key for key in _varying_keys([r for r in rows if r["group"][compare] == value]) if key != compare]
    if not varying:
        return value
    return f"{value} (" + ", ".join(_short(key, row["group"][key]) for key in varying) + ")"


def _comparison(context, labels, pairs):
    """Two-sided Wilcoxon signed-rank tests of b against a over the paired runs of (a, b) row pairs.

    Overall and per corpus, on test UAR and accuracy (and overall on the speaker probe's accuracy
    where both were probed), each with the paired `differences` (b − a) and the 95 % bootstrap
    `interval` of their mean; None when the rows share no paired run.
    """
    def test(scope_of, metrics=("uar", "accuracy")):
        tests = {}
        for metric in metrics:
            a_results, b_results, groups = [], [], []
            for a, b in pairs:
                a_scores, b_scores = scope_of(a)[f"paired_{metric}"], scope_of(b)[f"paired_{metric}"]
                common = sorted(set(a_scores) & set(b_scores))
                a_results.extend(a_scores[k] for k in common)
                b_results.extend(b_scores[k] for k in common)
                groups.extend([", ".join(str(a["group"][k]) for k in context)] * len(common))
            if not a_results:
                if metric == "uar":
                    return None
                continue
            differences = np.subtract(b_results, a_results)
            tests[metric] = {**wilcoxon_signed_rank(b_results, a_results), "differences": differences.tolist(),
                             "interval": bootstrap_mean_interval(differences)}
            if metric == "uar" and "all" in context.values():  # pooled: each difference's context (held-out corpus)
                tests[metric]["contexts"] = groups
        return tests

    probed = all("paired_probe" in row for pair in pairs for row in pair)
    overall = test(lambda row: row, ("uar", "accuracy", "probe") if probed else ("uar", "accuracy"))
    if overall is None:
        return None
    corpora = [c for c in pairs[0][0]["per_corpus"] if all(c in row["per_corpus"] for pair in pairs for row in pair)]
    return {"context": context, "a": labels[0], "b": labels[1], **overall,
            "per_corpus": {corpus: test(lambda row: row["per_corpus"][corpus]) for corpus in corpora}}


def _condition_labels(chosen, context_keys=()):
    """Short label -> paired test UARs of each chosen row: the settings that vary between rows, unset ones left out.

    A pair key is prefixed with the row's values of `context_keys` (e.g. the held-out corpus), so that only runs of
    one context are paired.
    """
    varying = _varying_keys(chosen)

    def paired(row):
        context = ",".join(str(row["group"][key]) for key in context_keys)
        return {f"{context},{key}" if context else key: value for key, value in row["paired_uar"].items()}

    return {", ".join(_short(key, c["group"][key]) for key in varying if c["group"].get(key, "-") != "-")
            or "all": paired(c) for c in chosen}


def _varying_keys(rows):
    """The group keys whose values differ between `rows`, in order of appearance."""
    keys = dict.fromkeys(key for row in rows for key in row["group"])
    return [key for key in keys if len({row["group"].get(key) for row in rows}) > 1]


def _short(key, value):
    """`key=value` with the key's last part, as in run names."""
    return f"{key.split('.')[-1]}={value}"


def _setting(chosen):
    """A chosen row's settings as text ("all" for an experiment of one condition)."""
    return ", ".join(f"{k}={v}" for k, v in chosen["group"].items()) or "all"


def summary_markdown(summary):
    """The summary as Markdown tables (mean test accuracy and UAR, per corpus too, Wilcoxon tests with bootstrap
    intervals, the speaker probe and the pretrained orthogonal networks)."""

    def p_value(test):
        return f"{test['p_value']:.3f}" if test["p_value"] >= 0.001 else "< 0.001"

    def interval(test):
        return "[{:+.1f}, {:+.1f}]".format(*(100 * v for v in test["interval"])) if "interval" in test else "-"

    def span(low_high):
        return "-" if low_high is None else str(low_high[0]) if low_high[0] == low_high[1] else "{}-{}".format(*low_high)

    def mean_std(scores, metric):
        return f"{100 * scores[f'test_{metric}']:.1f} ± {100 * scores[f'test_{metric}_std']:.1f}"

    finished, planned = len(summary["results"]), summary.get("planned_runs", len(summary["results"]))
    partial = [f"**Partial: {finished} of {planned} runs have finished.**", ""] if finished < planned else []
    lines = [f"# {summary['name']}", "", summary["description"], "", *partial,
             "| setting | selected on validation | runs | test accuracy | test UAR | best epoch (0 = first) | epochs run |",
             "|---|---|---|---|---|---|---|"]
    for c in summary["chosen"]:
        selected = ", ".join(f"{k}={v}" for k, v in c["selected"].items()) or "-"
        if c["selected"] and len(c.get("selected_on", [])) < c["runs"]:
            selected += f" (compared on {'; '.join(c['selected_on'])})"
        epochs = [span(c.get(f"{key}_range")) for key in EPOCH_KEYS]
        lines.append(f"| {_setting(c)} | {selected} | {c['runs']} | {mean_std(c, 'accuracy')} | {mean_std(c, 'uar')} | "
                     + " | ".join(epochs) + " |")
    corpora = list(dict.fromkeys(corpus for c in summary["chosen"] for corpus in c.get("per_corpus", {})))
    if corpora:
        lines += ["", "Per corpus, test accuracy / UAR:", "",
                  "| setting | " + " | ".join(corpora) + " |", "|---" * (len(corpora) + 1) + "|"]
        for c in summary["chosen"]:
            cells = [f"{mean_std(c['per_corpus'][corpus], 'accuracy')} / {mean_std(c['per_corpus'][corpus], 'uar')}"
                     if corpus in c["per_corpus"] else "-" for corpus in corpora]
            lines.append(f"| {_setting(c)} | " + " | ".join(cells) + " |")
    if summary["comparisons"]:
        lines += ["", "Paired tests of b − a: two-sided Wilcoxon signed-rank p and a 95 % bootstrap interval of the mean "
                  "difference (10,000 resamples of the pairs).", "",
                  "| context | b vs a | test set | n | mean Δ UAR (pp) | p (UAR) | 95 % interval Δ UAR (pp) | "
                  "mean Δ acc. (pp) | p (acc.) |", "|---|---|---|---|---|---|---|---|---|"]
        for c in summary["comparisons"]:
            context = ", ".join(f"{k}={v}" for k, v in c["context"].items()) or "all"
            for scope, test in [("all", c), *c.get("per_corpus", {}).items()]:
                lines.append(
                    f"| {context} | {c['b']} vs {c['a']} | {scope} | {test['uar']['n']} | "
                    f"{100 * test['uar']['mean_difference']:+.1f} | {p_value(test['uar'])} | {interval(test['uar'])} | "
                    f"{100 * test['accuracy']['mean_difference']:+.1f} | {p_value(test['accuracy'])} |")
    probed = [c for c in summary["chosen"] if c.get("probe")]
    if probed:
        lines += ["", "Linear speaker probe: logistic regression on the penultimate features of a training corpus's "
                  "validation speakers (fit on half of each speaker's clips, scored on the rest):", "",
                  "| setting | runs probed | speaker accuracy | chance | probed corpus (runs) |", "|---|---|---|---|---|"]
        for c in probed:
            corpora = ", ".join(f"{corpus} ({n})" for corpus, n in c["probe"]["corpora"].items())
            lines.append(f"| {_setting(c)} | {c['probe']['runs']} | {100 * c['probe']['accuracy']:.1f} ± "
                         f"{100 * c['probe']['accuracy_std']:.1f} | {100 * c['probe']['chance']:.1f} | {corpora} |")
        probe_tests = [c for c in summary["comparisons"] if "probe" in c]
        if probe_tests:
            lines += ["", "| context | b vs a | n | mean Δ speaker accuracy (pp) | p | 95 % interval (pp) |",
                      "|---|---|---|---|---|---|"]
            for c in probe_tests:
                context = ", ".join(f"{k}={v}" for k, v in c["context"].items()) or "all"
                lines.append(f"| {context} | {c['b']} vs {c['a']} | {c['probe']['n']} | "
                             f"{100 * c['probe']['mean_difference']:+.1f} | {p_value(c['probe'])} | {interval(c['probe'])} |")
    if summary.get("pretraining"):
        earlier = any(row.get("recorded") for row in summary["pretraining"])
        lines += ["", "Orthogonal networks trained by the experiment" + (
                  " (\"(recorded)\": the one an earlier machine trained for the recorded runs, where it scored "
                  "otherwise)" if earlier else "") + ":", "",
                  "| folder | task | corpora | test accuracy | test UAR |", "|---|---|---|---|---|"]
        for row in summary["pretraining"]:
            lines.append(f"| {row['folder']}{' (recorded)' if row.get('recorded') else ''} | {row['task']} | "
                         f"{', '.join(row['corpora'])} | "
                         f"{100 * row['test_accuracy']:.1f} | {100 * row['test_uar']:.1f} |")
    lines += ["", "A setting shown as \"-\" is not set by that condition, so the experiment's [base] value or the "
              "config default applies. Best epochs count from 0."]
    return "\n".join(lines) + "\n"
