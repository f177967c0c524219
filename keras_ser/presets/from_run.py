"""Turning training runs (`keras-ser train`, `keras-ser rhemo`) into presets with measured metadata."""

import json
import os
import platform
from pathlib import Path

import keras

from keras_ser.datasets import FOUR_CLASS
from keras_ser.models.rhemo.architecture import VAD_HEADS
from keras_ser.presets.classifier import SERClassifier
from keras_ser.presets.fine_tuning import evaluate_items
from keras_ser.presets.loading import save_preset
from keras_ser.presets.preprocessor import AudioPreprocessor
from keras_ser.training.config import load_config
from keras_ser.training.data import split_items
from keras_ser.training.run import MODEL_FILE, METRICS_FILE
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


def _hardware():
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, {keras.backend.backend()} backend"


def _licensing(corpora):
    licences = {corpus: CORPUS_LICENSES.get(corpus, "see the corpus's own terms") for corpus in corpora}
    restricted = any(corpus in NON_COMMERCIAL for corpus in corpora)
    return {"license": "cc-by-nc-sa-4.0" if restricted else "other", "data_licenses": licences}


def _rhemo_command(rhemo_dir, metrics):
    stages = {key: metrics.get(key) or {} for key in ("stage1", "stage2")}
    return (f"keras-ser rhemo {' '.join(metrics['corpora'])} --run-dir {rhemo_dir}"
            f" --stage1-epochs {stages['stage1'].get('epochs', 0)} --stage1-lr {stages['stage1'].get('learning_rate', 1e-3):g}"
            f" --stage2-epochs {stages['stage2'].get('epochs', 0)} --stage2-lr {stages['stage2'].get('learning_rate', 1e-6):g}"
            f" --head-units {metrics.get('head_units', 4096)} --fractions {' '.join(map(str, metrics.get('fractions', [])))}"
            f" --seed {metrics.get('seed', 0)}")


def _rhemo_parts(rhemo_dir, classifier):
    """Copy the encoder (and the heads the classifier has) from an RH-emo run; return its metrics."""
    trained = keras.saving.load_model(Path(rhemo_dir) / "rhemo.keras", compile=False)
    classifier.get_layer("rhemo_encoder").set_weights(trained.get_layer("encoder").get_weights())
    for layer in classifier.layers:
        if layer.name.startswith("rhemo_") and layer.name.endswith("_head"):
            layer.set_weights(trained.get_layer(layer.name[len("rhemo_"):]).get_weights())
    return json.loads((Path(rhemo_dir) / METRICS_FILE).read_text())


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


def _measured(model, parts, progress):
    """Per-corpus test and validation metrics of the preset, from the audio files."""
    metrics = {}
    for part in ("test", "val"):
        result = evaluate_items(model, parts[part], progress=progress)
        metrics[part] = {
            corpus: {"accuracy": m["accuracy"], "uar": m["uar"], "macro_f1": m["macro_f1"], "clips": sum(m["support_per_class"].values())}
            for corpus, m in result["per_corpus"].items()
        }
    return metrics


def preset_from_run(run_dir, folder, name=None, description="", recipe=None, half_precision=True, overwrite=False,
                    progress=True):
    """Save a `keras-ser train` run (spectrogram or RH-emo features) as a preset, evaluated per corpus.

    `recipe` is the path of the run's TOML, for the reproduction commands of the model card.
    """
    run_dir = Path(run_dir)
    config = load_config(run_dir / "config.toml")
    data = config.data
    if data.features == "rhemo" and data.normalization not in ("auto", "none"):
        raise ValueError("presets of RH-emo runs need data.normalization 'auto' or 'none' (the encoder scales its input)")
    chosen = split_items(data, seed=config.seed)
    inference = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
    network = network_of(inference)
    rhemo, rhemo_metrics, commands = None, None, []
    if data.features == "rhemo":
        rhemo_dir = Path(data.rhemo_model).parent
        rhemo_metrics = json.loads((rhemo_dir / METRICS_FILE).read_text())
        rhemo = {"variant": rhemo_metrics["variant"], "head_units": rhemo_metrics.get("head_units", 4096),
                 "heads": list(VAD_HEADS)}
        normalizer = {"kind": "max", "maximum": rhemo_metrics["training_maximum"]}
        commands.append(_rhemo_command(rhemo_dir, rhemo_metrics))
    else:
        layer = inference.get_layer("normalizer") if any(l.name == "normalizer" for l in inference.layers) else None
        normalizer = None if layer is None else {
            "kind": "zscore" if "mean" in layer.statistics else "max", **layer.statistics}
    preprocessor = AudioPreprocessor(segment_seconds=data.segment_seconds, normalizer=normalizer, stft=data.stft())
    model = SERClassifier(chosen.class_names, network={"builder": config.model.builder, "variant": config.model.variant,
                                                       "options": dict(config.model.options)},
                          rhemo=rhemo, preprocessor=preprocessor, name=name or config.name)
    model.backbone.set_weights(network.get_weights())
    if rhemo is not None:
        _rhemo_parts(rhemo_dir, model)
    commands += [f"keras-ser train {recipe or '<config.toml>'} --run-dir {run_dir}",
                 f"keras-ser preset {run_dir} {folder}" + (f" --recipe {recipe}" if recipe else "")]
    run_metrics = json.loads((run_dir / METRICS_FILE).read_text())
    wall = run_metrics.get("wall_time_s", 0) + (rhemo_metrics or {}).get("wall_time_s", 0)
    metadata = {
        "name": name or config.name, "description": description,
        "architecture": ("RH-emo encoder + " if rhemo else "") + f"{config.model.variant} {config.model.builder}",
        "training_data": {"corpora": list(data.corpora), "classes": chosen.class_names,
                          "split": _split_description(data.split, data.fractions, data.test_corpus),
                          "split_kind": data.split,
                          "speakers": _speakers(chosen.parts), "seed": config.seed},
        "recipe": {"commands": commands, "config": (run_dir / "config.toml").read_text(), "hardware": _hardware(),
                   "wall_time_s": round(wall, 1), "best_epoch": run_metrics.get("best_epoch")},
        **_licensing(data.corpora),
    }
    save_preset(model, folder, metadata, half_precision=half_precision, overwrite=overwrite)
    return _evaluated(folder, chosen.parts, progress)


def rhemo_preset_from_run(rhemo_dir, folder, name="rhemo", description="", half_precision=True, overwrite=False,
                          progress=True):
    """Save a `keras-ser rhemo` run as a preset: the encoder and its emotion + V/A/D heads."""
    from keras_ser.datasets import load_corpus, select_classes, split_per_corpus

    rhemo_dir = Path(rhemo_dir)
    metrics = json.loads((rhemo_dir / METRICS_FILE).read_text())
    rhemo = {"variant": metrics["variant"], "head_units": metrics.get("head_units", 4096),
             "heads": ["emotion", *VAD_HEADS]}
    preprocessor = AudioPreprocessor(normalizer={"kind": "max", "maximum": metrics["training_maximum"]})
    model = SERClassifier(list(FOUR_CLASS), rhemo=rhemo, preprocessor=preprocessor, name=name)
    _rhemo_parts(rhemo_dir, model)
    items = [item for corpus in metrics["corpora"] for item in load_corpus(corpus)]
    parts = dict(zip(("train", "val", "test"), split_per_corpus(items, metrics["seed"], metrics.get("fractions", (0.7, 0.2, 0.1)))))
    parts = {part: select_classes(chosen, FOUR_CLASS)[0] for part, chosen in parts.items()}
    metadata = {
        "name": name, "description": description, "architecture": "RH-emo (encoder + emotion and V/A/D heads)",
        "training_data": {"corpora": metrics["corpora"], "classes": list(FOUR_CLASS),
                          "split": _split_description("per_corpus", metrics.get("fractions")), "split_kind": "per_corpus",
                          "speakers": _speakers(parts), "seed": metrics["seed"]},
        "recipe": {"commands": [_rhemo_command(rhemo_dir, metrics), f"keras-ser preset {rhemo_dir} {folder}"],
                   "config": json.dumps({k: metrics.get(k) for k in ("variant", "stage1", "stage2", "head_units")}, indent=1),
                   "hardware": _hardware(), "wall_time_s": metrics.get("wall_time_s")},
        **_licensing(metrics["corpora"]),
    }
    save_preset(model, folder, metadata, half_precision=half_precision, overwrite=overwrite)
    return _evaluated(folder, parts, progress)


def _evaluated(folder, parts, progress):
    """Load the saved preset back (as users will), measure it, and rewrite its metadata and card."""
    from keras_ser.presets.loading import load

    model = load(str(folder))
    metadata = dict(model.metadata)
    metadata["metrics"] = _measured(model, parts, progress)
    metadata["recipe"]["date"] = metadata["created"]
    from keras_ser.hub.card import card_text
    from keras_ser.presets.files import CARD_FILE, METADATA_FILE, write_json

    write_json(folder, METADATA_FILE, metadata)
    (Path(folder) / CARD_FILE).write_text(card_text(metadata))
    return metadata
