"""How much of the emotion a clip's duration alone tells, within each corpus and across corpora (4 classes).

Duration is read from the file headers. Within a corpus: a class-balanced logistic regression on the log
duration, speaker-grouped 5-fold cross-validation (TESS: 2 folds, one per speaker). Across corpora: trained on
three corpora, tested on the fourth, on the absolute log duration and on the log duration z-scored within each
corpus. UAR in %; needs scikit-learn (the `baselines` extra). `--fuse DIR` also scores, for each corpus with a
preset at DIR/<corpus> (one trained without it), the preset alone and the preset's clip probabilities multiplied
by those of the per-corpus duration model (trained on the other three corpora).

    python experiments/duration_cue.py [--root ../shared/datasets] [--fuse runs/loco_presets]
"""

import argparse

import numpy as np
import soundfile
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from pathlib import Path

from keras_ser.datasets.corpora import read_emodb, read_nemo, read_ravdess, read_tess
from keras_ser.datasets.emotions import FOUR_CLASS, select_classes
from keras_ser.datasets.paths import default_data_root

READERS = {"emodb": read_emodb, "ravdess": read_ravdess, "tess": read_tess, "nemo": read_nemo}


def classifier():
    return LogisticRegression(class_weight="balanced", max_iter=1000)


def uar(labels, predicted):
    return 100 * balanced_accuracy_score(labels, predicted)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None,
                        help="the datasets folder (default: $KERAS_SER_DATA or ../shared/datasets)")
    parser.add_argument("--fuse", type=Path, default=None, help="a folder of presets, one per held-out corpus")
    args = parser.parse_args()
    root = args.root or default_data_root()
    corpora = {}
    for name, reader in READERS.items():
        items, labels = select_classes(reader(f"{root}/{name}"))
        seconds = np.array([soundfile.info(str(item.path)).duration for item in items])
        speakers = np.array([item.speaker for item in items])
        log = np.log(seconds)[:, None]
        within = cross_val_predict(classifier(), log, labels, groups=speakers,
                                   cv=GroupKFold(min(5, len(set(speakers)))))
        medians = ", ".join(f"{FOUR_CLASS[c]} {np.median(seconds[labels == c]):.2f}" for c in range(len(FOUR_CLASS)))
        print(f"{name}: {len(items)} clips, {100 * np.mean(seconds < 4):.0f} % under 4 s; median s: {medians}; "
              f"duration alone within the corpus, UAR {uar(labels, within):.1f}")
        corpora[name] = (log, (log - log.mean()) / log.std(), labels, [item.path for item in items])
    for held_out, (absolute, relative, labels, paths) in corpora.items():
        scores = []
        for kind in (0, 1):
            train = [corpora[name] for name in corpora if name != held_out]
            features, targets = np.concatenate([c[kind] for c in train]), np.concatenate([c[2] for c in train])
            fitted = classifier().fit(features, targets)
            scores.append(uar(labels, fitted.predict((absolute, relative)[kind])))
        line = (f"{held_out} held out: absolute duration UAR {scores[0]:.1f}, "
                f"z-scored within each corpus {scores[1]:.1f}")
        if args.fuse is not None and (args.fuse / held_out).is_dir():
            network = network_probabilities(args.fuse / held_out, paths)
            fused = np.log(network) + np.log(fitted.predict_proba(relative))
            line += (f"; preset {uar(labels, network.argmax(1)):.1f}, "
                     f"with the z-scored duration {uar(labels, fused.argmax(1)):.1f}")
        print(line)


def network_probabilities(preset, paths):
    """(clips, 4) class probabilities of `preset` for the files, in FOUR_CLASS order."""
    import keras_ser  # here, so that the duration analysis alone starts without Keras

    predictions = keras_ser.load(str(preset)).predict_files(paths, progress=False)
    return np.array([[next(p["score"] for p in prediction if p["label"] == name) for name in FOUR_CLASS]
                     for prediction in predictions])


if __name__ == "__main__":
    main()
