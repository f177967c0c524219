"""PNG plots of results: confusion matrices, training histories, per-layer and paired scores and differences.

Figures are built with `matplotlib.figure.Figure` on an Agg canvas, so nothing is
registered with pyplot and no display is needed.
"""

import re
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from keras_ser.training.metrics import validate_confusion_matrix

LAYER_PLOT_KINDS = ("bar", "box")
_DPI = 120
# A confusion matrix grows with its classes up to this side (inches); beyond ANNOTATED_CLASSES its cells are too
# small to print numbers in, so colours alone show it and about LABELLED_CLASSES of the class names are shown.
# (A text task's 300 classes made a 230-inch figure, which took over 14 GB.)
MAX_MATRIX_SIDE = 24.0
ANNOTATED_CLASSES = 30
LABELLED_CLASSES = 60


def plot_confusion_matrix(matrix, class_names, path, normalize=True, title=None):
    """Write a confusion-matrix heat map (rows true, columns predicted) to `path`; returns the path.

    With `normalize`, colours and labels are the percentage of each true class
    (rows with no examples stay 0) and each cell also shows its count. Beyond ANNOTATED_CLASSES classes the
    cells carry no numbers, and every k-th class name is shown so that at most LABELLED_CLASSES are.
    """
    class_names = [str(name) for name in class_names]
    counts = validate_confusion_matrix(matrix, class_names)
    num_classes = len(class_names)
    if normalize:
        support = counts.sum(axis=1, keepdims=True)
        values = np.divide(100.0 * counts, support, out=np.zeros(counts.shape), where=support > 0)
        vmax, colour_label = 100.0, "% of true class"
    else:
        values = counts.astype(np.float64)
        vmax, colour_label = max(float(values.max()), 1.0), "examples"

    side = min(2.5 + 0.75 * num_classes, MAX_MATRIX_SIDE)
    figure = _figure((side + 1.2, side))
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax)
    figure.colorbar(image, ax=axes, label=colour_label)
    font_size = max(6, 11 - num_classes // 3)
    for row in range(num_classes if num_classes <= ANNOTATED_CLASSES else 0):
        for column in range(num_classes):
            text = f"{values[row, column]:.1f}%\n({counts[row, column]})" if normalize else str(counts[row, column])
            colour = "white" if values[row, column] > 0.6 * vmax else "black"
            axes.text(column, row, text, ha="center", va="center", color=colour, fontsize=font_size)
    shown = range(0, num_classes, -(-num_classes // LABELLED_CLASSES))
    names = [class_names[i] for i in shown]
    axes.set_xticks(shown, names, rotation=45, ha="right", rotation_mode="anchor", fontsize=min(10, font_size))
    axes.set_yticks(shown, names, fontsize=min(10, font_size))
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if title is None:
        title = "Confusion matrix" + (" (row-normalised)" if normalize else "")
    axes.set_title(title)
    return _save(figure, path)


def plot_history(history, path_prefix, kept_epoch=None):
    """Write one PNG per metric of a Keras `History.history` dict; returns the paths.

    Each metric ``m`` gets ``<path_prefix>_<m>.png`` with its training curve and,
    when present, ``val_<m>`` on the same axes; epochs count from 1. `kept_epoch`
    (0-based, as early stopping reports it) is marked by a dashed vertical line.
    """
    if not history:
        raise ValueError("history is empty; pass `model.fit(...).history`")
    if kept_epoch is not None:
        epochs = max(np.size(values) for values in history.values())
        if not 0 <= kept_epoch < epochs:
            raise ValueError(f"kept_epoch must be in [0, {epochs}) for a history of {epochs} epochs, got {kept_epoch}")
    families = []
    for key in history:
        family = key[len("val_"):] if key.startswith("val_") else key
        if family not in families:
            families.append(family)

    paths = []
    for family in families:
        figure = _figure((6.0, 4.0))
        axes = figure.add_subplot()
        for key, label in ((family, "train"), (f"val_{family}", "validation")):
            if key not in history:
                continue
            values = np.asarray(history[key], dtype=np.float64)
            if values.ndim != 1 or values.size == 0:
                raise ValueError(f"history[{key!r}] must be a non-empty list of per-epoch numbers, got shape {values.shape}")
            marker = "o" if values.size <= 30 else None
            axes.plot(np.arange(1, values.size + 1), values, marker=marker, markersize=3, label=label)
        if kept_epoch is not None:
            axes.axvline(kept_epoch + 1, color="grey", linestyle="--", linewidth=1, gid="kept epoch",
                         label=f"kept: epoch {kept_epoch + 1}")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("epoch")
        axes.set_ylabel(family)
        axes.set_title(family)
        axes.grid(alpha=0.3)
        axes.legend()
        safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", family)
        paths.append(_save(figure, f"{path_prefix}_{safe_name}.png"))
    return paths


def plot_layer_scores(scores, path, kind="bar", baseline=None, title=None, ylabel="validation UAR"):
    """Write a per-layer plot of scores (e.g. validation UAR per anti-transfer layer); returns the path.

    `scores` maps layer -> list of run scores. "bar": mean with standard-deviation
    error bars and the single runs as dots; "box": box plots. `baseline`, when
    given, is drawn as a dashed horizontal line and the bars rise or fall from it
    (the per-layer improvement of thesis Fig. 5.6). Numeric layers are sorted.
    """
    if kind not in LAYER_PLOT_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {LAYER_PLOT_KINDS}")
    if not scores:
        raise ValueError("scores is empty; pass a mapping layer -> list of scores")
    layers = list(scores)
    if all(isinstance(layer, (int, float, np.integer, np.floating)) for layer in layers):
        layers.sort()
    runs = []
    for layer in layers:
        values = np.asarray(scores[layer], dtype=np.float64).reshape(-1)
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"scores for layer {layer!r} must be a non-empty list of finite numbers")
        runs.append(values)

    figure = _figure((max(5.0, 0.6 * len(layers) + 2.0), 4.0))
    axes = figure.add_subplot()
    positions = np.arange(len(layers))
    if kind == "bar":
        means = [values.mean() for values in runs]
        spreads = [values.std(ddof=1) if values.size > 1 else 0.0 for values in runs]
        bottom = 0.0 if baseline is None else float(baseline)
        heights = np.asarray(means) - bottom
        axes.bar(positions, heights, bottom=bottom, yerr=spreads, capsize=3, color="tab:blue", alpha=0.7, label="mean ± std")
        for position, values in zip(positions, runs):
            axes.plot(np.full(values.size, position), values, "k.", markersize=4)
    else:
        axes.boxplot(runs, positions=positions)
    if baseline is not None:
        axes.axhline(float(baseline), color="tab:red", linestyle="--", label="baseline")
    if kind == "bar" or baseline is not None:
        axes.legend()
    axes.set_xticks(positions, [str(layer) for layer in layers])
    axes.set_xlabel("layer")
    axes.set_ylabel(ylabel)
    axes.set_title(title or f"{ylabel} per layer")
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def plot_paired_scores(conditions, path, title=None, ylabel="test UAR"):
    """Write the scores of paired runs under each condition (e.g. folds × seeds); returns the path.

    `conditions` maps a condition's label -> {pair key (e.g. "0,1" for seed 0, fold 1): score}.
    Each pair key is a grey line through the conditions it has a score in, so a
    difference that holds pair by pair stands out; each condition's mean ± std is in red.
    """
    if not conditions:
        raise ValueError("conditions is empty; pass a mapping label -> {pair key: score}")
    for label, scores in conditions.items():
        values = np.asarray(list(scores.values()), dtype=np.float64)
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"scores of condition {label!r} must be a non-empty mapping to finite numbers")
    labels = list(conditions)
    figure = _figure((max(5.0, 1.6 * len(labels) + 1.5), 4.5))
    axes = figure.add_subplot()
    positions = np.arange(len(labels))
    for key in dict.fromkeys(key for scores in conditions.values() for key in scores):
        present = [(x, conditions[label][key]) for x, label in zip(positions, labels) if key in conditions[label]]
        axes.plot(*zip(*present), color="0.6", marker=".", linewidth=0.8, gid=f"pair {key}")
    means = [np.mean(list(conditions[label].values())) for label in labels]
    spreads = [np.std(list(conditions[label].values())) for label in labels]
    axes.errorbar(positions, means, yerr=spreads, fmt="D", color="tab:red", capsize=4, label="mean ± std", zorder=3)
    axes.set_xticks(positions, [textwrap.fill(str(label), 22) for label in labels], fontsize=8)
    axes.set_xlim(-0.5, len(labels) - 0.5)
    axes.set_ylabel(ylabel)
    axes.set_title(title or f"{ylabel}, paired runs")
    axes.grid(axis="y", alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_paired_differences(differences, path, intervals=None, title=None, ylabel="Δ test UAR", groups=None):
    """Write the paired differences of each comparison (b − a, one dot per pair of runs); returns the path.

    `differences` maps a comparison's label -> {pair key: difference} (or a list of differences);
    `intervals`, when given, maps labels to the [low, high] interval of the mean drawn around it
    (e.g. `bootstrap_mean_interval`); `groups`, when given, maps labels to each difference's group (e.g. its
    held-out corpus), and each group gets its own colour, named in a legend. Each comparison's mean is a red
    diamond; 0 is a dashed line.
    """
    if not differences:
        raise ValueError("differences is empty; pass a mapping label -> {pair key: difference}")
    intervals, groups = intervals or {}, groups or {}
    labels, columns = list(differences), []
    for label in labels:
        values = differences[label]
        values = np.asarray(list(values.values()) if isinstance(values, dict) else values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"differences of {label!r} must be a non-empty collection of finite numbers")
        if label in groups and len(groups[label]) != values.size:
            raise ValueError(f"groups of {label!r} name {len(groups[label])} groups for {values.size} differences")
        columns.append(values)
    for name, given in (("intervals", intervals), ("groups", groups)):
        unknown = sorted(set(given) - set(labels), key=str)
        if unknown:
            raise ValueError(f"{name} for unknown comparisons {unknown}; known: {labels}")
    colours = {group: f"C{i % 10}" for i, group in enumerate(dict.fromkeys(g for gs in groups.values() for g in gs))}
    figure = _figure((max(5.0, 1.6 * len(labels) + 1.5), 4.5))
    axes = figure.add_subplot()
    axes.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
    in_legend = set()
    for position, (label, values) in enumerate(zip(labels, columns)):
        spread = np.linspace(-0.12, 0.12, values.size) if values.size > 1 else np.zeros(1)
        if label in groups:
            for group, colour in colours.items():
                chosen = np.array([g == group for g in groups[label]])
                if chosen.any():
                    axes.plot(position + spread[chosen], values[chosen], ".", color=colour, markersize=7, alpha=0.8,
                              gid=f"pairs {label} {group}", label=None if group in in_legend else group)
                    in_legend.add(group)
        else:
            axes.plot(position + spread, values, "k.", markersize=5, alpha=0.7, gid=f"pairs {label}")
        mean = values.mean()
        if label in intervals:
            low, high = (float(v) for v in intervals[label])
            axes.errorbar([position + 0.25], [mean], yerr=[[mean - low], [high - mean]], fmt="D", color="tab:red",
                          capsize=4, gid=f"interval {label}")
        else:
            axes.plot([position + 0.25], [mean], "D", color="tab:red")
    axes.set_xticks(range(len(labels)), [textwrap.fill(str(label), 22) for label in labels], fontsize=8)
    axes.set_xlim(-0.5, len(labels) - 0.5)
    axes.set_ylabel(ylabel)
    title = title or f"{ylabel}, paired runs (red: mean" + (" and interval)" if intervals else ")")
    axes.set_title(textwrap.fill(title, int(10 * figure.get_figwidth())), fontsize=10)  # wrapped to the figure
    axes.grid(axis="y", alpha=0.3)
    if colours:
        axes.legend(fontsize=8, loc="best")
    return _save(figure, path)


def _figure(size):
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI)
    return path
