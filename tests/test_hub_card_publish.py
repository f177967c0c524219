"""Model cards built from metadata.json, MODEL_CARDS.md, and what `publish` sends to the Hugging Face Hub."""

import copy
import hashlib
import json
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

from keras_ser.cli import main
from keras_ser.hub.card import card_text, model_card, write_card, zoo_model_cards
from keras_ser.hub.comparison import add_comparison, scores_from_json
from keras_ser.hub.publish import publish
from keras_ser.presets.files import PresetError, verify_weights

WEIGHTS = b"\x89HDF fake weights"
METADATA = {
    "name": "rhemo-qvgg16",
    "description": "RH-emo embeddings + quaternion VGG16, 4 emotions",
    "architecture": "RH-emo encoder + quaternion VGG16",
    "class_names": ["neutral", "angry", "happy", "sad"],
    "outputs": ["emotion", "valence", "arousal", "dominance"],
    "parameters": {"total": 10123456, "trainable": 10000000},
    "training_data": {"corpora": ["ravdess", "emodb", "tess"], "split": "per corpus, speaker-independent",
                      "split_kind": "per_corpus",
                      "speakers": {"train": ["ravdess:01", "emodb:03"], "val": ["ravdess:02"], "test": ["ravdess:04"]},
                      "seed": 0},
    "metrics": {"test": {"ravdess": {"accuracy": 0.61, "uar": 0.58, "macro_f1": 0.57, "clips": 112},
                         "emodb": {"accuracy": 0.812, "uar": 0.795, "macro_f1": 0.80, "clips": 90},
                         "tess": {"accuracy": 0.99, "uar": 0.985, "macro_f1": 0.98, "clips": 160}},
                "val": {"ravdess": {"accuracy": 0.55, "uar": 0.54, "macro_f1": 0.53, "clips": 96}}},
    "recipe": {"commands": ["keras-ser rhemo ravdess emodb tess", "keras-ser train zoo/recipes/rhemo-qvgg16.toml"],
               "config": "[model]\n# quaternion backbone\nname = \"qvgg16\"\n", "hardware": "2-core CPU",
               "wall_time_s": 1234.5, "date": "2026-11-24"},
    "license": "cc-by-nc-sa-4.0",
    "data_licenses": {"ravdess": "CC BY-NC-SA 4.0", "emodb": "free for research use", "tess": "CC BY-NC-ND 4.0"},
    "versions": {"keras": "3.15.1", "keras_ser": "0.1.0", "backend": "tensorflow"},
    "created": "2026-11-24",
}


class RecordingHubApi:
    """Stands in for huggingface_hub.HfApi at the network boundary: records each call, fails on request."""

    def __init__(self, readme_on_hub=False, fail=None):
        self.readme_on_hub, self.fail, self.calls = readme_on_hub, fail or {}, []

    def _record(self, method, **kwargs):
        self.calls.append((method, kwargs))
        if method in self.fail:
            raise self.fail[method]

    def create_repo(self, repo_id, **kwargs):
        self._record("create_repo", repo_id=repo_id, **kwargs)
        return f"https://huggingface.co/{repo_id}"

    def file_exists(self, repo_id, filename, **kwargs):
        self._record("file_exists", repo_id=repo_id, filename=filename, **kwargs)
        return self.readme_on_hub and filename == "README.md"

    def upload_folder(self, **kwargs):
        self._record("upload_folder", **kwargs)
        # What the Hub would receive: every file of the folder not matched by ignore_patterns.
        ignored = set(kwargs.get("ignore_patterns") or [])
        folder = Path(kwargs["folder_path"])
        self.uploaded = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name not in ignored}


def make_preset(folder, metadata=METADATA, card=True):
    """A preset folder on disk with dummy config/weights and metadata listing the weights' real sha256."""
    folder.mkdir(parents=True)
    metadata = copy.deepcopy(metadata)
    (folder / "model.weights.h5").write_bytes(WEIGHTS)
    metadata["weights"] = {"model.weights.h5": {"sha256": hashlib.sha256(WEIGHTS).hexdigest(), "bytes": len(WEIGHTS),
                                                "dtype": "float16"}}
    for name in ("config.json", "preprocessor.json"):
        (folder / name).write_text("{}")
    (folder / "metadata.json").write_text(json.dumps(metadata))
    if card:
        (folder / "README.md").write_text("local card\n")
    return folder


def http_error(status):
    # HfHubHTTPError wraps a response of the HTTP library huggingface_hub uses (its HTTPError's module).
    http = sys.modules[HfHubHTTPError.__mro__[1].__module__]
    response = http.Response(status, request=http.Request("POST", "https://huggingface.co/api/repos/create"))
    return HfHubHTTPError(f"{status} Client Error: Unauthorized", response=response)


def test_card_front_matter_matches_metadata():
    card = ModelCard(card_text(METADATA))
    data = card.data
    assert data.library_name == "keras_ser" and data.pipeline_tag == "audio-classification"
    assert data.license == "cc-by-nc-sa-4.0" and data.model_name == "rhemo-qvgg16"
    assert data.datasets == ["ravdess", "emodb", "tess"]
    assert {"keras", "keras-ser", "speech-emotion-recognition", "quaternion", "rh-emo"} <= set(data.tags)
    results = {(r.dataset_name, r.metric_type): r for r in data.eval_results}
    expected = {(c, t): s[k] for c, s in METADATA["metrics"]["test"].items() for k, t in (("accuracy", "accuracy"), ("uar", "recall"))}
    assert {key: r.metric_value for key, r in results.items()} == expected
    assert all(r.task_type == "audio-classification" and r.dataset_split == "test" and r.dataset_type == r.dataset_name
               for r in data.eval_results)
    assert "UAR" in results["tess", "recall"].metric_name


def test_card_body_sections():
    body = model_card(METADATA).text
    assert 'model = keras_ser.load("rhemo-qvgg16")' in body and 'model.predict_file("clip.wav")' in body
    assert "keras-ser predict clip.wav --model rhemo-qvgg16" in body
    assert "neutral, angry, happy, sad" in body and "emotion, valence, arousal, dominance" in body
    assert "| test | ravdess | 112 | 61.0 | 58.0 | 57.0 |" in body
    assert "| test | emodb | 90 | 81.2 | 79.5 | 80.0 |" in body
    assert "| val | ravdess | 96 | 55.0 | 54.0 | 53.0 |" in body
    assert "speaker-independent" in body and "never seen in training" in body
    assert "10,123,456 in total, 10,000,000 trainable" in body
    assert "ravdess:01, emodb:03" in body
    assert "```toml\n[model]\n# quaternion backbone\nname = \"qvgg16\"\n```" in body
    assert "keras-ser train zoo/recipes/rhemo-qvgg16.toml" in body and "1234.5 s" in body and "2-core CPU" in body
    assert "keras 3.15.1, keras_ser 0.1.0, backend tensorflow" in body
    licence = body.split("## Licence")[1]
    assert "inherit the licences of their training data" in licence
    assert "- tess: CC BY-NC-ND 4.0" in licence and "- emodb: free for research use" in licence
    assert "RAVDESS and TESS" in licence and "non-commercial use only" in licence


def _with_split(split_kind, metadata=METADATA):
    """`metadata` trained on a split of `split_kind` (None: one recorded before split kinds were)."""
    training_data = {k: v for k, v in metadata["training_data"].items() if k != "split_kind"}
    return {**metadata, "training_data": {**training_data, **({"split_kind": split_kind} if split_kind else {})}}


def test_card_claims_speaker_independence_only_for_speaker_independent_splits():
    from keras_ser.training.config import SPLITS

    claims = {kind: model_card(_with_split(kind)).text.split("## Results")[1].split("\n|")[0]
              for kind in (*SPLITS, None)}
    for kind in set(SPLITS) - {"random"}:
        assert "Test results are speaker-independent: the test speakers are never seen in training" in claims[kind], (
            f"{kind!r}: a new split kind? Say in keras_ser.hub.card what its cards may claim")
    assert "NOT speaker-independent:** the same speakers appear in training and test; these figures overstate " \
           "accuracy on new voices." in claims["random"]
    assert "never seen in training" not in claims["random"]
    assert "speaker-independent" not in claims[None] and "UAR is the unweighted average recall" in claims[None]


def test_zoo_overview_claims_speaker_independence_only_when_every_model_has_it(tmp_path):
    claim = "Test scores are speaker-independent (test speakers never seen in training)"
    make_preset(tmp_path / "a")
    assert claim in zoo_model_cards(tmp_path)
    make_preset(tmp_path / "b", {**_with_split("random"), "name": "b"})
    text = zoo_model_cards(tmp_path)
    assert claim not in text and "Not every model's test speakers are new to it" in text
    assert "NOT speaker-independent" in text.split("## b")[1]


def test_card_renders_minimal_metadata_without_optional_sections():
    minimal = {"name": "mine", "class_names": ["calm", "upset"], "metrics": {}, "license": "mit"}
    card = model_card(minimal)
    assert card.data.eval_results is None and card.data.license == "mit"
    for absent in ("## Recipe", "## Weights", "## Training data", "non-commercial"):
        assert absent not in card.text
    assert "No evaluation results recorded." in card.text and "## Licence" in card.text


def test_write_card_and_missing_required_key(tmp_path):
    folder = make_preset(tmp_path / "p", card=False)
    write_card(folder)
    card = ModelCard.load(folder / "README.md")
    assert card.data.model_name == "rhemo-qvgg16"
    assert f"| model.weights.h5 | float16 | {len(WEIGHTS)} | `{hashlib.sha256(WEIGHTS).hexdigest()}` |" in card.text
    broken = make_preset(tmp_path / "q", {k: v for k, v in METADATA.items() if k != "license"})
    with pytest.raises(ValueError, match=r"q/metadata.json' has no 'license'"):
        write_card(broken)


def test_publish_sends_folder_and_card_when_hub_has_no_readme(tmp_path):
    folder = make_preset(tmp_path / "rhemo-qvgg16", card=False)
    api = RecordingHubApi()
    url = publish(folder, "me/rhemo-qvgg16", private=True, api=api)
    assert url == "https://huggingface.co/me/rhemo-qvgg16"
    assert [method for method, _ in api.calls] == ["create_repo", "file_exists", "upload_folder"]
    assert api.calls[0][1] == {"repo_id": "me/rhemo-qvgg16", "repo_type": "model", "private": True, "exist_ok": True}
    upload = api.calls[2][1]
    assert upload["repo_id"] == "me/rhemo-qvgg16" and upload["repo_type"] == "model"
    assert upload["folder_path"] == str(folder) and upload["ignore_patterns"] is None
    assert "rhemo-qvgg16" in upload["commit_message"]
    assert sorted(api.uploaded) == ["README.md", "config.json", "metadata.json", "model.weights.h5", "preprocessor.json"]
    card = ModelCard(api.uploaded["README.md"].decode())
    assert card.data.library_name == "keras_ser" and card.data.license == "cc-by-nc-sa-4.0"
    assert {r.metric_value for r in card.data.eval_results if r.dataset_name == "emodb"} == {0.812, 0.795}


def test_publish_keeps_readme_already_on_hub(tmp_path):
    folder = make_preset(tmp_path / "p")
    api = RecordingHubApi(readme_on_hub=True)
    publish(folder, "me/p", commit_message="v2", api=api)
    upload = api.calls[-1][1]
    assert upload["ignore_patterns"] == ["README.md"] and upload["commit_message"] == "v2"
    assert "README.md" not in api.uploaded and api.calls[0][1]["private"] is False


def test_publish_uploads_existing_local_card(tmp_path):
    api = RecordingHubApi()
    publish(make_preset(tmp_path / "p"), "me/p", api=api)
    assert api.uploaded["README.md"] == b"local card\n"


@pytest.mark.parametrize("missing", ["config.json", "model.weights.h5"])
def test_publish_refuses_incomplete_folder(tmp_path, missing):
    folder = make_preset(tmp_path / "p")
    (folder / missing).unlink()
    api = RecordingHubApi()
    with pytest.raises(ValueError, match=rf"{missing} missing.*keras_ser.hub.save_preset\(model"):
        publish(folder, "me/p", api=api)
    assert api.calls == []


def test_publish_refuses_bad_checksum_and_missing_metadata_key(tmp_path):
    folder = make_preset(tmp_path / "p")
    (folder / "model.weights.h5").write_bytes(WEIGHTS[::-1])
    api = RecordingHubApi()
    with pytest.raises(ValueError, match=r"cannot publish.*model.weights.h5' fails its checksum"):
        publish(folder, "me/p", api=api)
    no_metrics = make_preset(tmp_path / "q", {k: v for k, v in METADATA.items() if k != "metrics"})
    with pytest.raises(ValueError, match=r"q/metadata.json' has no 'metrics'"):
        publish(no_metrics, "me/q", api=api)
    assert api.calls == []


@pytest.mark.parametrize("method, error, action", [
    ("create_repo", OfflineModeIsEnabled("offline mode is enabled"), "creating the model repository 'me/p'"),
    ("upload_folder", http_error(401), "uploading .* to 'me/p'"),
])
def test_publish_wraps_hub_errors(tmp_path, method, error, action):
    api = RecordingHubApi(fail={method: error})
    with pytest.raises(RuntimeError, match=rf"{action} on the Hugging Face Hub failed.*hf auth login.*HF_HUB_OFFLINE"):
        publish(make_preset(tmp_path / "p"), "me/p", api=api)


def test_zoo_model_cards_overview_is_sorted_and_deterministic(tmp_path):
    small = {**METADATA, "name": "a-small", "architecture": "quaternion AlexNet", "parameters": {"total": 1000},
             "metrics": {"test": {"ravdess": {"accuracy": 0.5, "uar": 0.4}, "emodb": {"accuracy": 0.7, "uar": 0.6}}}}
    make_preset(tmp_path / "zz-big")
    make_preset(tmp_path / "small", small)
    (tmp_path / "recipes").mkdir()
    text = zoo_model_cards(tmp_path)
    assert text == zoo_model_cards(tmp_path)
    assert "`keras-ser model-cards --write MODEL_CARDS.md`" in text and "do not edit by hand" in text
    assert "---\nlibrary_name" not in text
    assert "| Model | Architecture | Parameters | Mean test UAR | emodb | ravdess | tess |" in text
    assert "| [a-small](#a-small) | quaternion AlexNet | 1,000 | 50.0 | 70.0 / 60.0 | 50.0 / 40.0 | – / – |" in text
    mean = 100 * (0.58 + 0.795 + 0.985) / 3
    assert f"| [rhemo-qvgg16](#rhemo-qvgg16) | RH-emo encoder + quaternion VGG16 | 10,123,456 | {mean:.1f} | 81.2 / 79.5 |" in text
    assert text.index("## a-small") < text.index("## rhemo-qvgg16") and "### Licence" in text


def test_data_notes_appear_under_the_results_and_in_the_zoo_overview(tmp_path):
    noted = {**METADATA, "data_notes": {"emodb": "cut to 2 s"}}
    assert "- **emodb:** cut to 2 s" in model_card(noted).text.split("## Results")[1]
    assert "About the data" not in model_card(METADATA).text
    make_preset(tmp_path / "a", noted)
    make_preset(tmp_path / "b", {**METADATA, "name": "b"})
    assert f"- **emodb** ({METADATA['name']}): cut to 2 s" in zoo_model_cards(tmp_path)


THIS = {"label": "this model", "scores": {"emodb": {"accuracy": 0.75, "uar": 0.7}, "ravdess": {"accuracy": 0.5, "uar": 0.4}}}
EGEMAPS = {"label": "eGeMAPS + SVM", "scores": {"tess": {"accuracy": 0.99, "uar": 0.985},
                                                "emodb": {"accuracy": 0.812, "uar": 0.795}}}
SAME_SPEAKERS = {"title": "Same test speakers", "note": "The eGeMAPS reference on this model's test speakers.",
                 "rows": [THIS, EGEMAPS]}
LOCO = {"title": "Leave one corpus out", "rows": [{"label": "recipe", "scores": {"nemo": {"accuracy": 0.4, "uar": 0.38}}}]}


def test_comparisons_render_after_the_results_with_union_columns_missing_cells_and_row_means():
    body = model_card({**METADATA, "comparisons": [SAME_SPEAKERS, LOCO]}).text
    # Means over each row's own corpora: (0.7 + 0.4) / 2 = 55.0 %, (0.985 + 0.795) / 2 = 89.0 %.
    expected = """## Comparisons

Cells are accuracy / UAR in %; a row's mean UAR is over the corpora it has scores for.

### Same test speakers

The eGeMAPS reference on this model's test speakers.

| Model | emodb | ravdess | tess | Mean UAR |
| --- | --- | --- | --- | --- |
| this model | 75.0 / 70.0 | 50.0 / 40.0 | – | 55.0 |
| eGeMAPS + SVM | 81.2 / 79.5 | – | 99.0 / 98.5 | 89.0 |

### Leave one corpus out

| Model | nemo | Mean UAR |
| --- | --- | --- |
| recipe | 40.0 / 38.0 | 38.0 |

## Parameters"""
    assert expected in body
    assert body.index("## Results") < body.index("## Comparisons")
    assert card_text({**METADATA, "comparisons": []}) == card_text(METADATA) and "Comparisons" not in card_text(METADATA)


def test_zoo_cards_carry_comparisons_but_the_overview_does_not(tmp_path):
    for zoo, comparisons in (("with", [LOCO]), ("without", [])):
        make_preset(tmp_path / zoo / "a", {**METADATA, "name": "a", "comparisons": comparisons})
        make_preset(tmp_path / zoo / "b", {**METADATA, "name": "b"})
    with_table, without = zoo_model_cards(tmp_path / "with"), zoo_model_cards(tmp_path / "without")
    assert "### Comparisons" in with_table.split("## b")[0] and "#### Leave one corpus out" in with_table
    assert with_table.split("\n## ")[0] == without.split("\n## ")[0] and "Comparisons" not in without


def _metadata_bytes(folder):
    return (folder / "metadata.json").read_bytes()


def test_add_comparison_appends_replaces_by_title_and_leaves_the_weights_alone(tmp_path):
    folder = make_preset(tmp_path / "p")
    digest = hashlib.sha256((folder / "model.weights.h5").read_bytes()).hexdigest()
    add_comparison(folder, "Same test speakers", [THIS])
    add_comparison(folder, LOCO["title"], LOCO["rows"])
    table = add_comparison(folder, "Same test speakers", [THIS, EGEMAPS], note=SAME_SPEAKERS["note"])
    assert table == SAME_SPEAKERS
    metadata = json.loads(_metadata_bytes(folder))
    assert metadata["comparisons"] == [SAME_SPEAKERS, LOCO]
    assert {k: v for k, v in metadata.items() if k not in ("comparisons", "weights")} == METADATA
    assert "| eGeMAPS + SVM | 81.2 / 79.5 | – | 99.0 / 98.5 | 89.0 |" in (folder / "README.md").read_text()
    assert hashlib.sha256((folder / "model.weights.h5").read_bytes()).hexdigest() == digest
    assert metadata["weights"]["model.weights.h5"]["sha256"] == digest
    verify_weights(folder, metadata)  # the check keras_ser.load makes before loading
    before = _metadata_bytes(folder)
    with pytest.raises(PresetError, match=r"p/metadata.json' already has a comparison titled 'Leave one corpus out'"):
        add_comparison(folder, LOCO["title"], [THIS], replace=False)
    assert _metadata_bytes(folder) == before


def _row(label="x", **scores):
    return {"label": label, "scores": scores}


@pytest.mark.parametrize("title, rows, message", [
    ("", [THIS], "comparison table 1 has no title"),
    ("T", [], "comparison 'T' has no rows"),
    ("T", [THIS, {"scores": THIS["scores"]}], "a row of comparison 'T' has no label"),
    ("T", [_row()], "row 'x' of comparison 'T' has no scores"),
    ("T", [_row(emodb={"accuracy": 0.5, "uar": 61})], "row 'x' of comparison 'T': emodb uar is 61, not a number from 0 to 1"),
    ("T", [_row(tess={"accuracy": "0.5", "uar": 0.5})], "row 'x' of comparison 'T': tess accuracy is '0.5', not a number"),
    ("T", [_row(tess={"accuracy": 0.5})], "row 'x' of comparison 'T': tess uar is None, not a number"),
    ("T", [_row(tess={"accuracy": -0.1, "uar": 0.5})], "row 'x' of comparison 'T': tess accuracy is -0.1, not a number"),
])
def test_malformed_comparisons_are_refused_naming_the_table_and_row(tmp_path, title, rows, message):
    folder = make_preset(tmp_path / "p")
    before = _metadata_bytes(folder)
    with pytest.raises(PresetError, match=rf"p/metadata.json': {message}"):
        add_comparison(folder, title, rows)
    assert _metadata_bytes(folder) == before
    with pytest.raises(PresetError, match=rf"the preset metadata: {message}"):
        model_card({**METADATA, "comparisons": [{"title": title, "rows": rows}]})


def test_comparisons_must_be_a_list_of_tables_with_text_notes():
    with pytest.raises(PresetError, match="'comparisons' is a list of tables, not dict"):
        model_card({**METADATA, "comparisons": SAME_SPEAKERS})
    with pytest.raises(PresetError, match="the note of comparison 'Leave one corpus out' is not text"):
        model_card({**METADATA, "comparisons": [{**LOCO, "note": ["a", "b"]}]})


def _write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


def _metrics(accuracy, uar, **per_corpus):
    """classification_metrics' shape, cut down; per_corpus: corpus -> (accuracy, uar)."""
    metrics = {"accuracy": accuracy, "uar": uar, "macro_f1": uar, "num_examples": 10, "class_names": ["a", "b"]}
    if per_corpus:
        metrics["per_corpus"] = {corpus: {"accuracy": a, "uar": u, "macro_f1": u, "num_examples": 5}
                                 for corpus, (a, u) in per_corpus.items()}
    return metrics


def _run_metrics(folder, test, config=None):
    """A training run's metrics.json (and config.toml): test and val parts, epochs, wall time."""
    if config:
        _write_json(folder / "metrics.json", {}).with_name("config.toml").write_text(config)
    return _write_json(folder / "metrics.json", {"test": test, "val": _metrics(0.1, 0.1, emodb=(0.1, 0.1)),
                                                 "best_epoch": 3, "epochs_run": 7, "wall_time_s": 12.5})


def test_scores_from_json_reads_run_metrics_and_evaluate_outputs(tmp_path):
    run = _run_metrics(tmp_path / "run", _metrics(0.6, 0.5, emodb=(0.7, 0.65), tess=(0.5, 0.45)))
    assert scores_from_json(run) == {"emodb": {"accuracy": 0.7, "uar": 0.65}, "tess": {"accuracy": 0.5, "uar": 0.45}}
    evaluated = _write_json(tmp_path / "plain.json", _metrics(0.6, 0.5, emodb=(0.8, 0.75), nemo=(0.4, 0.35)))
    assert scores_from_json(evaluated) == {"emodb": {"accuracy": 0.8, "uar": 0.75}, "nemo": {"accuracy": 0.4, "uar": 0.35}}
    one = _write_json(tmp_path / "adapted.tess.json", _metrics(0.9, 0.85, tess=(0.9, 0.85)))
    assert {**scores_from_json(evaluated), **scores_from_json(one)}["tess"] == {"accuracy": 0.9, "uar": 0.85}


def test_scores_from_json_names_the_corpus_of_a_run_tested_on_one(tmp_path):
    loco = _run_metrics(tmp_path / "test_corpus=nemo", _metrics(0.4, 0.38),
                        '[data]\ncorpora = ["emodb", "nemo"]\nsplit = "leave_corpus_out"\ntest_corpus = "nemo"\n')
    assert scores_from_json(loco) == {"nemo": {"accuracy": 0.4, "uar": 0.38}}
    single = _run_metrics(tmp_path / "emodb", _metrics(0.7, 0.6), '[data]\ncorpora = ["emodb"]\nsplit = "speaker"\n')
    assert scores_from_json(single) == {"emodb": {"accuracy": 0.7, "uar": 0.6}}
    mixed = _run_metrics(tmp_path / "mixed", _metrics(0.7, 0.6), '[data]\ncorpora = ["emodb", "tess"]\nsplit = "speaker"\n')
    for path in (mixed, _run_metrics(tmp_path / "no-config", _metrics(0.7, 0.6)), _write_json(tmp_path / "list.json", [])):
        with pytest.raises(ValueError, match=rf"'{path}' holds no per-corpus scores"):
            scores_from_json(path)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json' is not valid JSON"):
        scores_from_json(tmp_path / "bad.json")


def test_compare_command_merges_files_per_row_and_writes_the_card(tmp_path, capsys):
    folder = make_preset(tmp_path / "p")
    run = _run_metrics(tmp_path / "runs" / "builder=egemaps,standardization=global",
                       _metrics(0.6, 0.5, emodb=(0.812, 0.795), tess=(0.99, 0.985)))
    plain = _write_json(tmp_path / "plain.json", _metrics(0.6, 0.5, emodb=(0.1, 0.1), ravdess=(0.5, 0.4)))
    adapted = _write_json(tmp_path / "adapted.emodb.json", _metrics(0.75, 0.7, emodb=(0.75, 0.7)))
    code = main(["compare", str(folder), "--title", SAME_SPEAKERS["title"], "--note", SAME_SPEAKERS["note"],
                 "--row", f"this model={plain},{adapted}", "--row", f"eGeMAPS + SVM={run}"])
    assert code == 0
    assert json.loads(_metadata_bytes(folder))["comparisons"] == [
        {**SAME_SPEAKERS, "rows": [{"label": "this model", "scores": {"emodb": THIS["scores"]["emodb"],
                                                                      "ravdess": THIS["scores"]["ravdess"]}},
                                   {"label": "eGeMAPS + SVM", "scores": {"emodb": EGEMAPS["scores"]["emodb"],
                                                                         "tess": EGEMAPS["scores"]["tess"]}}]}]
    out = capsys.readouterr().out
    assert "| Model | emodb | ravdess | tess | Mean UAR |\n" in out and "| this model | 75.0 / 70.0 | 50.0 / 40.0 | – | 55.0 |" in out
    assert "| this model | 75.0 / 70.0 | 50.0 / 40.0 | – | 55.0 |" in (folder / "README.md").read_text()


@pytest.mark.parametrize("row, message", [
    ("this model", "expected LABEL=FILE"),
    ("this model=", "expected LABEL=FILE"),
    ("this model={tmp}/plain.json,{tmp}/gone.json", "[Errno 2] No such file or directory: '{tmp}/gone.json'"),
    ("this model={tmp}/overall.json", "'{tmp}/overall.json' holds no per-corpus scores"),
])
def test_compare_command_names_a_bad_row(tmp_path, capsys, row, message):
    folder = make_preset(tmp_path / "p")
    _write_json(tmp_path / "plain.json", _metrics(0.6, 0.5, emodb=(0.1, 0.1)))
    _write_json(tmp_path / "overall.json", _metrics(0.6, 0.5))
    before = _metadata_bytes(folder)
    row = row.format(tmp=tmp_path)
    assert main(["compare", str(folder), "--title", "T", "--row", f"a={tmp_path}/plain.json", "--row", row]) == 2
    assert f"keras-ser compare: error: --row '{row}': {message.format(tmp=tmp_path)}" in capsys.readouterr().err
    assert _metadata_bytes(folder) == before
