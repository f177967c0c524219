"""Adaptation to each test speaker: does re-estimating batch norm on one speaker's unlabelled clips help?

For each run configuration (its split's test speakers) and its preset: the speakers' files are loaded one speaker at
a time; the preset scores the speaker's test clips as it is, after `SERClassifier.adapt(batch_norm=True)` on every
file of the corpus (all emotions, no labels: AdaBN per corpus, as `keras-ser adapt` does), and after the same on
every file of that speaker only (AdaBN per speaker). The clip probabilities of all speakers are pooled into accuracy
and UAR per corpus, in %, with each speaker's UAR beside them.

    python experiments/speaker_adaptation.py --config CONFIG [CONFIG ...] (--preset PRESET | --loco-presets DIR)
        [--min-windows 20] [--out runs/speaker_adaptation.json]

`--config` takes run configurations (a zoo_split_4corpora or a recipe_ablation_loco run's config.toml); with
`--loco-presets DIR` the preset of a configuration that holds out a corpus is DIR/<held-out corpus>, as
`experiments/egemaps_fusion.py` takes them.
"""

import argparse
import json
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from keras_ser.datasets import load_corpus
from keras_ser.presets import load
from keras_ser.presets.fine_tuning import item_labels
from keras_ser.training.config import load_config
from keras_ser.training.data import split_items
from keras_ser.training.metrics import classification_metrics

CONDITIONS = ("plain", "per_corpus", "per_speaker")


def speaker_scores(models, files, test_files, min_windows):
    """{condition: clip probabilities of `test_files`}, for each model of `models` and AdaBN on `files` (one
    speaker's) of the "plain" one."""
    plain = models["plain"]
    rate = plain.preprocessor.sample_rate
    signals = {path: plain.preprocessor.load(path) for path in files}
    test = [signals[path] for path in test_files]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the flags of odd clips: scored all the same
        models = {**models, "per_speaker": plain.adapt(list(signals.values()), sampling_rate=rate, batch_norm=True,
                                                       min_windows=min_windows, progress=False)}
        return {name: model.predict_batch(test, sampling_rate=rate).to_array() for name, model in models.items()}


def corpus_result(models, corpus, items, min_windows):
    """The three conditions' accuracy and UAR on one corpus's test `items`, and each test speaker's UARs."""
    class_names = list(models["plain"].class_names)
    files_of = defaultdict(list)
    for item in load_corpus(corpus):
        files_of[item.speaker].append(str(item.path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        models = {**models, "per_corpus": models["plain"].adapt(sum(files_of.values(), []), batch_norm=True,
                                                                progress=False)}
    test_of = defaultdict(list)
    for item in items:
        test_of[item.speaker].append(item)
    labels, scores, speakers = [], defaultdict(list), {}
    for speaker, test in sorted(test_of.items()):
        truth = item_labels(test, class_names)
        found = speaker_scores(models, files_of[speaker], [str(item.path) for item in test], min_windows)
        labels.append(truth)
        for name, value in found.items():
            scores[name].append(value)
        speakers[speaker] = {"clips": len(test), "files": len(files_of[speaker]),
                             **{name: round(100 * classification_metrics(truth, value, class_names)["uar"], 1)
                                for name, value in found.items()}}
        print(f"{corpus} {speaker}: {speakers[speaker]}", flush=True)
    labels = np.concatenate(labels)
    result = {"corpus": corpus, "speakers": speakers}
    for name, value in scores.items():
        metrics = classification_metrics(labels, np.concatenate(value), class_names)
        result[name] = {"accuracy": round(100 * metrics["accuracy"], 1), "uar": round(100 * metrics["uar"], 1)}
    print(f"{corpus}: " + ", ".join(f"{name} {result[name]}" for name in scores), flush=True)
    return result


def evaluate(config_path, preset, loco_presets, min_windows):
    """The results on each corpus of the configuration's test speakers."""
    config = load_config(config_path)
    if config.data.split == "leave_corpus_out" and loco_presets:
        preset = Path(loco_presets) / config.data.test_corpus
    if preset is None:
        raise SystemExit(f"'{config_path}' does not hold out a corpus: give --preset")
    model = load(str(preset))
    items = split_items(config.data, config.seed).parts["test"]
    return [{**corpus_result({"plain": model}, corpus, [item for item in items if item.corpus == corpus],
                             min_windows), "config": str(config_path), "preset": str(preset)}
            for corpus in sorted({item.corpus for item in items})]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument("--preset")
    parser.add_argument("--loco-presets")
    parser.add_argument("--min-windows", type=int, default=20)
    parser.add_argument("--out", default="runs/speaker_adaptation.json")
    args = parser.parse_args()
    results = [result for path in args.config
               for result in evaluate(path, args.preset, args.loco_presets, args.min_windows)]
    for name in CONDITIONS:
        print(f"mean UAR {name}: {np.mean([result[name]['uar'] for result in results]):.1f}")
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
