"""The eGeMAPS + linear reference baseline: features, C selection, runs and the CLI."""

import csv
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the eGeMAPS baseline needs the [baselines] extra")
pytest.importorskip("opensmile", reason="the eGeMAPS baseline needs the [baselines] extra")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, recall_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, GroupKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from keras_ser.baselines import EGeMAPSFrontEnd, LinearBaseline, egemaps_features, standardize  # noqa: E402
from keras_ser.cli import main  # noqa: E402
from keras_ser.datasets import load_corpus  # noqa: E402
from keras_ser.training import ConfigError, config_from_dict, load_config  # noqa: E402
from keras_ser.training.baseline import PREDICTIONS_FILE  # noqa: E402
from keras_ser.training.data import split_items  # noqa: E402

# A slow module: its tests run beside the others, in the one child process of the slow modules (tests/conftest.py).
pytestmark = pytest.mark.isolated(group="slow_modules")

# openSMILE itself, in a process without TensorFlow (which it cannot share a process with).
OPENSMILE_REFERENCE = textwrap.dedent("""
    import json, sys
    import opensmile
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    print(json.dumps([smile.process_file(path).to_numpy()[0].tolist() for path in sys.argv[1:]]))
""")


def test_features_of_real_clips_match_opensmile_and_are_cached(data_root, tmp_path):
    items = load_corpus("emodb")[:3]
    features = egemaps_features(items, "emodb", cache_dir=tmp_path, progress=False)
    reference = subprocess.run([sys.executable, "-c", OPENSMILE_REFERENCE, *(str(i.path) for i in items)],
                               capture_output=True, text=True, check=True)
    assert features.features.shape == (3, 88)
    np.testing.assert_allclose(features.array(), np.array(json.loads(reference.stdout)), rtol=1e-4, atol=1e-4)
    cached = egemaps_features(items, "emodb", cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.iterdir())) == 1  # one cache entry, read back the second time
    np.testing.assert_array_equal(cached.array(), features.array())


def test_an_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio\n")
    with pytest.raises(ValueError, match="notes.wav"):
        EGeMAPSFrontEnd().features(bad)


def test_standardize_uses_each_groups_own_statistics():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(5, 2, (10, 3)), rng.normal(-3, 0.5, (6, 3))])
    groups = np.array(["a"] * 10 + ["b"] * 6)
    out = standardize(x, groups)
    for group in ("a", "b"):
        rows = x[groups == group]
        np.testing.assert_allclose(out[groups == group], (rows - rows.mean(0)) / rows.std(0))


def _synthetic(seed):
    """Rows of 8 speakers, 3 classes, 20 features of which 2 carry the class, with speaker offsets."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat(np.arange(8), 30)
    y = rng.integers(0, 3, len(speakers))
    x = rng.normal(0, 1, (len(speakers), 20)) + rng.normal(0, 1.5, (8, 20))[speakers]
    x[:, :2] += np.eye(3)[y][:, :2] * rng.uniform(0.3, 1.5)
    return x, y, speakers


def _sklearn_c(x, y, groups, grid, folds=5):
    search = GridSearchCV(make_pipeline(StandardScaler(), LinearSVC(class_weight="balanced", max_iter=20000)),
                          {"linearsvc__C": grid}, scoring="balanced_accuracy", cv=GroupKFold(folds))
    return search.fit(x, y, groups=groups).best_params_["linearsvc__C"]


def test_c_is_chosen_on_the_rows_given_like_sklearns_grouped_search():
    grid = [1e-3, 1e-2, 1e-1, 1.0]
    # A case where it matters: the test speakers (6, 7) would change the chosen C if C selection saw them.
    for seed in range(40):
        x, y, speakers = _synthetic(seed)
        train = speakers < 6
        c_train = _sklearn_c(x[train], y[train], speakers[train], grid)
        if c_train != _sklearn_c(x, y, speakers, grid):
            break
    else:
        pytest.fail("no synthetic case found where the test speakers change the chosen C")
    baseline = LinearBaseline(c_grid=grid).fit(x[train], y[train], speakers[train])
    assert baseline.chosen_c == c_train
    assert set(baseline.cv_uar) == set(grid)


def test_logistic_probabilities_are_sklearns_with_a_column_per_class():
    x, y, speakers = _synthetic(1)
    keep = y != 1  # class 1 absent from the training rows
    baseline = LinearBaseline(classifier="logistic", c_grid=[0.1]).fit(x[keep], y[keep], speakers[keep])
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000))
    expected = reference.fit(x[keep], y[keep]).predict_proba(x)
    probabilities = baseline.probabilities(x, 4)
    np.testing.assert_allclose(probabilities[:, [0, 2]], expected, rtol=1e-6, atol=1e-9)
    assert not probabilities[:, [1, 3]].any()
    np.testing.assert_array_equal(probabilities.argmax(1), baseline.predict(x))
    with pytest.raises(ValueError, match="class probabilities need classifier='logistic'; a 'svm' gives none"):
        LinearBaseline().fit(x, y, speakers).probabilities(x, 3)
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearBaseline(classifier="logistic").probabilities(x, 3)


def test_one_training_speaker_is_refused():
    x, y, _ = _synthetic(0)
    with pytest.raises(ValueError, match="2 or more training speakers"):
        LinearBaseline().fit(x, y, np.zeros(len(y)))


@pytest.mark.parametrize(("options", "message"), [
    ({"classifier": "forest"}, "classifier must be one of svm, logistic"),
    ({"standardization": "utterance"}, "standardization must be one of global, corpus, speaker"),
    ({"c_grid": [0.1, -1]}, "c_grid must be a non-empty list of positive numbers"),
    ({"cv_folds": 1}, "cv_folds must be an integer of at least 2"),
    ({"kernel": "rbf"}, "takes no option 'kernel'"),
])
def test_bad_baseline_options_name_the_key(options, message):
    with pytest.raises(ConfigError, match="model.options") as error:
        config_from_dict({"data": {"corpora": ["emodb"]}, "model": {"builder": "egemaps", "options": options}})
    assert message in str(error.value)


def test_network_settings_are_refused_for_the_baseline():
    with pytest.raises(ConfigError, match="data.features"):
        config_from_dict({"data": {"features": "rhemo", "rhemo_model": "x"}, "model": {"builder": "egemaps"}})
    with pytest.raises(ConfigError, match="strategy.kind"):
        config_from_dict({"model": {"builder": "egemaps"},
                          "strategy": {"kind": "anti_transfer", "orthogonal": ["runs/speaker"]}})


def test_cli_runs_the_baseline_on_a_tiny_real_config(tmp_path, data_root, capsys, monkeypatch):
    config = tmp_path / "tiny.toml"
    config.write_text(textwrap.dedent("""
        name = "tiny"
        [data]
        corpora = ["emodb"]
        max_items = 70
        fractions = [0.6, 0.2, 0.2]
        [model]
        builder = "a2"
    """))
    fits = []
    original_fit = LinearBaseline.fit
    monkeypatch.setattr(LinearBaseline, "fit", lambda self, x, y, groups: fits.append(set(groups)) or
                        original_fit(self, x, y, groups))
    run_dir = tmp_path / "run"
    main(["baseline", str(config), "--run-dir", str(run_dir)])
    assert f"-> {run_dir}" in capsys.readouterr().out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with (run_dir / PREDICTIONS_FILE).open() as handle:
        rows = list(csv.DictReader(handle))
    names = metrics["test"]["class_names"]
    test = [row for row in rows if row["part"] == "test"]
    true = [names.index(row["label"]) for row in test]
    guess = [names.index(row["predicted"]) for row in test]
    present = sorted(set(true))
    assert metrics["test"]["accuracy"] == pytest.approx(accuracy_score(true, guess))
    assert metrics["test"]["uar"] == pytest.approx(balanced_accuracy_score(true, guess))
    assert metrics["test"]["macro_f1"] == pytest.approx(f1_score(true, guess, labels=present, average="macro"))
    recalls = recall_score(true, guess, labels=present, average=None)
    assert [metrics["test"]["recall_per_class"][names[c]] for c in present] == pytest.approx(recalls)
    assert metrics["test"]["confusion_matrix"] == confusion_matrix(true, guess, labels=range(len(names))).tolist()

    # C was chosen on the training speakers alone, and the predictions are scikit-learn's with that C.
    parts = split_items(load_config(config).data).parts
    assert fits == [{f"emodb:{item.speaker}" for item in parts["train"]}]
    assert fits[0].isdisjoint({f"emodb:{row['speaker']}" for row in test})
    every = sorted((item for part in parts.values() for item in part), key=lambda item: str(item.path))
    cached = egemaps_features(every, "emodb", progress=False)  # the run's cache entry
    row_of = {item.path: row for row, item in zip(cached.item_index, cached.items)}
    features = {part: cached.features[[row_of[item.path] for item in parts[part]]] for part in ("train", "test")}
    labels = [names.index(item.canonical) for item in parts["train"]]
    model = make_pipeline(StandardScaler(), LinearSVC(C=metrics["baseline"]["chosen_c"], class_weight="balanced",
                                                      max_iter=20000)).fit(features["train"], labels)
    assert [str(item.path) for item in parts["test"]] == [row["path"] for row in test]
    assert model.predict(features["test"]).tolist() == guess
