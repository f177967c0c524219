"""Comparison tables in a preset's card: its scores beside other models' (metadata "comparisons")."""

import json
import tomllib
from pathlib import Path

from keras_ser.hub.card import check_metadata, read_metadata, write_card
from keras_ser.presets.files import METADATA_FILE, PresetError, write_json

RUN_CONFIG_FILE = "config.toml"  # beside a training run's metrics.json (keras_ser.training.run.CONFIG_FILE)


def add_comparison(preset_dir, title, rows, note="", replace=True):
    """Add a comparison table to a preset's metadata.json and rewrite its README.md card; return the table.

    `rows`: [{"label": str, "scores": {corpus: {"accuracy": 0-1, "uar": 0-1}}}, ...]. A table of the same title
    is replaced in place; with `replace=False` it is an error. The weights are not touched.
    """
    metadata = read_metadata(preset_dir)
    source = f"'{Path(preset_dir) / METADATA_FILE}'"
    table = {"title": title, **({"note": note} if note else {}), "rows": rows}
    tables = list(metadata.get("comparisons", []))
    titles = [existing["title"] for existing in tables]
    if title not in titles:
        tables.append(table)
    elif replace:
        tables[titles.index(title)] = table
    else:
        raise PresetError(f"{source} already has a comparison titled {title!r}; pass replace=True to replace it")
    metadata["comparisons"] = tables
    check_metadata(metadata, source)
    write_json(preset_dir, METADATA_FILE, metadata)
    write_card(preset_dir)
    return table


def scores_from_json(path):
    """{corpus: {"accuracy", "uar"}} of the test part of a training run's metrics.json, or of the output of
    `keras-ser evaluate --out`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"'{path}' is not valid JSON ({error})") from None
    test = data.get("test", data) if isinstance(data, dict) else None
    per_corpus = (test.get("per_corpus") or _single_corpus(path, test)) if isinstance(test, dict) else None
    if not per_corpus:
        raise ValueError(f"'{path}' holds no per-corpus scores: expected a training run's metrics.json (test "
                         "per_corpus, or a run tested on one corpus with its config.toml beside it) or the output "
                         "of keras-ser evaluate --out (per_corpus)")
    return {corpus: {"accuracy": scores.get("accuracy"), "uar": scores.get("uar")}
            for corpus, scores in per_corpus.items()}


def _single_corpus(path, test):
    """{corpus: test} for the metrics of a run tested on one corpus (which one its config.toml says), else {}."""
    config = path.with_name(RUN_CONFIG_FILE)
    if "uar" not in test or not config.is_file():
        return {}
    data = tomllib.loads(config.read_text()).get("data", {})
    corpora = [data.get("test_corpus")] if data.get("split") == "leave_corpus_out" else data.get("corpora", [])
    return {corpora[0]: test} if len(corpora) == 1 else {}
