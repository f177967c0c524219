"""Model cards: a preset's README.md and the zoo's MODEL_CARDS.md, built from metadata.json."""

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from keras_ser.presets.files import CARD_FILE, METADATA_FILE, PresetError, read_json
from keras_ser.training.metrics import mean_uar

REQUIRED_KEYS = ("name", "class_names", "metrics", "license")
BASE_TAGS = ["keras", "keras-ser", "speech-emotion-recognition", "audio-classification"]
# Tags added when the architecture description contains one of these words.
ARCHITECTURE_TAGS = {"quaternion": "quaternion", "rh-emo": "rh-emo", "rhemo": "rh-emo"}
TASK = "audio-classification"
MISSING = "–"
# Split kinds (keras_ser.training.config.SPLITS, recorded as training_data.split_kind) whose test speakers are
# never training speakers; "random" shares speakers between parts.
SPEAKER_INDEPENDENT_SPLITS = ("speaker", "fold", "held_out", "per_corpus", "leave_corpus_out")
SPEAKER_INDEPENDENT = ("Test results are speaker-independent: the test speakers are never seen in training (see the "
                       "split under Training data for the validation speakers).")
NOT_SPEAKER_INDEPENDENT = ("**Test results are NOT speaker-independent:** the same speakers appear in training and "
                           "test; these figures overstate accuracy on new voices.")
NOT_A_FRACTION = "not a number from 0 to 1 (a fraction: 0.61, not 61)"
# The scores of each head in metadata "dimension_metrics", besides its "clips".
DIMENSION_SCORES = ("accuracy", "uar", "majority_rate")
DIMENSIONS_ABOUT = ("Clip-level scores of RH-emo's valence / arousal / dominance heads: a clip is predicted high when "
                    "the mean of its windows' probabilities of high is > 0.5. The majority rate is the accuracy of "
                    "always answering the commoner target, the chance level to beat. Targets are a corpus's binarised "
                    "dimensional ratings where it has them (IEMOCAP), else the categorical → (V, A, D) table "
                    "(`keras_ser.datasets.VAD_TABLE`), so on 4-class data they are a function of the emotion label.")


def check_metadata(metadata, source, keys=REQUIRED_KEYS):
    """Raise PresetError naming `source` when one of `keys` is missing or empty in `metadata`, or a comparison
    table or the (optional) dimension metrics are malformed."""
    missing = [key for key in keys if metadata.get(key) in (None, "", [], {})]
    if missing:
        raise PresetError(
            f"{source} has no {', '.join(map(repr, missing))}; add it there, or save the preset again with "
            f"keras_ser.hub.save_preset(model, folder, metadata={{{', '.join(f'{k!r}: ...' for k in missing)}}})"
        )
    _check_comparisons(metadata.get("comparisons", []), source)
    _check_dimension_metrics(metadata.get("dimension_metrics", {}), source)


def _check_comparisons(tables, source):
    """Raise PresetError naming `source` and the table or row of metadata "comparisons" that is malformed."""
    if not isinstance(tables, list):
        raise PresetError(f"{source}: 'comparisons' is a list of tables, not {type(tables).__name__}")
    for number, table in enumerate(tables, 1):
        title = _field(table, "title", str)
        if title is None:
            raise PresetError(f"{source}: comparison table {number} has no title")
        rows = _field(table, "rows", list)
        if rows is None:
            raise PresetError(f"{source}: comparison {title!r} has no rows")
        if not isinstance(table.get("note", ""), str):
            raise PresetError(f"{source}: the note of comparison {title!r} is not text")
        for row in rows:
            label = _field(row, "label", str)
            if label is None:
                raise PresetError(f"{source}: a row of comparison {title!r} has no label")
            scores = _field(row, "scores", dict)
            if scores is None:
                raise PresetError(f"{source}: row {label!r} of comparison {title!r} has no scores")
            for corpus, values in scores.items():
                for key in ("accuracy", "uar"):
                    value = _get(values, key)
                    if not _is_fraction(value):
                        raise PresetError(f"{source}: row {label!r} of comparison {title!r}: {corpus} {key} is "
                                          f"{value!r}, {NOT_A_FRACTION}")


def _check_dimension_metrics(metrics, source):
    """Raise PresetError naming `source` and the entry of metadata "dimension_metrics" ({split: {corpus: {head:
    scores}}}) that is malformed."""
    where = f"{source}: dimension_metrics"
    for split, corpora in _mapping(metrics, where).items():
        for corpus, heads in _mapping(corpora, f"{where} {split}").items():
            for head, scores in _mapping(heads, f"{where} {split} {corpus}").items():
                entry = f"{where} {split} {corpus} {head}"
                for key in DIMENSION_SCORES:
                    if not _is_fraction(_get(scores, key)):
                        raise PresetError(f"{entry}: {key} is {_get(scores, key)!r}, {NOT_A_FRACTION}")
                clips = _get(scores, "clips")
                if isinstance(clips, bool) or not isinstance(clips, int) or clips < 1:
                    raise PresetError(f"{entry}: clips is {clips!r}, not a positive whole number")


def _mapping(value, where):
    """`value` when it is a dict, else a PresetError naming `where`."""
    if not isinstance(value, dict):
        raise PresetError(f"{where} is {value!r}, not a mapping")
    return value


def _is_fraction(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value <= 1


def _get(value, key):
    return value.get(key) if isinstance(value, dict) else None


def _field(value, key, kind):
    """`value[key]` when `value` is a dict and that entry is a non-empty `kind`, else None."""
    entry = _get(value, key)
    return entry if entry and isinstance(entry, kind) else None


def read_metadata(preset_dir):
    """The checked metadata.json of a preset folder."""
    metadata = read_json(preset_dir, METADATA_FILE)
    check_metadata(metadata, f"'{Path(preset_dir) / METADATA_FILE}'")
    return metadata


def model_card(metadata):
    """The Hugging Face model card (YAML front matter + markdown body) of a preset."""
    check_metadata(metadata, "the preset metadata", keys=("name", "class_names"))
    architecture = str(metadata.get("architecture", "")).lower()
    tags = BASE_TAGS + sorted({tag for word, tag in ARCHITECTURE_TAGS.items() if word in architecture})
    test = (metadata.get("metrics") or {}).get("test") or {}
    results = [
        EvalResult(task_type=TASK, dataset_type=corpus, dataset_name=corpus, dataset_split="test",
                   metric_type=metric_type, metric_name=metric_name, metric_value=scores[key], metric_args=args)
        for corpus, scores in sorted(test.items())
        for key, metric_type, metric_name, args in (("accuracy", "accuracy", "Accuracy", None),
                                                    ("uar", "recall", "UAR (unweighted average recall)", {"average": "macro"}))
        if scores.get(key) is not None
    ]
    data = ModelCardData(library_name="keras_ser", pipeline_tag=TASK, tags=tags, license=metadata.get("license"),
                         datasets=_corpora(metadata) or None, model_name=metadata["name"], eval_results=results or None)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_body(metadata)}")


def card_text(metadata):
    """The full README.md text of a preset."""
    return str(model_card(metadata))


def write_card(preset_dir):
    """Write `<preset_dir>/README.md` from its metadata.json and return its path."""
    path = Path(preset_dir) / CARD_FILE
    path.write_text(card_text(read_metadata(preset_dir)))
    return path


def zoo_model_cards(zoo_dir):
    """The text of MODEL_CARDS.md: an overview table, then the card of every preset under `zoo_dir`."""
    presets = sorted((read_metadata(folder) for folder in Path(zoo_dir).iterdir() if (folder / METADATA_FILE).is_file()),
                     key=lambda metadata: metadata["name"])
    corpora = sorted({corpus for metadata in presets for corpus in _test(metadata)})
    independent = all(_split_kind(metadata) in SPEAKER_INDEPENDENT_SPLITS for metadata in presets)
    notes = _overview_notes(presets)
    lines = ["# keras-ser model zoo", "",
             "> Generated from each preset's metadata.json by `keras-ser model-cards --write MODEL_CARDS.md`; do not edit by hand.", "",
             ("Test scores are speaker-independent (test speakers never seen in training); cells" if independent
              else "Not every model's test speakers are new to it (see each model's Results); cells") + " are accuracy / UAR in %.", "",
             *([notes, ""] if notes else []),
             _row(["Model", "Architecture", "Parameters", "Mean test UAR", *corpora]), _row(["---"] * (4 + len(corpora)))]
    for metadata in presets:
        test = _test(metadata)
        lines.append(_row([f"[{metadata['name']}](#{metadata['name']})", metadata.get("architecture", MISSING),
                           _count((metadata.get("parameters") or {}).get("total")),
                           _percent(mean_uar(test)),
                           *(f"{_percent(test.get(c, {}).get('accuracy'))} / {_percent(test.get(c, {}).get('uar'))}"
                             for c in corpora)]))
    return "\n".join([*lines, "", *(_body(metadata, level=2) for metadata in presets)])


def _overview_notes(presets):
    """The presets' data notes as list items, each naming the models it applies to ("every model" when all)."""
    models = {}  # (corpus, note) -> names of the presets carrying it, in the presets' order
    for metadata in presets:
        for corpus, note in (metadata.get("data_notes") or {}).items():
            models.setdefault((corpus, note), []).append(metadata["name"])
    return "\n".join(f"- **{corpus}** ({'every model' if len(names) == len(presets) else ', '.join(names)}): {note}"
                     for (corpus, note), names in models.items())


def _data_notes(metadata):
    """Notes on the data of a preset's training and test scores (metadata "data_notes": corpus -> note), as list items.

    For what the corpus name alone does not say, e.g. that a corpus was an altered copy (files cut to 2 s)."""
    notes = metadata.get("data_notes") or {}
    return "\n".join(["About the data:", "", *(f"- **{corpus}:** {note}" for corpus, note in notes.items())]) if notes else ""


def _split_kind(metadata):
    return (metadata.get("training_data") or {}).get("split_kind")


def _split_claim(metadata):
    """What the test results may claim about speakers: nothing when the metadata does not record the split kind."""
    kind = _split_kind(metadata)
    if kind in SPEAKER_INDEPENDENT_SPLITS:
        return SPEAKER_INDEPENDENT
    return NOT_SPEAKER_INDEPENDENT if kind == "random" else ""


def _test(metadata):
    return (metadata.get("metrics") or {}).get("test") or {}


def _corpora(metadata):
    return list((metadata.get("training_data") or {}).get("corpora") or sorted(_test(metadata)))


def _row(cells):
    return "| " + " | ".join(map(str, cells)) + " |"


def _percent(value):
    return MISSING if value is None else f"{100 * value:.1f}"


def _count(value):
    return MISSING if value is None else f"{value:,}"


def _body(metadata, level=1):
    """The markdown body of a card; headings start at `level`."""
    name, heading = metadata["name"], "#" * (level + 1)
    outputs = metadata.get("outputs") or ["emotion"]
    parts = [f"{'#' * level} {name}", metadata.get("description", ""),
             "A keras-ser speech emotion recognition model"
             + (f" ({metadata['architecture']})." if metadata.get("architecture") else "."),
             f"- **Classes:** {', '.join(metadata['class_names'])}\n- **Outputs:** {', '.join(outputs)}"
             + (" (valence/arousal/dominance: probabilities of the high class, from RH-emo's heads; `result.dimensions`)" if len(outputs) > 1 else ""),
             f"{heading} Usage",
             f'```python\nimport keras_ser\n\nmodel = keras_ser.load("{name}")\nmodel.predict_file("clip.wav")\n```',
             f"```bash\nkeras-ser predict clip.wav --model {name}\n```",
             f"{heading} Results", _results(metadata.get("metrics") or {}, _split_claim(metadata)), _data_notes(metadata),
             *_dimensions(metadata.get("dimension_metrics"), heading),
             *_comparisons(metadata.get("comparisons"), heading)]
    if metadata.get("calibration"):
        parts += [f"{heading} Calibration", _calibration(metadata["calibration"])]
    if metadata.get("adaptations"):  # after every measured section, which it says predate it
        parts += [f"{heading} Adaptation", _adaptations(metadata["adaptations"])]
    if "parameters" in metadata:
        counts = metadata["parameters"]
        parts += [f"{heading} Parameters", f"{_count(counts.get('total'))} in total, {_count(counts.get('trainable'))} trainable."]
    if "training_data" in metadata:
        parts += [f"{heading} Training data", _training_data(metadata["training_data"])]
    if "recipe" in metadata:
        parts += [f"{heading} Recipe", _recipe(metadata["recipe"])]
    if "versions" in metadata:
        parts += [f"{heading} Versions", ", ".join(f"{k} {v}" for k, v in metadata["versions"].items())]
    if "weights" in metadata:
        parts += [f"{heading} Weights", "\n".join(
            [_row(["File", "dtype", "Bytes", "sha256"]), _row(["---"] * 4)]
            + [_row([f, w.get("dtype", MISSING), _count(w.get("bytes")), f"`{w.get('sha256', MISSING)}`"])
               for f, w in metadata["weights"].items()])]
    parts += [f"{heading} Licence", _licence(metadata)]
    return "\n\n".join(part for part in parts if part) + "\n"


def _results(metrics, claim):
    rows = [[split, corpus, scores.get("clips", MISSING), _percent(scores.get("accuracy")), _percent(scores.get("uar")),
             _percent(scores.get("macro_f1"))]
            for split in ("test", "val") for corpus, scores in sorted((metrics.get(split) or {}).items())]
    if not rows:
        return "No evaluation results recorded."
    table = [_row(["Split", "Corpus", "Clips", "Accuracy %", "UAR %", "Macro-F1 %"]), _row(["---"] * 6), *map(_row, rows)]
    about = " ".join(filter(None, [claim, "UAR is the unweighted average recall (mean per-class recall)."]))
    return about + "\n\n" + "\n".join(table)


def _dimensions(metrics, heading):
    """The parts of the valence / arousal / dominance results: what they are, then a table per split (test first);
    none without scores."""
    tables = []
    for split in ("test", "val"):
        rows = [[corpus, head, *(_percent(scores[key]) for key in DIMENSION_SCORES), scores["clips"]]
                for corpus, heads in sorted(((metrics or {}).get(split) or {}).items()) for head, scores in heads.items()]
        if rows:
            tables.append("\n".join([f"{'Test' if split == 'test' else 'Validation'} split:", "",
                                      _row(["Corpus", "Head", "Accuracy %", "UAR %", "Majority %", "Clips"]),
                                      _row(["---"] * 6), *map(_row, rows)]))
    return [f"{heading}# Valence, arousal and dominance", DIMENSIONS_ABOUT, *tables] if tables else []


def _comparisons(tables, heading):
    """The parts of the Comparisons section: each table under its title and note."""
    if not tables:
        return []
    parts = [f"{heading} Comparisons",
             "Cells are accuracy / UAR in %; a row's mean UAR is over the corpora it has scores for."]
    for table in tables:
        parts += [f"{heading}# {table['title']}", table.get("note", ""), comparison_table(table)]
    return parts


def comparison_table(table):
    """The markdown table of one comparison: a row per label, a column per corpus, then the row's mean UAR."""
    corpora = list(dict.fromkeys(corpus for row in table["rows"] for corpus in row["scores"]))
    lines = [_row(["Model", *corpora, "Mean UAR"]), _row(["---"] * (len(corpora) + 2))]
    for row in table["rows"]:
        scores = row["scores"]
        cells = [f"{_percent(scores[c]['accuracy'])} / {_percent(scores[c]['uar'])}" if c in scores else MISSING
                 for c in corpora]
        lines.append(_row([row["label"], *cells, _percent(mean_uar(scores))]))
    return "\n".join(lines)


def _adaptations(adaptations):
    """What `SERClassifier.adapt` changed, one row per call, and that the results above predate it."""
    rows = [[record.get("date", MISSING), ", ".join(record.get("parts") or []) or MISSING, _count(record.get("clips")),
             _count(record.get("windows")), _count(len(record.get("skipped") or []))] for record in adaptations]
    about = ("This model was adapted without labels to audio of a new domain (`SERClassifier.adapt`: `normalizer` "
             "refits the input normaliser, `batch_norm` the batch-normalisation statistics). The results (and any "
             "calibration) above were measured before the adaptation and do not describe the adapted model, which "
             "keeps the temperature fitted then; score it on labelled clips of "
             "its domain (`keras-ser evaluate`).")
    return "\n\n".join([about, "\n".join([_row(["Date", "Parts adapted", "Clips", "Windows", "Files skipped"]),
                                            _row(["---"] * 5), *map(_row, rows)])])


def _calibration(calibration):
    """The temperature applied, the one fitted, and the expected calibration error without and with the fitted one,
    per split and corpus."""
    ece = calibration.get("ece") or {}
    applied = calibration["temperature"]
    fitted = calibration.get("fitted", applied)  # metadata before 2026-12-04 records the applied one only
    rows = [[split, corpus, _percent(scores.get("before")), _percent(scores.get("after"))]
            for split in ("test", "val") for corpus, scores in sorted((ece.get(split) or {}).items())]
    fit = (f"fitted on the {calibration.get('fitted_on', 'val')} clips by minimising their negative log-likelihood"
           + (", each corpus weighted equally" if calibration.get("weighting") == "corpus" else ""))
    if applied == fitted:
        about = (f"`predict` scores are temperature-scaled, softmax(log p / T) with T = {applied:.3g}, {fit} "
                 "(accuracy and UAR are unchanged for single-window clips).")
    else:
        about = (f"`predict` scores are not temperature-scaled: T = {fitted:.3g}, {fit}, did not lower their expected "
                 f"calibration error averaged over corpora, so T = {applied:.3g} is kept.")
    about += (f" Expected calibration error (ECE, {calibration.get('bins', MISSING)} equal-width confidence bins, "
              "clip scores), in %:")
    header = ["Split", "Corpus", "ECE at T = 1 %", f"ECE at T = {fitted:.3g} %"]
    return "\n\n".join([about, "\n".join([_row(header), _row(["---"] * 4), *map(_row, rows)])])


def _training_data(data):
    lines = [f"- **Corpora:** {', '.join(data['corpora'])}" if "corpora" in data else "",
             f"- **Split:** {data['split']}" if "split" in data else "",
             f"- **Seed:** {data['seed']}" if "seed" in data else "",
             *(f"- **{part} speakers ({len(speakers)}):** {', '.join(speakers)}"
               for part, speakers in (data.get("speakers") or {}).items())]
    return "\n".join(line for line in lines if line)


def _recipe(recipe):
    config = recipe.get("config")
    language = "json" if str(config).lstrip().startswith("{") else "toml"
    facts = [f"- **{label}:** {recipe[key]}{unit}" for key, label, unit in
             (("hardware", "Hardware", ""), ("wall_time_s", "Wall time", " s"), ("date", "Date", "")) if recipe.get(key)]
    return "\n\n".join(part for part in (
        "```bash\n" + "\n".join(recipe["commands"]) + "\n```" if recipe.get("commands") else "",
        f"Training configuration:\n\n```{language}\n{config.rstrip()}\n```" if config else "",
        "\n".join(facts)) if part)


def _licence(metadata):
    licences = metadata.get("data_licenses") or {}
    restricted = [corpus for corpus, text in licences.items() if "NC" in text or "non-commercial" in text.lower()]
    lines = [f"Model licence: `{metadata.get('license') or 'not stated'}`.", "",
             "The weights inherit the licences of their training data:", "",
             *(f"- {corpus}: {text}" for corpus, text in licences.items())]
    if not licences:
        lines.append("- the training data and its licences are not recorded; check them before any use.")
    if restricted:
        lines += ["", f"{' and '.join(c.upper() for c in restricted)} may be used for non-commercial purposes only, "
                      "so these weights are for **non-commercial use only**."]
    return "\n".join(lines)
