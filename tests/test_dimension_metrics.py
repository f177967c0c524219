"""Presets from RH-emo runs: clip-level scores of the valence / arousal / dominance heads, and their card tables."""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_ser.datasets import VAD_TABLE, load_corpus
from keras_ser.hub.card import card_text, check_metadata, read_metadata
from keras_ser.models.rhemo.architecture import VAD_HEADS
from keras_ser.presets import AudioPreprocessor, PresetError, SERClassifier, load, save_preset
from keras_ser.presets.files import CARD_FILE
from keras_ser.presets.from_run import _evaluated

# _evaluated fits the temperature on four validation clips
pytestmark = pytest.mark.filterwarnings("ignore:the fitted temperature .* is at the edge:UserWarning")

CLASSES = ["neutral", "angry", "happy", "sad", "other"]
# EmoDB clips of the four classes (08b03Tc has two windows) and RAVDESS actor 1's neutral, happy, sad and angry.
EMODB_TEST = ["03a01Nc", "03a01Wa", "03a01Fa", "03a02Ta", "08b03Tc"]
EMODB_VAL = ["11b03Wb", "13b03Fd", "16b03Nb", "08b02Tc"]
RAVDESS_TEST = ["03-01-01-01-01-01-01", "03-01-03-01-01-01-01", "03-01-04-01-01-01-01", "03-01-05-01-01-01-01"]
# An angry EmoDB clip given IEMOCAP-style ratings (1-5), whose targets then differ from VAD_TABLE's (0, 1, 1).
RATINGS, RATED_TARGETS = {"valence": 4.2, "arousal": 1.8, "dominance": 3.0}, (1, 0, 1)
SECTION = "### Valence, arousal and dominance"
ZOO = Path(__file__).resolve().parents[1] / "zoo"


def clips(corpus_root, corpus, names):
    found = {item.path.stem: item for item in load_corpus(corpus, root=corpus_root(corpus))}
    return [found[name] for name in names]


def evaluated(model, folder, parts):
    save_preset(model, folder, metadata={"license": "other", "recipe": {}}, half_precision=False)
    return _evaluated(folder, parts, progress=False)


@pytest.fixture(scope="module")
def rhemo_preset(corpus_root, tmp_path_factory):
    """A tiny RH-emo preset with all four heads, evaluated on real clips: (metadata, folder, parts)."""
    keras.utils.set_random_seed(0)
    model = SERClassifier(CLASSES, rhemo={"variant": "full", "head_units": 8, "heads": ["emotion", *VAD_HEADS]},
                          preprocessor=AudioPreprocessor(normalizer={"kind": "max", "maximum": 40.0}), name="tiny")
    rng = np.random.default_rng(0)
    for head in VAD_HEADS:  # untrained heads answer 0.5 ± 1e-3; larger first-layer weights spread their answers
        layer = model.scorer.get_layer(f"rhemo_{head}_head")
        layer.set_weights([rng.normal(0, 30, weights.shape) if i == 0 else weights
                           for i, weights in enumerate(layer.get_weights())])
    emodb = clips(corpus_root, "emodb", [*EMODB_TEST, *EMODB_VAL, "09b03Nb", "10b03Wb"])
    unlabelled = dataclasses.replace(emodb[-2], emotion="other", canonical="other")  # binary_vad: None
    rated = dataclasses.replace(emodb[-1], **RATINGS)
    parts = {"test": [*emodb[:5], unlabelled, rated, *clips(corpus_root, "ravdess", RAVDESS_TEST)],
             "val": [*emodb[5:9], unlabelled]}
    folder = tmp_path_factory.mktemp("dimensions") / "tiny"
    return evaluated(model, folder, parts), folder, parts


def expected_scores(preset, items):
    """{corpus: {head: scores}} computed clip by clip from the preset's window outputs, with numpy."""
    answers = {}  # corpus -> head -> [(target, predicted high)]
    for item in items:
        target = RATED_TARGETS if item.valence is not None else VAD_TABLE.get(item.canonical)
        if target is None:
            continue
        outputs = preset.score_windows(preset.preprocessor.windows(preset.preprocessor.load(item.path)))
        for head, truth in zip(VAD_HEADS, target):
            probability = float(np.mean(outputs[head]))
            assert abs(probability - 0.5) > 1e-4, "a clip this close to the threshold makes the test fragile"
            answers.setdefault(item.corpus, {}).setdefault(head, []).append((truth, int(probability > 0.5)))
    scores = {}
    for corpus, heads in answers.items():
        for head, pairs in heads.items():
            truth, predicted = np.array(pairs).T
            recalls = [np.mean(predicted[truth == c] == c) for c in (0, 1) if np.any(truth == c)]
            scores.setdefault(corpus, {})[head] = {
                "accuracy": np.mean(predicted == truth), "uar": np.mean(recalls),
                "majority_rate": max(np.mean(truth == 1), np.mean(truth == 0)), "clips": len(truth)}
    return scores


def test_dimension_metrics_are_the_clip_means_thresholded_against_binary_targets(rhemo_preset):
    metadata, folder, parts = rhemo_preset
    preset = load(str(folder))
    measured = metadata["dimension_metrics"]
    assert list(measured) == ["test", "val"]
    for part, items in parts.items():
        expected = expected_scores(preset, items)
        assert sorted(measured[part]) == sorted(expected)
        for corpus, heads in expected.items():
            assert list(measured[part][corpus]) == list(VAD_HEADS)
            for head, scores in heads.items():
                assert measured[part][corpus][head] == pytest.approx(scores), (part, corpus, head)
    uars = [scores["uar"] for heads in measured["test"].values() for scores in heads.values()]
    assert any(uar not in (0, 0.5, 1) for uar in uars), "no head answers both low and high: a weak comparison"
    assert read_metadata(folder)["dimension_metrics"] == measured


def test_clips_without_targets_are_left_out_of_the_dimensions_only(rhemo_preset):
    metadata, _, _ = rhemo_preset
    # test: 5 EmoDB clips of the four classes + the rated clip; the one labelled "other" has no V/A/D targets
    assert {head: scores["clips"] for head, scores in metadata["dimension_metrics"]["test"]["emodb"].items()} == {
        head: 6 for head in VAD_HEADS}
    assert metadata["dimension_metrics"]["test"]["ravdess"]["valence"]["clips"] == 4
    assert metadata["dimension_metrics"]["val"]["emodb"]["arousal"]["clips"] == 4
    assert metadata["metrics"]["test"]["emodb"]["clips"] == 7  # the emotion output is scored on all of them
    assert metadata["metrics"]["val"]["emodb"]["clips"] == 5


def test_a_model_without_dimension_heads_records_none(corpus_root, tmp_path):
    keras.utils.set_random_seed(0)
    model = SERClassifier(CLASSES[:4], network={"builder": "compact_cnn", "variant": "real",
                                                "options": {"filters": [4, 8]}},
                          preprocessor=AudioPreprocessor(normalizer={"kind": "max", "maximum": 40.0}), name="plain")
    emodb = clips(corpus_root, "emodb", EMODB_TEST[:3] + EMODB_VAL[:3])
    metadata = evaluated(model, tmp_path / "plain", {"test": emodb[:3], "val": emodb[3:]})
    assert "dimension_metrics" not in metadata and metadata["metrics"]["test"]["emodb"]["clips"] == 3
    assert SECTION not in (tmp_path / "plain" / CARD_FILE).read_text()


def test_the_card_has_a_table_per_split_and_is_unchanged_without_them(rhemo_preset):
    metadata, folder, _ = rhemo_preset
    text = card_text(metadata)
    assert (folder / CARD_FILE).read_text() == text
    section = text[text.index(SECTION):text.index("## Calibration")]
    assert "`keras_ser.datasets.VAD_TABLE`" in section and "function of the emotion label" in section
    assert section.index("Test split:") < section.index("Validation split:")
    assert "| Corpus | Head | Accuracy % | UAR % | Majority % | Clips |" in section
    for part, title in (("test", "Test split:"), ("val", "Validation split:")):
        table = section.split(title)[1].split("split:")[0]
        for corpus, heads in metadata["dimension_metrics"][part].items():
            for head, s in heads.items():
                cells = [f"{100 * s[key]:.1f}" for key in ("accuracy", "uar", "majority_rate")]
                assert f"| {corpus} | {head} | {' | '.join(cells)} | {s['clips']} |" in table
    without = {key: value for key, value in metadata.items() if key != "dimension_metrics"}
    assert card_text(without) == text.replace(section, "")
    assert card_text({**without, "dimension_metrics": {"test": {}, "val": {}}}) == card_text(without)  # no clips


def test_zoo_cards_without_dimension_metrics_render_as_committed():
    folders = [folder for folder in sorted(ZOO.iterdir()) if (folder / CARD_FILE).is_file()]
    assert folders
    for folder in folders:
        metadata = read_metadata(folder)
        if "dimension_metrics" not in metadata:
            assert card_text(metadata) == (folder / CARD_FILE).read_text(), folder.name


@pytest.mark.parametrize("dimension_metrics, message", [
    ([], "dimension_metrics is \\[\\], not a mapping"),
    ({"test": {"emodb": {"valence": {"accuracy": 61, "uar": 0.5, "majority_rate": 0.5, "clips": 3}}}},
     "dimension_metrics test emodb valence: accuracy is 61, not a number from 0 to 1"),
    ({"test": {"emodb": {"valence": {"accuracy": 0.6, "uar": 0.5, "clips": 3}}}},
     "valence: majority_rate is None"),
    ({"val": {"emodb": {"arousal": {"accuracy": 0.6, "uar": 0.5, "majority_rate": 0.5, "clips": 0}}}},
     "dimension_metrics val emodb arousal: clips is 0, not a positive whole number"),
    ({"test": {"emodb": []}}, "dimension_metrics test emodb is \\[\\], not a mapping"),
])
def test_malformed_dimension_metrics_are_named(dimension_metrics, message):
    metadata = {"name": "tiny", "class_names": CLASSES, "metrics": {"test": {}}, "license": "other"}
    check_metadata(metadata, "tiny")  # older presets have none
    with pytest.raises(PresetError, match=message):
        check_metadata({**metadata, "dimension_metrics": dimension_metrics}, "tiny")
