"""Clip-level evaluation of a network on one part (train, val or test) of prepared data."""

import numpy as np

from keras_ser.training.metrics import aggregate_windows, classification_metrics


def evaluate_part(network, data, part, batch_size):
    """Clip-level metrics of one part: window probabilities averaged per file."""
    x, y = data.arrays(part)
    probabilities = network.predict(x, batch_size=batch_size, verbose=0)
    groups = data.parts[part].item_index[data.parts[part].rows]
    clips, clip_probabilities = aggregate_windows(probabilities, groups, method="mean")
    label_of = dict(zip(groups, y))  # every window of a clip has the clip's label
    clip_labels = np.array([label_of[clip] for clip in clips])
    result = classification_metrics(clip_labels, clip_probabilities, data.class_names)
    corpora = [data.parts[part].items[clip].corpus for clip in clips]
    if len(set(corpora)) > 1:
        result["per_corpus"] = {
            corpus: classification_metrics(
                clip_labels[np.array(corpora) == corpus], clip_probabilities[np.array(corpora) == corpus],
                data.class_names)
            for corpus in sorted(set(corpora))
        }
    return result
