"""Turning training runs (`keras-ser train`, `keras-ser rhemo`) into presets with measured metadata."""

import dataclasses
import json
import os
import platform
import re
from pathlib import Path

import keras
import numpy as np

from keras_ser.audio import STFTSettings
from keras_ser.datasets import FOUR_CLASS, binary_vad
from keras_ser.models.rhemo.architecture import VAD_HEADS
from keras_ser.models.rhemo.front_end import THESIS_FRONT_END
from keras_ser.presets.classifier import SERClassifier
from keras_ser.presets.fine_tuning import item_labels, item_windows
from keras_ser.presets.loading import save_preset
from keras_ser.presets.preprocessor import AudioPreprocessor
from keras_ser.training.calibration import ECE_BINS, expected_calibration_error, fit_temperature, temperature_scaled
from keras_ser.training.config import load_config
from keras_ser.training.data import split_items
from keras_ser.training.metrics import aggregate_windows, classification_metrics
from keras_ser.training.rhemo_recipe import ENCODER_FILE
from keras_ser.training.run import MODEL_FILE, METRICS_FILE, flat_config
from keras_ser.training.strategies import network_of

# Licences of the corpora's recordings, which trained weights inherit.
CORPUS_LICENSES = {
    "ravdess": "CC BY-NC-SA 4.0 (non-commercial)",
    "tess": "CC BY-NC-ND 4.0 (non-commercial)",
    "emodb": "free for research use",
    "fsdd": "CC BY-SA 4.0",
    "nemo": "CC BY-NC-SA 4.0 (non-commercial)",
}
NON_COMMERCIAL = {"ravdess", "tess", "iemocap", "savee", "emovo", "crema_d", "nemo"}
# The configuration keys in which the runs of a seed ensemble may differ.
ENSEMBLE_FREE_KEYS = ("name", "seed")

# A preset's model name: Keras uses it as a name scope while training (fine_tune), which allows only these.
MODEL_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.-]*")


def _hardware():
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, {keras.backend.backend()} backend"


def _licensing(corpora):
    licences = {corpus: CORPUS_LICENSES.get(corpus, "see the corpus's own terms") for corpus in corpora}
    restricted = any(corpus in NON_COMMERCIAL for corpus in corpora)
    return {"license": "cc-by-nc-sa-4.0" if restricted else "other", "data_licenses": licences}


def _rhemo_commands(rhemo_dir, metrics):
    """The `keras-ser rhemo` commands that reproduce a run: those of the run it continued (`--init`), then its own."""
    earlier = metrics.get("init")
    stages = {key: metrics.get(key) or {} for key in ("stage1", "stage2")}
    front_end = "".join(f" --{option} {metrics[option]}" for option, default in THESIS_FRONT_END.items()
                        if metrics.get(option, default) != default)
    init = f" --init {earlier['run_dir']}" if earlier else ""
    subset = f" --max-items {metrics['max_items']}" if metrics.get("max_items") else ""
    limits = "".join(f" --{stage}-minutes {stages[stage]['minutes']:g}" for stage in stages
                     if stages[stage].get("minutes") is not None)
    return [*(_rhemo_commands(earlier["run_dir"], earlier) if earlier else []),
            f"keras-ser rhemo {' '.join(metrics['corpora'])} --run-dir {rhemo_dir}{subset}"
            f" --stage1-epochs {stages['stage1'].get('epochs', 0)} --stage1-lr {stages['stage1'].get('learning_rate', 1e-3):g}"
            f" --stage2-epochs {stages['stage2'].get('epochs', 0)} --stage2-lr {stages['stage2'].get('learning_rate', 1e-6):g}"
            f" --head-units {metrics.get('head_units', 4096)} --fractions {' '.join(map(str, metrics.get('fractions', [])))}"
            f" --seed {metrics.get('seed', 0)}{limits}{front_end}{init}"]


def _rhemo_preprocessor(metrics, stft=STFTSettings(), **settings):
    """The preprocessor that gives an RH-emo run's input from audio: its compression and its normaliser.

    Runs from before the options (no "compression" in metrics.json) used the defaults: linear, max.
    """
    options = {option: metrics.get(option, default) for option, default in THESIS_FRONT_END.items()}
    normalizer = {"kind": options["normalization"]}
    if normalizer["kind"] == "max":
        normalizer["maximum"] = metrics["training_maximum"]
    compression = "none" if options["compression"] == "linear" else options["compression"]
    return AudioPreprocessor(normalizer=normalizer, stft=dataclasses.replace(stft, compression=compression), **settings)


def _rhemo_parts(rhemo_dir, classifier):
    """Copy the encoder (and the heads the classifier has) from an RH-emo run; return its metrics.

    The encoder alone comes from the run's small encoder.keras, so a run copied without its rhemo.keras
    (1.6 GB with 4096-unit heads) still makes presets without heads.
    """
    rhemo_dir = Path(rhemo_dir)
    heads = [layer for layer in classifier.scorer.layers  # RH-emo's heads are outputs of the scorer only
             if layer.name.startswith("rhemo_") and layer.name.endswith("_head")]
    source = rhemo_dir / ("rhemo.keras" if heads else ENCODER_FILE)
    if not source.is_file():
        remedy = ("make the preset without RH-emo's valence/arousal/dominance heads (dimension_heads=False, "
                  "keras-ser preset --no-dimension-heads)" if heads else "is it a keras-ser rhemo run directory?")
        raise FileNotFoundError(f"'{rhemo_dir}' holds no {source.name}: {remedy}")
    trained = keras.saving.load_model(source, compile=False)
    classifier.get_layer("rhemo_encoder").set_weights(trained.get_layer("encoder").get_weights())
    for layer in heads:
        layer.set_weights(trained.get_layer(layer.name[len("rhemo_"):]).get_weights())
    return json.loads((rhemo_dir / METRICS_FILE).read_text())


def _split_description(kind, fractions, test_corpus=""):
    if kind == "leave_corpus_out":
        return (f"leave one corpus out: tested on every file of {test_corpus}; the other corpora split by speaker, "
                f"corpus by corpus, with the train / validation shares of {fractions}")
    if kind == "per_corpus":
        return (f"per corpus, by speaker: shares {fractions} of each corpus's speakers for train / validation / test; "
                "two-speaker TESS tests on its held-out speaker (YAF) and validates on files of its training speaker")
    return f"{kind}, fractions {fractions}"


def _speakers(parts):
    return {part: sorted({f"{item.corpus}:{item.speaker}" for item in items}) for part, items in parts.items()}


def _clip_scores(model, items, part, progress):
    """Window outputs of `items` (`score_windows`), each window's clip (index into items), and the clips' labels,
    corpora and binary (valence, arousal, dominance) targets (`binary_vad`: None where undefined)."""
    if not items:
        raise ValueError(f"the run's {part} split is empty: a preset is calibrated on the validation speakers "
                         "and measured on the test and validation speakers, so both need clips")
    windows, owners = item_windows(model, items, progress)
    corpora = np.array([item.corpus for item in items])
    targets = [binary_vad(item) for item in items]
    return model.score_windows(windows), owners, item_labels(items, model.class_names), corpora, targets


def _clip_probabilities(scores, temperature):
    """Per split: each clip's mean window probabilities after temperature scaling, its label and its corpus."""
    clips = {}
    for part, (outputs, owners, labels, corpora, _) in scores.items():
        chosen, probabilities = aggregate_windows(temperature_scaled(outputs["emotion"], temperature), owners,
                                                  method="mean")
        clips[part] = probabilities, labels[chosen], corpora[chosen]
    return clips


def _metrics(clips, class_names):
    """Per-split, per-corpus metrics of `_clip_probabilities`' clips."""
    metrics = {}
    for part, (probabilities, labels, corpora) in clips.items():
        metrics[part] = {}
        for corpus in sorted(set(corpora)):
            chosen = corpora == corpus
            m = classification_metrics(labels[chosen], probabilities[chosen], class_names)
            metrics[part][str(corpus)] = {"accuracy": m["accuracy"], "uar": m["uar"], "macro_f1": m["macro_f1"],
                                          "clips": int(chosen.sum())}
    return metrics


def _ece(before, after):
    """Per-split, per-corpus expected calibration error of `_clip_probabilities`' clips without ("before") and with
    ("after") the fitted temperature."""
    ece = {}
    for part, (unscaled, labels, corpora) in before.items():
        scaled, ece[part] = after[part][0], {}
        for corpus in sorted(set(corpora)):
            chosen = corpora == corpus
            ece[part][str(corpus)] = {"before": expected_calibration_error(unscaled[chosen], labels[chosen]),
                                      "after": expected_calibration_error(scaled[chosen], labels[chosen])}
    return ece


def _lowers_validation_ece(ece):
    """Whether the fitted temperature ("after") lowers the validation clips' ECE, averaged over their corpora."""
    corpora = ece["val"].values()
    return np.mean([scores["after"] for scores in corpora]) < np.mean([scores["before"] for scores in corpora])


def _dimension_measured(scores, heads):
    """Per-split, per-corpus clip metrics of the dimension `heads` (a clip is high when its mean window probability
    of high is > 0.5), over the clips with binary targets, each with its majority-class rate (the chance level)."""
    metrics = {}
    for part, (outputs, owners, _, corpora, targets) in scores.items():
        clips, high = aggregate_windows(np.stack([outputs[head] for head in heads], axis=1), owners, method="mean")
        defined = np.array([targets[clip] is not None for clip in clips])
        truth = np.array([targets[clip] for clip in clips[defined]], dtype=np.int64).reshape(-1, len(VAD_HEADS))
        predicted, corpora = (high[defined] > 0.5).astype(np.int64), corpora[clips][defined]
        metrics[part] = {}
        for corpus in sorted(set(corpora)):
            chosen = corpora == corpus
            metrics[part][str(corpus)] = {
                head: _binary_metrics(truth[chosen, VAD_HEADS.index(head)], predicted[chosen, i])
                for i, head in enumerate(heads)}
    return metrics


def _binary_metrics(truth, predicted):
    """Accuracy, UAR and clip count of low/high (0/1) predictions, and the accuracy of always answering the commoner
    target."""
    scores = classification_metrics(truth, predicted, ["low", "high"])
    high = float(truth.mean())
    return {"accuracy": scores["accuracy"], "uar": scores["uar"], "majority_rate": max(high, 1 - high),
            "clips": len(truth)}


def _check_alike(run_dirs, configs):
    """Raise a ValueError naming the first key, other than seed and name, in which a run differs from the first."""
    first = flat_config(configs[0].to_dict())
    for run_dir, config in zip(run_dirs[1:], configs[1:]):
        other = flat_config(config.to_dict())
        for key in dict.fromkeys([*first, *other]):
            if key not in ENSEMBLE_FREE_KEYS and first.get(key) != other.get(key):
                raise ValueError(f"runs '{run_dirs[0]}' and '{run_dir}' differ in {key} ({first.get(key)!r} and "
                                 f"{other.get(key)!r}): the runs of an ensemble may differ only in their seed")


def _check_same_split(run_dirs, configs, parts):
    """Raise a ValueError unless every run's train, validation and test parts hold the first run's clips."""
    if configs[0].data.split_seed >= 0:
        return  # the split is then a function of the data section alone, which _check_alike found equal
    clips = {part: sorted(str(item.path) for item in items) for part, items in parts.items()}
    for run_dir, config in zip(run_dirs[1:], configs[1:]):
        other = split_items(config.data, seed=config.seed).parts
        for part in clips:
            if sorted(str(item.path) for item in other[part]) != clips[part]:
                raise ValueError(f"runs '{run_dirs[0]}' and '{run_dir}' split the data differently (their {part} "
                                 "parts differ; data.split_seed = -1 splits by each run's seed): the networks of an "
                                 "ensemble must be trained and measured on one split")


def _normalizer(run_dirs, trained):
    """The fitted input normaliser the runs' models share, as a preprocessor entry (None without one)."""
    found = []
    for inference in trained:
        layer = inference.get_layer("normalizer") if any(l.name == "normalizer" for l in inference.layers) else None
        found.append(None if layer is None else {"kind": layer.kind, **layer.statistics})
    for run_dir, normalizer in zip(run_dirs[1:], found[1:]):
        if normalizer != found[0]:
            raise ValueError(f"runs '{run_dirs[0]}' and '{run_dir}' fitted different input normalisers ({found[0]} "
                             f"and {normalizer}): the networks of an ensemble share one front end")
    return found[0]


def _one_or_all(values):
    """A single run's value as it is, several runs' as a list."""
    return values[0] if len(values) == 1 else values


def preset_name(name, run_name):
    """`name`, refused unless Keras can train a model so named; without one, the run's name made such a name
    (an experiment's run names, like "test_corpus=emodb,seed=0", hold '=' and ',')."""
    if name is None:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", run_name).lstrip("_-") or "preset"
    if not MODEL_NAME.fullmatch(name):
        raise ValueError(f"preset name {name!r} is not a valid model name: use letters, digits, '.', '_' and '-', "
                         "starting with a letter, digit or '.'")
    return name


def preset_from_run(run_dirs, folder, name=None, description="", recipe=None, half_precision=True, overwrite=False,
                    progress=True, dimension_heads=True):
    """Save a `keras-ser train` run (spectrogram or RH-emo features) as a preset, calibrated, evaluated per corpus.

    `run_dirs`: one run directory, or a list of runs of one recipe that differ only in their seed (and name): a
    seed ensemble, one network per run, whose class probabilities are averaged (`network["members"]`).
    `recipe` is the path of the runs' TOML, for the reproduction commands of the model card. On RH-emo
    features the preset carries RH-emo's valence/arousal/dominance heads, unless `dimension_heads` is False.
    """
    run_dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, os.PathLike)) else [Path(run) for run in run_dirs]
    if not run_dirs:
        raise ValueError("preset_from_run needs at least one run directory")
    configs = [load_config(run_dir / "config.toml") for run_dir in run_dirs]
    _check_alike(run_dirs, configs)
    config, data = configs[0], configs[0].data
    name = preset_name(name, config.name)
    if not dimension_heads and data.features != "rhemo":
        raise ValueError(f"'{run_dirs[0]}' was trained on spectrograms, not RH-emo features, so its preset has no "
                         "valence/arousal/dominance heads to leave out: drop dimension_heads=False "
                         "(--no-dimension-heads)")
    if data.features == "rhemo" and data.normalization not in ("auto", "none"):
        raise ValueError("presets of RH-emo runs need data.normalization 'auto' or 'none' (the encoder scales its input)")
    chosen = split_items(data, seed=config.seed)
    _check_same_split(run_dirs, configs, chosen.parts)
    trained = [keras.saving.load_model(run_dir / MODEL_FILE, compile=False) for run_dir in run_dirs]
    rhemo, rhemo_metrics, commands = None, None, []
    if data.features == "rhemo":
        rhemo_dir = Path(data.rhemo_model).parent
        rhemo_metrics = json.loads((rhemo_dir / METRICS_FILE).read_text())
        rhemo = {"variant": rhemo_metrics["variant"], "head_units": rhemo_metrics.get("head_units", 4096),
                 "heads": list(VAD_HEADS) if dimension_heads else []}
        preprocessor = _rhemo_preprocessor(rhemo_metrics, data.stft(), segment_seconds=data.segment_seconds)
        commands += _rhemo_commands(rhemo_dir, rhemo_metrics)
    else:
        preprocessor = AudioPreprocessor(segment_seconds=data.segment_seconds,
                                         normalizer=_normalizer(run_dirs, trained), stft=data.stft())
    network = {"builder": config.model.builder, "variant": config.model.variant, "options": dict(config.model.options)}
    architecture = f"{config.model.variant} {config.model.builder}"
    seeds = [run_config.seed for run_config in configs]
    if len(run_dirs) > 1:
        network["members"] = len(run_dirs)
        architecture = f"ensemble of {len(run_dirs)} {architecture} (seeds {', '.join(map(str, seeds))})"
    model = SERClassifier(chosen.class_names, network=network, rhemo=rhemo, preprocessor=preprocessor, name=name)
    for member, inference in zip(model.networks, trained, strict=True):
        member.set_weights(network_of(inference).get_weights())
    if rhemo is not None:
        _rhemo_parts(rhemo_dir, model)
    commands += [f"keras-ser train {recipe or '<config.toml>'} --run-dir {run_dir}"
                 + (f" --seed {run_config.seed}" if len(run_dirs) > 1 else "")
                 for run_dir, run_config in zip(run_dirs, configs)]
    commands.append(f"keras-ser preset {' '.join(map(str, run_dirs))} {folder}"
                    + (f" --recipe {recipe}" if recipe else ""))
    run_metrics = [json.loads((run_dir / METRICS_FILE).read_text()) for run_dir in run_dirs]
    wall = sum(metrics.get("wall_time_s", 0) for metrics in run_metrics) + (rhemo_metrics or {}).get("wall_time_s", 0)
    metadata = {
        "name": name, "description": description,
        "architecture": ("RH-emo encoder + " if rhemo else "") + architecture,
        "training_data": {"corpora": list(data.corpora), "classes": chosen.class_names,
                          "split": _split_description(data.split, data.fractions, data.test_corpus),
                          "split_kind": data.split,
                          "speakers": _speakers(chosen.parts), "seed": _one_or_all(seeds)},
        "recipe": {"commands": commands, "config": (run_dirs[0] / "config.toml").read_text(), "hardware": _hardware(),
                   "wall_time_s": round(wall, 1),
                   "best_epoch": _one_or_all([metrics.get("best_epoch") for metrics in run_metrics])},
        **_licensing(data.corpora),
    }
    save_preset(model, folder, metadata, half_precision=half_precision, overwrite=overwrite)
    return _evaluated(folder, chosen.parts, progress)


def rhemo_preset_from_run(rhemo_dir, folder, name="rhemo", description="", half_precision=True, overwrite=False,
                          progress=True, dimension_heads=True):
    """Save a `keras-ser rhemo` run (encoder, emotion and, unless not `dimension_heads`, V/A/D heads) as a preset,
    calibrated, evaluated."""
    from keras_ser.datasets import select_classes, split_per_corpus
    from keras_ser.training.rhemo_recipe import rhemo_items

    rhemo_dir, name = Path(rhemo_dir), preset_name(name, "rhemo")
    metrics = json.loads((rhemo_dir / METRICS_FILE).read_text())
    heads = ["emotion", *VAD_HEADS] if dimension_heads else ["emotion"]
    architecture = "RH-emo (encoder + emotion and V/A/D heads)" if dimension_heads else "RH-emo (encoder + emotion head)"
    rhemo = {"variant": metrics["variant"], "head_units": metrics.get("head_units", 4096), "heads": heads}
    model = SERClassifier(list(FOUR_CLASS), rhemo=rhemo, preprocessor=_rhemo_preprocessor(metrics), name=name)
    _rhemo_parts(rhemo_dir, model)
    items = rhemo_items(metrics["corpora"], metrics.get("max_items", 0), metrics["seed"])
    parts = dict(zip(("train", "val", "test"), split_per_corpus(items, metrics["seed"], metrics.get("fractions", (0.7, 0.2, 0.1)))))
    parts = {part: select_classes(chosen, FOUR_CLASS)[0] for part, chosen in parts.items()}
    metadata = {
        "name": name, "description": description, "architecture": architecture,
        "training_data": {"corpora": metrics["corpora"], "classes": list(FOUR_CLASS),
                          "split": _split_description("per_corpus", metrics.get("fractions")), "split_kind": "per_corpus",
                          "speakers": _speakers(parts), "seed": metrics["seed"]},
        "recipe": {"commands": [*_rhemo_commands(rhemo_dir, metrics), f"keras-ser preset {rhemo_dir} {folder}"],
                   "config": json.dumps({k: metrics.get(k) for k in ("variant", "stage1", "stage2", "head_units")}, indent=1),
                   "hardware": _hardware(), "wall_time_s": metrics.get("wall_time_s")},
        **_licensing(metrics["corpora"]),
    }
    save_preset(model, folder, metadata, half_precision=half_precision, overwrite=overwrite)
    return _evaluated(folder, parts, progress)


def _evaluated(folder, parts, progress):
    """Load the saved preset back (as users will), fit its temperature on the validation clips (each corpus weighted
    equally; kept at 1 unless it lowers their mean per-corpus ECE), measure it (and its valence/arousal/dominance
    heads) on the test and validation clips, and rewrite its config (the temperature), metadata and card."""
    from keras_ser.hub.card import card_text
    from keras_ser.presets.files import CARD_FILE, CONFIG_FILE, METADATA_FILE, read_json, write_json
    from keras_ser.presets.loading import load

    model = load(str(folder))
    scores = {part: _clip_scores(model, parts[part], part, progress) for part in ("test", "val")}
    outputs, owners, labels, corpora, _ = scores["val"]
    clips = np.unique(owners)
    fitted = fit_temperature(outputs["emotion"], labels[clips], groups=owners, strata=corpora[clips])
    unscaled, scaled = _clip_probabilities(scores, 1.0), _clip_probabilities(scores, fitted)
    ece = _ece(unscaled, scaled)
    kept = _lowers_validation_ece(ece)
    temperature = fitted if kept else 1.0
    config = read_json(folder, CONFIG_FILE)
    config["config"]["temperature"] = temperature
    write_json(folder, CONFIG_FILE, config)
    metadata = dict(model.metadata)
    metadata["metrics"] = _metrics(scaled if kept else unscaled, model.class_names)
    metadata["calibration"] = {"temperature": temperature, "fitted": fitted, "fitted_on": "val",
                               "weighting": "corpus", "bins": ECE_BINS, "ece": ece}
    if model.dimension_names:
        metadata["dimension_metrics"] = _dimension_measured(scores, model.dimension_names)
    metadata["recipe"]["date"] = metadata["created"]
    write_json(folder, METADATA_FILE, metadata)
    (Path(folder) / CARD_FILE).write_text(card_text(metadata))
    return metadata
