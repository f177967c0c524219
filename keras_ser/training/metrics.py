"""Classification metrics (accuracy, UAR, F1), paired significance tests, bootstrap intervals and clip-level pooling.

Numpy only. Conventions for classes absent from the true labels (support 0): their
recall and F1 are reported as ``None`` (JSON ``null``) and they are left out of the
UAR and macro-F1 averages, so a test split that lacks a class is scored on the
classes it has. A class that is never predicted has ``None`` precision (0/0); its
F1 is still defined (0.0 when it has support). Note that scikit-learn's macro-F1
instead averages over every label, counting undefined scores as 0.
"""

import numpy as np

AGGREGATION_METHODS = ("mean", "max", "vote")


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts (num_classes, num_classes), int64: rows are true classes, columns predictions.

    `y_pred` may be integer labels or (N, num_classes) probabilities/logits (argmax is taken).
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    true = _as_labels(y_true, "y_true", num_classes)
    pred = _as_labels(y_pred, "y_pred", num_classes)
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} examples but y_pred has {len(pred)}; pass one prediction per label")
    if len(true) == 0:
        raise ValueError("y_true and y_pred are empty: metrics need at least one example")
    counts = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def classification_metrics(y_true, y_pred, class_names):
    """Accuracy, UAR, macro-F1 and per-class scores as a JSON-serialisable dict.

    `y_pred` may be integer labels or (N, num_classes) probabilities/logits.
    See `metrics_from_confusion` for the keys.
    """
    class_names = _as_class_names(class_names)
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, len(class_names)), class_names)


def mean_uar(scores_by_corpus):
    """The mean of the corpora's UARs in a {corpus: metrics} dict, skipping missing ones; None when none has one."""
    uars = [scores["uar"] for scores in scores_by_corpus.values() if scores.get("uar") is not None]
    return float(np.mean(uars)) if uars else None


def metrics_from_confusion(matrix, class_names):
    """The metrics dict of a confusion matrix (rows true, columns predicted).

    Keys: ``accuracy``, ``uar`` (mean recall over classes with support),
    ``macro_f1`` (mean F1 over the same classes), ``recall_per_class``,
    ``precision_per_class``, ``f1_per_class``, ``support_per_class`` (each
    {class name: value}, ``None`` where undefined), ``confusion_matrix`` (nested
    lists), ``class_names`` and ``num_examples``.
    """
    class_names = _as_class_names(class_names)
    matrix = validate_confusion_matrix(matrix, class_names)
    true_positives = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    total = int(matrix.sum())
    present = support > 0

    recall = [int(tp) / int(s) if s else None for tp, s in zip(true_positives, support)]
    precision = [int(tp) / int(p) if p else None for tp, p in zip(true_positives, predicted)]
    # F1 = 2TP / (2TP + FP + FN) = 2TP / (support + predicted); defined wherever the class has support.
    f1 = [2 * int(tp) / int(s + p) if s else None for tp, s, p in zip(true_positives, support, predicted)]

    return {
        "accuracy": int(true_positives.sum()) / total,
        "uar": float(np.mean([r for r, keep in zip(recall, present) if keep])),
        "macro_f1": float(np.mean([f for f, keep in zip(f1, present) if keep])),
        "recall_per_class": dict(zip(class_names, recall)),
        "precision_per_class": dict(zip(class_names, precision)),
        "f1_per_class": dict(zip(class_names, f1)),
        "support_per_class": dict(zip(class_names, (int(s) for s in support))),
        "confusion_matrix": matrix.tolist(),
        "class_names": list(class_names),
        "num_examples": total,
    }


def validate_confusion_matrix(matrix, class_names):
    """`matrix` as an int64 array after checking it is a non-empty square count matrix matching `class_names`."""
    array = np.asarray(matrix)
    num_classes = len(class_names)
    if array.shape != (num_classes, num_classes):
        raise ValueError(
            f"confusion matrix has shape {array.shape} but {num_classes} class names were given; "
            f"expected ({num_classes}, {num_classes})"
        )
    if array.dtype.kind not in "iub" and not (array.dtype.kind == "f" and np.all(array == np.round(array))):
        raise ValueError(f"confusion matrix must hold whole-number counts, got dtype {array.dtype} with fractional values")
    if np.any(array < 0):
        raise ValueError("confusion matrix has negative counts; it must hold example counts")
    if array.sum() == 0:
        raise ValueError("confusion matrix is all zeros: metrics need at least one example")
    return array.astype(np.int64)


def wilcoxon_signed_rank(a, b):
    """Two-sided Wilcoxon signed-rank test of paired results `a` vs `b` (e.g. per-fold UAR).

    Returns {``statistic`` (scipy's min of the positive and negative rank sums),
    ``p_value``, ``n`` (pairs), ``n_nonzero`` (pairs with a non-zero difference;
    zero differences are dropped, scipy's "wilcox" rule), ``mean_difference`` (mean of a - b)}.
    When every difference is zero there is no evidence of a difference: statistic 0.0
    and p-value 1.0 are returned without calling scipy.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"a and b must be 1-D sequences of paired scores, got shapes {a.shape} and {b.shape}")
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} scores but b has {len(b)}; the test needs one pair per run/fold")
    if len(a) == 0:
        raise ValueError("a and b are empty: the test needs at least one pair")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("a and b must be finite; drop the runs with NaN/inf scores first")
    difference = a - b
    n_nonzero = int(np.count_nonzero(difference))
    if n_nonzero == 0:
        statistic, p_value = 0.0, 1.0
    else:
        from scipy import stats  # here, not at the top: importing it costs 0.6 s of every `keras-ser predict`

        result = stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return {
        "statistic": statistic,
        "p_value": p_value,
        "n": len(a),
        "n_nonzero": n_nonzero,
        "mean_difference": float(difference.mean()),
    }


def bootstrap_mean_interval(differences, confidence=0.95, resamples=10_000, seed=0):
    """Percentile bootstrap interval [low, high] of the mean of paired differences (e.g. per-run Δ UAR).

    `resamples` means of `len(differences)` differences drawn with replacement (numpy's
    `default_rng(seed)`, so the interval is reproducible); low and high are their
    (1 - confidence) / 2 and (1 + confidence) / 2 quantiles.
    """
    differences = np.asarray(differences, dtype=np.float64)
    if differences.ndim != 1 or differences.size == 0:
        raise ValueError(f"differences must be a non-empty 1-D sequence, got shape {differences.shape}")
    if not np.all(np.isfinite(differences)):
        raise ValueError("differences must be finite; drop the runs with NaN/inf scores first")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, exclusive, got {confidence!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}")
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, differences.size, size=(resamples, differences.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return [float(low), float(high)]


def aggregate_windows(probabilities, groups, method="mean"):
    """Pool per-window outputs (N, C) into one row per group (e.g. per clip).

    `groups` holds one group id per window. Methods: "mean" (average over the
    group's windows), "max" (per-class maximum; rows need not sum to 1, take the
    argmax for the clip's class), "vote" (share of the group's windows whose argmax
    is each class). Returns (unique_groups sorted as `np.unique` sorts them, float64 (G, C)).
    """
    if method not in AGGREGATION_METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; choose one of {AGGREGATION_METHODS}")
    probabilities = np.asarray(probabilities, dtype=np.float64)
    groups = np.asarray(groups)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0 or probabilities.shape[1] == 0:
        raise ValueError(f"probabilities must have shape (windows, classes) with both > 0, got {probabilities.shape}")
    if groups.ndim != 1 or len(groups) != len(probabilities):
        raise ValueError(
            f"groups must be 1-D with one id per window: got shape {groups.shape} for {len(probabilities)} windows"
        )
    if not np.all(np.isfinite(probabilities)):
        raise ValueError("probabilities contain NaN or inf")
    unique_groups, index = np.unique(groups, return_inverse=True)
    num_groups, num_classes = len(unique_groups), probabilities.shape[1]
    if method == "max":
        pooled = np.full((num_groups, num_classes), -np.inf)
        np.maximum.at(pooled, index, probabilities)
        return unique_groups, pooled
    if method == "vote":
        probabilities = np.eye(num_classes)[probabilities.argmax(axis=1)]
    pooled = np.zeros((num_groups, num_classes))
    np.add.at(pooled, index, probabilities)
    return unique_groups, pooled / np.bincount(index, minlength=num_groups)[:, None]


def _as_class_names(class_names):
    names = [str(name) for name in class_names]
    if not names:
        raise ValueError("class_names is empty; pass one name per class")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"class_names has duplicates {duplicates}; each class needs a distinct name")
    return names


def _as_labels(y, name, num_classes):
    """Integer labels from 1-D labels or (N, num_classes) scores, checked against the class range."""
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] != num_classes:
            raise ValueError(f"{name} has {y.shape[1]} score columns but there are {num_classes} classes")
        if y.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        return y.argmax(axis=1).astype(np.int64)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D labels or (N, {num_classes}) scores, got shape {y.shape}")
    if y.size == 0:
        return np.zeros(0, dtype=np.int64)
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype} with non-integer values")
    labels = y.astype(np.int64)
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise ValueError(
            f"{name} has labels {sorted(set(bad.tolist()))[:10]} outside 0..{num_classes - 1} ({num_classes} classes)"
        )
    return labels
