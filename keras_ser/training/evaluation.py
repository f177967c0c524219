"""Clip-level evaluation of a network on one part (train, val or test) of prepared data."""

import numpy as np

from keras_ser.training.metrics import aggregate_windows, classification_metrics


def metrics_by_corpus(labels, predictions, corpora, class_names):
    """`classification_metrics` of all clips, with a `per_corpus` breakdown when they come from several corpora.

    `predictions`: integer labels or (clips, classes) scores.
    """
    labels, predictions, corpora = np.asarray(labels), np.asarray(predictions), np.asarray(corpora)
    result = classification_metrics(labels, predictions, class_names)
    if len(set(corpora.tolist())) > 1:
        result["per_corpus"] = {
            corpus: classification_metrics(labels[corpora == corpus], predictions[corpora == corpus], class_names)
            for corpus in sorted(set(corpora.tolist()))
        }
    return result


def evaluate_part(network, data, part, batch_size):
    """Clip-level metrics of one part: window probabilities averaged per file."""
    x, y = data.arrays(part)
    probabilities = network.predict(x, batch_size=batch_size, verbose=0)
    groups = data.parts[part].item_index[data.parts[part].rows]
    clips, clip_probabilities = aggregate_windows(probabilities, groups, method="mean")
    label_of = dict(zip(groups, y))  # every window of a clip has the clip's label
    clip_labels = np.array([label_of[clip] for clip in clips])
    corpora = [data.parts[part].items[clip].corpus for clip in clips]
    return metrics_by_corpus(clip_labels, clip_probabilities, corpora, data.class_names)
