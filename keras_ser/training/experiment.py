"""Experiments: a grid of run configurations, trained one by one, summarised and compared.

An experiment file (TOML) holds a `[base]` run configuration, a `[grid]` of
dotted keys with the values to try (every combination is one run), and
optionally:

- `[[cases]]`: alternative extra grids combined with `[grid]` in turn (e.g.
  the standard variant alone, and the MTS variant with its scale sets);
- `[select]`: `keys` whose best value is chosen on the validation UAR for each
  setting of the other keys (like the thesis's search of MTS scale sets);
- `[compare]`: `key`, the key whose values are compared (e.g. `model.variant`),
  with runs paired over `paired` (default: the folds, seeds or held-out
  speakers in the grid) and a two-sided Wilcoxon signed-rank test per pair of
  values within each setting of the other `[grid]` keys (keys set only in
  `[[cases]]` go with the compared condition).

Runs go to `<runs_dir>/<experiment>/<key=value,...>/`; finished runs are not
trained again, so an interrupted experiment continues where it stopped.
"""

import copy
import itertools
import json
from pathlib import Path

import numpy as np

from keras_ser.training.config import ConfigError, config_from_dict, read_toml
from keras_ser.training.metrics import wilcoxon_signed_rank
from keras_ser.training.run import train

# Grid keys that repeat one setting (folds, seeds, held-out speakers): averaged over, and paired in tests.
REPEAT_KEYS = ("data.fold", "seed", "data.test_speaker")
EXPERIMENT_KEYS = ("name", "description", "base", "grid", "cases", "select", "compare")
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
    return raw


def _set(raw, dotted, value):
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _label(value):
    """A setting's value as it appears in run names and folder names (no '/')."""
    text = "-".join(map(str, value)) if isinstance(value, list) else str(value)
    return text.replace("/", "_")


def expand(experiment):
    """(settings, RunConfig) for every combination of the grid, repetition by repetition."""
    runs = []
    for case in experiment["cases"]:
        grid = {**experiment["grid"], **case}
        for values in itertools.product(*grid.values()):
            raw = copy.deepcopy(experiment.get("base", {}))
            settings = dict(zip(grid, values))
            for key, value in settings.items():
                _set(raw, key, value)
            raw["name"] = ",".join(f"{key.split('.')[-1]}={_label(value)}" for key, value in settings.items()) or "run"
            try:
                runs.append((settings, config_from_dict(raw)))
            except ConfigError as error:
                raise ConfigError(error.key, f"{error.message} (in run '{raw['name']}')") from None
    # Each repetition (seed, fold, ...) runs every condition before the next starts, so a stopped
    # experiment leaves complete pairs.
    repeats = [key for key in dict.fromkeys(k for settings, _ in runs for k in settings) if key in REPEAT_KEYS]
    order = {key: list(dict.fromkeys(_label(settings.get(key)) for settings, _ in runs)) for key in repeats}
    return sorted(runs, key=lambda run: tuple(order[key].index(_label(run[0].get(key))) for key in repeats))


def run_experiment(name, runs_dir="runs", cache_dir=None, progress=True):
    """Train every run of an experiment (skipping finished ones) and write its summary."""
    experiment = load_experiment(find_experiment(name))
    out = Path(runs_dir) / experiment["name"]
    results = []
    runs = expand(experiment)
    for number, (settings, config) in enumerate(runs, 1):
        if progress:
            print(f"[{number}/{len(runs)}] {config.name}")
        metrics = train(config, out / config.name, cache_dir=cache_dir, progress=progress)
        results.append({"settings": settings, "name": config.name, "test": metrics["test"], "val": metrics["val"],
                        "wall_time_s": metrics.get("wall_time_s")})
    summary = summarise(experiment, results)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(summary_markdown(summary))
    return summary


def _key_of(settings, keys):
    return tuple(_label(settings.get(key, "-")) for key in keys)


def summarise(experiment, results):
    """Choose `select` keys on validation UAR, average over the rest, and compare `compare.key`'s values."""
    grid_keys = list(dict.fromkeys([*experiment["grid"], *(k for case in experiment["cases"] for k in case)]))
    select = experiment.get("select", {}).get("keys", [])
    select = select if isinstance(select, list) else [select]
    compare = experiment.get("compare", {}).get("key")
    paired = experiment.get("compare", {}).get("paired") or [k for k in grid_keys if k in REPEAT_KEYS]
    group_keys = [k for k in grid_keys if k not in select and k not in paired]

    chosen = []
    for group in sorted({_key_of(r["settings"], group_keys) for r in results}):
        members = [r for r in results if _key_of(r["settings"], group_keys) == group]
        best_value, best_score = None, -np.inf
        for value in sorted({_key_of(r["settings"], select) for r in members}):
            candidates = [r for r in members if _key_of(r["settings"], select) == value]
            score = float(np.mean([r["val"]["uar"] for r in candidates]))
            if score > best_score:
                best_value, best_score = value, score
        picked = [r for r in members if _key_of(r["settings"], select) == best_value]
        chosen.append({
            "group": dict(zip(group_keys, group)),
            "selected": dict(zip(select, best_value)) if select else {},
            "val_uar": best_score,
            "runs": len(picked),
            "test_accuracy": float(np.mean([r["test"]["accuracy"] for r in picked])),
            "test_uar": float(np.mean([r["test"]["uar"] for r in picked])),
            "test_accuracy_std": float(np.std([r["test"]["accuracy"] for r in picked])),
            "test_uar_std": float(np.std([r["test"]["uar"] for r in picked])),
            "paired_uar": {",".join(_key_of(r["settings"], paired)): r["test"]["uar"] for r in picked},
            "paired_accuracy": {",".join(_key_of(r["settings"], paired)): r["test"]["accuracy"] for r in picked},
        })
    comparisons = []
    if compare:
        # Settings of [[cases]] belong to the condition being compared; the [grid] keys give the context.
        others = [k for k in group_keys if k != compare and k in experiment["grid"]]
        contexts = sorted({tuple((k, c["group"][k]) for k in others) for c in chosen})
        pooled = {}  # (a, b) -> metric -> ([a's results], [b's results]) over every context
        for context in contexts:
            rows = [c for c in chosen if all(c["group"][k] == v for k, v in context)]
            for a, b in itertools.combinations(rows, 2):
                common = sorted(set(a["paired_uar"]) & set(b["paired_uar"]))
                if not common:
                    continue
                pairs = {metric: ([a[f"paired_{metric}"][k] for k in common], [b[f"paired_{metric}"][k] for k in common])
                         for metric in ("uar", "accuracy")}
                comparisons.append(_comparison(dict(context), a["group"][compare], b["group"][compare], pairs))
                total = pooled.setdefault((a["group"][compare], b["group"][compare]), {"uar": ([], []), "accuracy": ([], [])})
                for metric, (a_results, b_results) in pairs.items():
                    total[metric][0].extend(a_results)
                    total[metric][1].extend(b_results)
        if len(contexts) > 1:  # the thesis's test: every paired result of the two conditions together
            for (a, b), pairs in pooled.items():
                comparisons.append(_comparison({k: "all" for k in others}, a, b, pairs))
    return {"name": experiment["name"], "description": experiment.get("description", ""),
            "results": results, "chosen": chosen, "comparisons": comparisons}


def _comparison(context, a, b, pairs):
    """A two-sided Wilcoxon signed-rank test of b against a on paired test UAR and accuracy."""
    return {"context": context, "a": a, "b": b,
            **{metric: wilcoxon_signed_rank(b_results, a_results) for metric, (a_results, b_results) in pairs.items()}}


def summary_markdown(summary):
    """The summary as Markdown tables (mean test accuracy and UAR, Wilcoxon tests)."""
    lines = [f"# {summary['name']}", "", summary["description"], "",
             "| setting | selected on validation | runs | test accuracy | test UAR |", "|---|---|---|---|---|"]
    for c in summary["chosen"]:
        setting = ", ".join(f"{k}={v}" for k, v in c["group"].items()) or "all"
        selected = ", ".join(f"{k}={v}" for k, v in c["selected"].items()) or "-"
        lines.append(f"| {setting} | {selected} | {c['runs']} | {100 * c['test_accuracy']:.1f} ± "
                     f"{100 * c['test_accuracy_std']:.1f} | {100 * c['test_uar']:.1f} ± {100 * c['test_uar_std']:.1f} |")
    if summary["comparisons"]:
        lines += ["", "| context | b vs a | n | mean Δ UAR (pp) | p (UAR) | mean Δ acc. (pp) | p (acc.) |",
                  "|---|---|---|---|---|---|---|"]
        for c in summary["comparisons"]:
            context = ", ".join(f"{k}={v}" for k, v in c["context"].items()) or "all"
            lines.append(
                f"| {context} | {c['b']} vs {c['a']} | {c['uar']['n']} | {100 * c['uar']['mean_difference']:+.1f} | "
                f"{c['uar']['p_value']:.3f} | {100 * c['accuracy']['mean_difference']:+.1f} | "
                f"{c['accuracy']['p_value']:.3f} |")
    return "\n".join(lines) + "\n"
