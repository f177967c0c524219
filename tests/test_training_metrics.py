"""Metrics, significance test, window pooling and plots of keras_ser.training."""

import itertools
import json

import matplotlib.image
import matplotlib.pyplot
import numpy as np
import pytest

from keras_ser.training.metrics import (
    aggregate_windows,
    classification_metrics,
    confusion_matrix,
    mean_uar,
    metrics_from_confusion,
    wilcoxon_signed_rank,
)
from keras_ser.training.plots import plot_confusion_matrix, plot_history, plot_layer_scores, plot_paired_scores

MATRIX = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
NAMES = ["angry", "happy", "sad"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def labels_of(matrix):
    """(y_true, y_pred) pairs realising a confusion matrix, in a shuffled order."""
    pairs = [(t, p) for t in range(len(matrix)) for p in range(len(matrix)) for _ in range(matrix[t][p])]
    pairs = np.array(pairs)[np.random.default_rng(0).permutation(len(pairs))]
    return pairs[:, 0], pairs[:, 1]


def test_confusion_matrix_counts_pairs():
    y_true, y_pred = labels_of(MATRIX)
    result = confusion_matrix(y_true, y_pred, 3)
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result, MATRIX)
    # Orientation: rows are true classes, columns predictions.
    np.testing.assert_array_equal(confusion_matrix([0], [2], 3), [[0, 0, 1], [0, 0, 0], [0, 0, 0]])


def test_metrics_match_hand_computation():
    # Row sums (support) 6, 6, 4; column sums (predicted) 7, 4, 5; diagonal 5, 3, 4; total 16.
    recall = [5 / 6, 3 / 6, 4 / 4]
    precision = [5 / 7, 3 / 4, 4 / 5]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall)]
    y_true, y_pred = labels_of(MATRIX)

    result = classification_metrics(y_true, y_pred, NAMES)

    assert result["accuracy"] == pytest.approx(12 / 16)
    assert result["uar"] == pytest.approx((5 / 6 + 3 / 6 + 1.0) / 3)
    assert result["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert result["recall_per_class"] == pytest.approx(dict(zip(NAMES, recall)))
    assert result["precision_per_class"] == pytest.approx(dict(zip(NAMES, precision)))
    assert result["f1_per_class"] == pytest.approx(dict(zip(NAMES, f1)))
    assert result["support_per_class"] == {"angry": 6, "happy": 6, "sad": 4}
    assert result["confusion_matrix"] == MATRIX.tolist()
    assert result["class_names"] == NAMES
    assert result["num_examples"] == 16
    assert result == metrics_from_confusion(MATRIX, NAMES)
    assert json.loads(json.dumps(result)) == result


def test_absent_class_is_null_and_left_out_of_averages():
    # "happy" never occurs in y_true but is predicted once; "sad" is never predicted.
    matrix = np.array([[3, 1, 0], [0, 0, 0], [1, 0, 0]])
    result = metrics_from_confusion(matrix, NAMES)

    assert result["recall_per_class"] == {"angry": 0.75, "happy": None, "sad": 0.0}
    assert result["f1_per_class"]["happy"] is None
    assert result["precision_per_class"] == {"angry": 0.75, "happy": 0.0, "sad": None}
    f1_angry = 2 * 0.75 * 0.75 / 1.5
    assert result["uar"] == pytest.approx((0.75 + 0.0) / 2)
    assert result["macro_f1"] == pytest.approx((f1_angry + 0.0) / 2)
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert json.loads(json.dumps(result))["recall_per_class"]["happy"] is None


def test_probabilities_and_logits_are_argmaxed():
    y_true, y_pred = labels_of(MATRIX)
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(len(y_pred), 3))
    logits[np.arange(len(y_pred)), y_pred] += 10.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    expected = classification_metrics(y_true, y_pred, NAMES)
    assert classification_metrics(y_true, logits, NAMES) == expected
    assert classification_metrics(y_true, probabilities.astype(np.float32), NAMES) == expected


@pytest.mark.parametrize(
    ("y_true", "y_pred", "names", "match"),
    [
        ([0, 1], [0], NAMES, "y_true has 2 examples but y_pred has 1"),
        ([], [], NAMES, "empty"),
        ([0, 3], [0, 1], NAMES, r"y_true has labels \[3\] outside 0..2"),
        ([0, 1], [-1, 1], NAMES, r"y_pred has labels \[-1\] outside 0..2"),
        ([0, 1], np.zeros((2, 4)), NAMES, "y_pred has 4 score columns but there are 3 classes"),
        ([0.5, 1], [0, 1], NAMES, "y_true must hold integer class labels"),
        ([0, 1], [0, 1], [], "class_names is empty"),
        ([0, 1], [0, 1], ["a", "b", "a"], r"duplicates \['a'\]"),
    ],
)
def test_classification_metrics_rejects_bad_input(y_true, y_pred, names, match):
    with pytest.raises(ValueError, match=match):
        classification_metrics(y_true, y_pred, names)


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        (np.ones((2, 2)), r"shape \(2, 2\) but 3 class names"),
        (-np.eye(3), "negative counts"),
        (np.full((3, 3), 0.5), "whole-number counts"),
        (np.zeros((3, 3)), "all zeros"),
    ],
)
def test_metrics_from_confusion_rejects_bad_matrix(matrix, match):
    with pytest.raises(ValueError, match=match):
        metrics_from_confusion(matrix, NAMES)


def exact_two_sided_p(differences):
    """Exact Wilcoxon p-value by enumerating every sign assignment of the ranks (no ties, no zeros)."""
    magnitudes = np.abs(differences)
    ranks = np.argsort(np.argsort(magnitudes)) + 1.0
    negative_sum = ranks[differences < 0].sum()
    observed = min(negative_sum, ranks.sum() - negative_sum)
    sums = [ranks[list(signs)].sum() for signs in itertools.product([False, True], repeat=len(ranks))]
    sums = np.array(sums)
    extreme = np.minimum(sums, ranks.sum() - sums) <= observed
    return observed, extreme.mean()


def test_wilcoxon_matches_enumerated_exact_test():
    a = np.array([10.0, 7.0, 12.0, 15.0, 9.0, 20.0])
    b = np.array([7.0, 8.0, 8.0, 9.0, 4.0, 18.0])
    # Differences 3, -1, 4, 6, 5, 2 -> ranks 3, 1, 4, 6, 5, 2; negative rank sum 1.
    statistic, p_value = exact_two_sided_p(a - b)
    assert statistic == 1.0
    assert p_value == pytest.approx(4 / 64)

    result = wilcoxon_signed_rank(a, b)
    assert result["statistic"] == pytest.approx(statistic)
    assert result["p_value"] == pytest.approx(p_value)
    assert result["n"] == 6 and result["n_nonzero"] == 6
    assert result["mean_difference"] == pytest.approx(19 / 6)


def test_wilcoxon_drops_zero_differences_and_handles_all_zero():
    a = np.array([10.0, 7.0, 12.0, 15.0, 9.0, 20.0, 3.0])
    b = np.array([7.0, 8.0, 8.0, 9.0, 4.0, 18.0, 3.0])
    statistic, p_value = exact_two_sided_p((a - b)[:6])
    result = wilcoxon_signed_rank(a, b)
    assert result["p_value"] == pytest.approx(p_value)
    assert result["statistic"] == pytest.approx(statistic)
    assert result["n"] == 7 and result["n_nonzero"] == 6

    same = wilcoxon_signed_rank([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert same == {"statistic": 0.0, "p_value": 1.0, "n": 3, "n_nonzero": 0, "mean_difference": 0.0}


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        ([1.0, 2.0], [1.0], "a has 2 scores but b has 1"),
        ([], [], "empty"),
        ([1.0, np.nan], [1.0, 2.0], "finite"),
        ([[1.0]], [[2.0]], "1-D"),
    ],
)
def test_wilcoxon_rejects_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        wilcoxon_signed_rank(a, b)


def test_aggregate_windows_matches_numpy():
    rng = np.random.default_rng(2)
    probabilities = rng.dirichlet(np.ones(4), size=9)
    groups = np.array(["c", "a", "c", "b", "a", "c", "b", "b", "c"])

    for method in ("mean", "max", "vote"):
        unique, pooled = aggregate_windows(probabilities, groups, method)
        np.testing.assert_array_equal(unique, ["a", "b", "c"])
        for row, group in enumerate(unique):
            members = probabilities[groups == group]
            if method == "mean":
                expected = members.mean(axis=0)
            elif method == "max":
                expected = members.max(axis=0)
            else:
                expected = np.bincount(members.argmax(axis=1), minlength=4) / len(members)
            np.testing.assert_allclose(pooled[row], expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("probabilities", "groups", "method", "match"),
    [
        (np.ones((2, 3)), [0, 1], "median", "unknown aggregation method 'median'"),
        (np.ones(3), [0, 1, 2], "mean", r"shape \(windows, classes\)"),
        (np.ones((3, 2)), [0, 1], "mean", "one id per window"),
        (np.full((2, 2), np.nan), [0, 1], "mean", "NaN"),
    ],
)
def test_aggregate_windows_rejects_bad_input(probabilities, groups, method, match):
    with pytest.raises(ValueError, match=match):
        aggregate_windows(probabilities, groups, method)


def assert_png(path, min_width=200, min_height=200):
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_SIGNATURE
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= min_width and height >= min_height
    assert matplotlib.pyplot.get_fignums() == []


def test_plot_confusion_matrix_writes_png(tmp_path):
    for normalize in (True, False):
        path = plot_confusion_matrix(MATRIX, NAMES, tmp_path / "plots" / f"cm_{normalize}.png", normalize=normalize)
        assert path == tmp_path / "plots" / f"cm_{normalize}.png"
        assert_png(path)
    with pytest.raises(ValueError, match="2 class names"):
        plot_confusion_matrix(MATRIX, NAMES[:2], tmp_path / "bad.png")


def test_a_confusion_matrix_of_hundreds_of_classes_stays_a_bounded_figure(tmp_path):
    from keras_ser.training.plots import MAX_MATRIX_SIDE, _DPI

    classes = 300  # a text task's words and sentences: the figure once grew to 230 inches and over 14 GB
    matrix = np.diag(np.arange(1, classes + 1)) + 1
    path = plot_confusion_matrix(matrix, [f"word {i}" for i in range(classes)], tmp_path / "cm.png")
    assert_png(path)
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height <= MAX_MATRIX_SIDE * _DPI and width <= (MAX_MATRIX_SIDE + 1.2) * _DPI


def test_plot_history_writes_one_png_per_metric(tmp_path, monkeypatch):
    import keras_ser.training.plots as plots

    history = {
        "loss": [1.2, 0.9, 0.7],
        "accuracy": [0.4, 0.5, 0.6],
        "at_loss": [0.3, 0.2, 0.1],
        "val_loss": [1.3, 1.0, 0.9],
        "val_accuracy": [0.35, 0.45, 0.5],
        "val_uar": [0.3, 0.4, 0.45],
    }
    figures, save = [], plots._save
    monkeypatch.setattr(plots, "_save", lambda figure, path: figures.append(figure) or save(figure, path))
    paths = plot_history(history, tmp_path / "run", kept_epoch=1)
    names = [path.name for path in paths]
    assert names == ["run_loss.png", "run_accuracy.png", "run_at_loss.png", "run_uar.png"]
    for path, figure in zip(paths, figures):
        assert_png(path)
        (axes,) = figure.axes
        (kept,) = [line for line in axes.lines if line.get_gid() == "kept epoch"]
        assert list(kept.get_xdata()) == [2, 2] and kept.get_label() == "kept: epoch 2"  # epochs count from 1
        assert "kept: epoch 2" in [text.get_text() for text in axes.get_legend().get_texts()]
    with pytest.raises(ValueError, match=r"kept_epoch must be in \[0, 3\) for a history of 3 epochs, got 3"):
        plot_history(history, tmp_path / "run", kept_epoch=3)
    with pytest.raises(ValueError, match="history is empty"):
        plot_history({}, tmp_path / "run")
    with pytest.raises(ValueError, match=r"history\['loss'\] must be a non-empty list"):
        plot_history({"loss": []}, tmp_path / "run")


def test_plot_layer_scores_writes_png(tmp_path):
    scores = {5: [0.55, 0.57, 0.56], 1: [0.50, 0.52], 13: [0.54]}
    for kind in ("bar", "box"):
        path = plot_layer_scores(scores, tmp_path / f"layers_{kind}.png", kind=kind, baseline=0.51)
        assert_png(path)
    with pytest.raises(ValueError, match="unknown kind 'pie'"):
        plot_layer_scores(scores, tmp_path / "bad.png", kind="pie")
    with pytest.raises(ValueError, match="layer 5 must be a non-empty list"):
        plot_layer_scores({5: []}, tmp_path / "bad.png")


def test_plot_paired_scores_joins_each_pair_across_conditions(tmp_path, monkeypatch):
    import keras_ser.training.plots as plots

    conditions = {"baseline": {"0,0": 0.70, "0,1": 0.60, "1,0": 0.65},
                  "dual AT": {"0,0": 0.75, "0,1": 0.66, "1,0": 0.64}, "one run": {"0,1": 0.5}}
    drawn, save = {}, plots._save

    def keep_figure(figure, path):
        drawn["figure"] = figure
        return save(figure, path)

    monkeypatch.setattr(plots, "_save", keep_figure)
    assert_png(plot_paired_scores(conditions, tmp_path / "paired.png"))
    (axes,) = drawn["figure"].axes
    lines = {line.get_gid(): line for line in axes.lines if line.get_gid()}
    assert set(lines) == {"pair 0,0", "pair 0,1", "pair 1,0"}
    np.testing.assert_allclose(lines["pair 0,1"].get_ydata(), [0.60, 0.66, 0.5])
    np.testing.assert_allclose(lines["pair 1,0"].get_xdata(), [0, 1])
    with pytest.raises(ValueError, match="conditions is empty"):
        plot_paired_scores({}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="condition 'dual AT' must be a non-empty mapping to finite numbers"):
        plot_paired_scores({"dual AT": {"0,0": float("nan")}}, tmp_path / "bad.png")


def test_mean_uar_averages_the_corpora_that_have_a_uar():
    scores = {"emodb": {"uar": 0.6, "accuracy": 0.7}, "tess": {"uar": 0.9}, "nemo": {"uar": None}, "ravdess": {}}
    assert mean_uar(scores) == pytest.approx((0.6 + 0.9) / 2)
    assert mean_uar({"emodb": {"uar": 0.0}}) == 0.0
    assert mean_uar({}) is None and mean_uar({"nemo": {"uar": None}}) is None
