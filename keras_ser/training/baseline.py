"""Running the eGeMAPS reference baseline from a run configuration, like a network run."""

import csv
import dataclasses
import time

import numpy as np

from keras_ser.baselines import LinearBaseline, egemaps_features, standardize
from keras_ser.training.config import ConfigError
from keras_ser.training.data import split_items
from keras_ser.training.evaluation import metrics_by_corpus
from keras_ser.training.plots import plot_confusion_matrix

PREDICTIONS_FILE = "predictions.csv"


def train_baseline(config, run_dir, cache_dir=None, progress=True):
    """Fit the baseline on the training speakers of `config.data`; returns the metrics of its val and test parts.

    The metrics have the keys of a network run's, plus `baseline`: the options, the chosen C and the
    cross-validated UAR of every C. Writes predictions.csv (val and test files) and confusion_matrix.png.
    """
    started = time.time()
    baseline = LinearBaseline(**config.model.options)  # validated with the configuration
    chosen = split_items(config.data, config.seed)
    items = [item for part in ("train", "val", "test") for item in chosen.parts[part]]
    part_of = np.array([part for part in ("train", "val", "test") for _ in chosen.parts[part]])
    # In path order, so that every split of the same items shares one cache entry.
    features = egemaps_features(sorted(items, key=lambda item: str(item.path)), "+".join(config.data.corpora),
                                cache_dir=cache_dir, progress=progress)
    row_of = {item.path: row for row, item in zip(features.item_index, features.items)}
    x = np.asarray(features.features[[row_of[item.path] for item in items]], np.float64)
    y = np.array([chosen.label_of[item.path] for item in items])
    speakers = np.array([f"{item.corpus}:{item.speaker}" for item in items])
    corpora = np.array([item.corpus for item in items])
    if baseline.standardization != "global":
        x = standardize(x, corpora if baseline.standardization == "corpus" else speakers)
    train = part_of == "train"
    try:
        baseline.fit(x[train], y[train], speakers[train])  # C is chosen on the training speakers alone
    except ValueError as error:
        raise ConfigError("data.split", str(error)) from None
    predicted = baseline.predict(x)
    metrics = {
        part: metrics_by_corpus(y[part_of == part], predicted[part_of == part], corpora[part_of == part],
                                chosen.class_names)
        for part in ("test", "val")
    }
    metrics.update({
        "baseline": {**dataclasses.asdict(baseline), "features": "openSMILE eGeMAPSv02 functionals (88)",
                     "chosen_c": baseline.chosen_c, "cv_uar": {str(c): u for c, u in baseline.cv_uar.items()},
                     "training_speakers": int(len(set(speakers[train])))},
        "best_epoch": None,
        "epochs_run": None,
        "wall_time_s": round(time.time() - started, 1),
        "backend": "scikit-learn",
    })
    with (run_dir / PREDICTIONS_FILE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["part", "path", "corpus", "speaker", "label", "predicted"])
        for part, item, true, guess in zip(part_of, items, y, predicted):
            if part != "train":
                writer.writerow([part, item.path, item.corpus, item.speaker,
                                 chosen.class_names[true], chosen.class_names[guess]])
    test = metrics["test"]
    plot_confusion_matrix(np.array(test["confusion_matrix"]), chosen.class_names, run_dir / "confusion_matrix.png",
                          title=f"{config.name}: test (accuracy {test['accuracy']:.3f}, UAR {test['uar']:.3f})")
    return metrics
