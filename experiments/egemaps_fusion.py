"""Late fusion of a network preset with the eGeMAPS baseline: do the two see different things? (zoo issue, item 4)

For each evaluation (a run configuration's split, and the preset scored on it): the eGeMAPS baseline with a
logistic regression (its class probabilities; C chosen by speaker-grouped cross-validation on the training
speakers, class-balanced, as `keras_ser.baselines.LinearBaseline` does) is fitted on the split's training speakers,
standardised by the training rows ("global") or each corpus by its own statistics ("corpus"), and the preset's
clip probabilities are computed from the audio. The fusion is softmax(w log p_network + (1 - w) log p_egemaps):
with w = 0.5, and with the w of 0, 0.1, ..., 1 whose mean UAR over the corpora of the validation speakers is best.
UAR per corpus of the test speakers, in %.

    python experiments/egemaps_fusion.py --preset zoo/logmel-cnn-x3 --config CONFIG [--config CONFIG ...]
        [--loco-presets DIR] [--out runs/egemaps_fusion.json]

`--config` takes run configurations (e.g. a zoo_split_4corpora run's or a leave-one-corpus-out run's
config.toml); with `--loco-presets DIR` the preset for a configuration whose split holds out a corpus is
DIR/<held-out corpus> instead of `--preset`.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from keras_ser.baselines import LinearBaseline, egemaps_features, standardize
from keras_ser.presets import load
from keras_ser.training.config import load_config
from keras_ser.training.data import split_items
from keras_ser.training.metrics import classification_metrics

WEIGHTS = np.round(np.linspace(0, 1, 11), 2)
PARTS = ("train", "val", "test")


def network_probabilities(preset, items, class_names):
    """(clips, classes) clip probabilities of the preset, columns in `class_names` order."""
    model = load(str(preset))
    scores = model.predict_files([str(item.path) for item in items], progress=False).to_array()
    return scores[:, [list(model.class_names).index(name) for name in class_names]]


def egemaps_rows(items):
    """(items, 88) eGeMAPS functionals of the items, in their order (computed once into the feature cache)."""
    features = egemaps_features(sorted(items, key=lambda item: str(item.path)), "egemaps-fusion", progress=True)
    row_of = {item.path: row for row, item in zip(features.item_index, features.items)}
    return np.asarray(features.features[[row_of[item.path] for item in items]], np.float64)


def egemaps_probabilities(x, items, part_of, labels, standardization, num_classes):
    """Class probabilities of a logistic eGeMAPS baseline on features `x`, fitted on the "train" rows."""
    if standardization == "corpus":
        x = standardize(x, np.array([item.corpus for item in items]))
    speakers = np.array([f"{item.corpus}:{item.speaker}" for item in items])
    train = part_of == "train"
    baseline = LinearBaseline(classifier="logistic", standardization=standardization).fit(
        x[train], labels[train], speakers[train])
    return baseline.probabilities(x, num_classes), baseline.chosen_c


def fused(network, egemaps, weight):
    """Logits of the weighted geometric mean of the two probabilities (`weight` on the network's)."""
    logits = weight * np.log(np.clip(network, 1e-7, 1)) + (1 - weight) * np.log(np.clip(egemaps, 1e-7, 1))
    return logits - logits.max(axis=1, keepdims=True)  # argmax is all that UAR needs


def uar_by_corpus(labels, scores, corpora, class_names):
    """{corpus: UAR} of (N, classes) scores."""
    return {corpus: classification_metrics(labels[corpora == corpus], scores[corpora == corpus], class_names)["uar"]
            for corpus in sorted(set(corpora))}


def evaluate(config_path, preset):
    """The network's, eGeMAPS's and the fusions' UAR per corpus on the split's validation and test speakers."""
    config = load_config(config_path)
    chosen = split_items(config.data, config.seed)
    items = [item for part in PARTS for item in chosen.parts[part]]
    part_of = np.array([part for part in PARTS for _ in chosen.parts[part]])
    labels = np.array([chosen.label_of[item.path] for item in items])
    corpora = np.array([item.corpus for item in items])
    held = part_of != "train"
    network = np.zeros((len(items), len(chosen.class_names)))
    network[held] = network_probabilities(preset, [item for item, h in zip(items, held) if h], chosen.class_names)
    result = {"config": str(config_path), "preset": str(preset), "class_names": chosen.class_names}
    val, test = part_of == "val", part_of == "test"

    def scores(probabilities):
        return {part: uar_by_corpus(labels[mask], probabilities[mask], corpora[mask], chosen.class_names)
                for part, mask in (("val", val), ("test", test))}

    result["network"] = scores(network)
    x = egemaps_rows(items)
    for standardization in ("global", "corpus"):
        egemaps, c = egemaps_probabilities(x, items, part_of, labels, standardization, len(chosen.class_names))
        by_weight = {float(w): scores(fused(network, egemaps, w)) for w in WEIGHTS}
        best = max(by_weight, key=lambda w: np.mean(list(by_weight[w]["val"].values())))
        result[f"egemaps_{standardization}"] = {"chosen_c": c, **by_weight[0.0]}
        result[f"fusion_{standardization}"] = {"weight": 0.5, **by_weight[0.5]}
        result[f"fusion_{standardization}_val_weight"] = {"weight": best, **by_weight[best]}
    return result


def held_out_corpus(config_path):
    """The corpus a leave-one-corpus-out configuration tests on, else None."""
    data = load_config(config_path).data
    return data.test_corpus if data.split == "leave_corpus_out" else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", type=Path, default=Path("zoo/logmel-cnn-x3"))
    parser.add_argument("--config", type=Path, nargs="+", required=True)
    parser.add_argument("--loco-presets", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/egemaps_fusion.json"))
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for config in args.config:
        corpus = held_out_corpus(config)
        preset = args.loco_presets / corpus if corpus and args.loco_presets else args.preset
        key = f"{config}|{preset}"
        if key not in results:
            results[key] = evaluate(config, preset)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
        result = results[key]
        print(f"\n{config} ({preset}), test UAR %:")
        rows = [name for name in result if name.startswith(("network", "egemaps_", "fusion_"))]
        for name in rows:
            test = result[name]["test"]
            cells = "  ".join(f"{corpus} {100 * uar:5.1f}" for corpus, uar in test.items())
            weight = f" (w = {result[name]['weight']:g})" if "weight" in result[name] else ""
            print(f"  {name + weight:34s} {cells}  mean {100 * np.mean(list(test.values())):5.1f}")


if __name__ == "__main__":
    main()
