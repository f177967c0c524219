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
from pathlib import Path

import numpy as np
import soundfile
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_predict

from keras_ser.datasets.corpora import read_emodb, read_nemo, read_ravdess, read_tess
from keras_ser.datasets.emotions import FOUR_CLASS, select_classes
from keras_ser.datasets.paths import default_data_root
from keras_ser.training.metrics import classification_metrics

READERS = {"emodb": read_emodb, "ravdess": read_ravdess, "tess": read_tess, "nemo": read_nemo}


def classifier():
    return LogisticRegression(class_weight="balanced", max_iter=1000)


def uar(labels, predicted):
    """UAR in % of labels or (clips, 4) probabilities."""
    return 100 * classification_metrics(labels, predicted, FOUR_CLASS)["uar"]


def across_corpora(corpora, held_out, kind):
    """The duration model (`kind`: "absolute" or "relative") trained on every corpus but `held_out`."""
    train = [corpus for name, corpus in corpora.items() if name != held_out]
    return classifier().fit(np.concatenate([corpus[kind] for corpus in train]),
                            np.concatenate([corpus["labels"] for corpus in train]))


def network_probabilities(preset, paths):
    """(clips, 4) class probabilities of `preset` for the files, in FOUR_CLASS order."""
    import keras_ser  # here, so that the duration analysis alone starts without Keras

    model = keras_ser.load(str(preset))
    scores = model.predict_files(paths, progress=False, on_error="fail").to_array()
    return scores[:, [model.class_names.index(name) for name in FOUR_CLASS]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None,
                        help="the datasets folder (default: $KERAS_SER_DATA or ../shared/datasets)")
    parser.add_argument("--fuse", type=Path, default=None, help="a folder of presets, one per held-out corpus")
    args = parser.parse_args()
    root = args.root or default_data_root()
    if root is None:
        raise SystemExit("no datasets folder found: pass --root or set KERAS_SER_DATA")
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
        corpora[name] = {"absolute": log, "relative": (log - log.mean()) / log.std(), "labels": labels,
                         "paths": [item.path for item in items]}
    for held_out, corpus in corpora.items():
        labels = corpus["labels"]
        absolute, relative = (across_corpora(corpora, held_out, kind) for kind in ("absolute", "relative"))
        line = (f"{held_out} held out: absolute duration UAR {uar(labels, absolute.predict(corpus['absolute'])):.1f}, "
                f"z-scored within each corpus {uar(labels, relative.predict(corpus['relative'])):.1f}")
        if args.fuse is not None and (args.fuse / held_out).is_dir():
            network = network_probabilities(args.fuse / held_out, corpus["paths"])
            fused = np.log(network) + np.log(relative.predict_proba(corpus["relative"]))
            line += f"; preset {uar(labels, network):.1f}, with the z-scored duration {uar(labels, fused):.1f}"
        print(line)


if __name__ == "__main__":
    main()
