"""What a finished search leaves behind: a results table, validation UAR per AT layer, the best run config."""

import csv
import math
from pathlib import Path

from keras_ser.training.config import dump_toml
from keras_ser.training.plots import plot_layer_scores

RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
LAYER_PLOT = "val_uar_per_at_layer.png"
BEST_CONFIG = "best_config.toml"


def trial_rows(oracle):
    """One dict per trial: trial id, its hyperparameter values, the validation UAR and the status."""
    rows = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        score = trial.score if trial.score is not None else math.nan
        rows.append({"trial": trial_id, **trial.hyperparameters.values, "val_uar": score, "status": trial.status})
    return rows


def write_report(oracle, hypermodel, out_dir):
    """Write the results table (CSV, Markdown), the per-layer plot (when searched) and the best config.

    Returns the paths written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(oracle)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with (out_dir / RESULTS_CSV).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(key, "")) for key in columns) + " |" for row in rows]
    (out_dir / RESULTS_MD).write_text("\n".join(lines) + "\n")
    written = [out_dir / RESULTS_CSV, out_dir / RESULTS_MD]

    scores = {}
    for row in rows:
        if "at_layer" in row and math.isfinite(row["val_uar"]):
            scores.setdefault(row["at_layer"], []).append(row["val_uar"])
    if scores:
        written.append(plot_layer_scores(scores, out_dir / LAYER_PLOT, title=f"{hypermodel.name}\nvalidation UAR per AT layer"))
    best = oracle.get_best_trials(1)
    if best:
        config = hypermodel.config_for(best[0].hyperparameters)
        config.name = f"{hypermodel.name}_best"
        (out_dir / BEST_CONFIG).write_text(dump_toml(config))
        written.append(out_dir / BEST_CONFIG)
    return written


def _cell(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)
