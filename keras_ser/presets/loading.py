"""Saving a classifier as a preset folder and loading it back, optionally with a new head."""

import datetime
import shutil
from pathlib import Path

import keras

from keras_ser.presets.classifier import SERClassifier
from keras_ser.presets.files import (
    CARD_FILE,
    CONFIG_FILE,
    FORMAT_VERSION,
    METADATA_FILE,
    PREPROCESSOR_FILE,
    WEIGHTS_FILE,
    PresetError,
    halve_precision,
    read_json,
    verify_weights,
    weights_entry,
    write_json,
)
from keras_ser.presets.preprocessor import AudioPreprocessor
from keras_ser.presets.registry import resolve
from keras_ser.version import __version__


def _classifier_from_folder(folder):
    config = read_json(folder, CONFIG_FILE)
    if config.get("class_name") != "SERClassifier" or config.get("format_version") != FORMAT_VERSION:
        raise PresetError(
            f"'{Path(folder) / CONFIG_FILE}' describes {config.get('class_name')!r} format "
            f"{config.get('format_version')!r}; this keras_ser (version {__version__}) reads SERClassifier "
            f"format {FORMAT_VERSION}"
        )
    preprocessor = AudioPreprocessor.from_config(read_json(folder, PREPROCESSOR_FILE))
    try:
        return SERClassifier(preprocessor=preprocessor, **config["config"])
    except (TypeError, ValueError, KeyError) as error:
        raise PresetError(f"'{Path(folder) / CONFIG_FILE}' does not describe a buildable model: {error}") from None


def with_new_head(model, num_classes=None, class_names=None, keep_known_classes=False):
    """A copy of `model` whose output layers (one per network of an ensemble) start fresh for new classes; every
    other weight is kept. `keep_known_classes`: each of `class_names` that `model` already has (by name, in any
    order) keeps its output weights, so that only the others start fresh."""
    known = [(new_index, model.class_names.index(name)) for new_index, name in enumerate(class_names or ())
             if keep_known_classes and name in model.class_names]  # (new row, old row) of each class kept
    if keep_known_classes and not known:
        raise ValueError(f"keep_known_classes needs class_names that the model has; it has {model.class_names}, "
                         f"got {class_names!r}")
    if class_names is None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        class_names = [f"class_{i}" for i in range(num_classes)]
    elif num_classes is not None and num_classes != len(class_names):
        raise ValueError(f"num_classes={num_classes} but {len(class_names)} class_names were given: {class_names}")
    config = {**model.get_config(), "class_names": list(class_names), "temperature": 1.0}  # a new head is uncalibrated
    config.pop("preprocessor")
    new = SERClassifier(preprocessor=model.preprocessor, **config)
    head = {id(variable) for layer in new.head_layers for variable in layer.weights}
    for old_variable, new_variable in zip(model.weights, new.weights, strict=True):
        if id(new_variable) not in head:
            new_variable.assign(old_variable)
    if known:
        rows, old_rows = (list(indices) for indices in zip(*known))
        for old_layer, new_layer in zip(model.head_layers, new.head_layers, strict=True):
            for old_variable, new_variable in zip(old_layer.weights, new_layer.weights, strict=True):
                values = keras.ops.convert_to_numpy(new_variable).copy()  # the class axis is the last
                values[..., rows] = keras.ops.convert_to_numpy(old_variable)[..., old_rows]
                new_variable.assign(values)
    base = getattr(model, "metadata", {}) or {}
    new.metadata = {"base_model": base.get("name", model.name), "license": base.get("license"),
                    "data_licenses": base.get("data_licenses", {})}
    return new


def load(name, num_classes=None, class_names=None, force_download=False, *, keep_known_classes=False):
    """A ready `SERClassifier` from a zoo name, a preset folder or 'hf://org/name'.

    With `num_classes` and/or `class_names` the output layer (each network's, in
    an ensemble) is re-initialised for fine-tuning on those classes; with
    `keep_known_classes`, a class the preset has (by name) keeps its output
    weights. Weights are checked against the sha256 in metadata.json before loading.
    """
    if keep_known_classes and class_names is None:
        raise ValueError("keep_known_classes matches the output layers' classes by name: give class_names too")
    folder = resolve(name, force_download=force_download)
    metadata = read_json(folder, METADATA_FILE)
    verify_weights(folder, metadata)
    model = _classifier_from_folder(folder)
    try:
        model.load_weights(folder / WEIGHTS_FILE)
    except (ValueError, OSError, KeyError) as error:
        raise PresetError(f"'{folder / WEIGHTS_FILE}' does not fit the model of {CONFIG_FILE}: {error}") from None
    model.metadata = metadata
    if num_classes is not None or class_names is not None:
        return with_new_head(model, num_classes, class_names, keep_known_classes)
    return model


def save_preset(model, folder, metadata=None, half_precision=False, overwrite=False):
    """Write `model` (a SERClassifier) as a preset folder and return its path.

    `metadata` entries (description, training_data, metrics, recipe, license,
    data_licenses, …) are merged over `model.metadata`. `half_precision` stores
    large weight arrays as float16 (half the size; they load back as float32).
    """
    if not isinstance(model, SERClassifier):
        raise TypeError(f"save_preset needs a keras_ser SERClassifier (from keras_ser.load), got {type(model).__name__}")
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"'{folder}' exists and is not empty; pass overwrite=True to replace it")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = model.get_config()
    preprocessor = config.pop("preprocessor")
    write_json(folder, CONFIG_FILE, {"class_name": "SERClassifier", "format_version": FORMAT_VERSION, "config": config})
    write_json(folder, PREPROCESSOR_FILE, preprocessor)
    model.save_weights(folder / WEIGHTS_FILE)
    dtype = halve_precision(folder / WEIGHTS_FILE) if half_precision else "float32"
    trainable = sum(int(keras.ops.size(v)) for v in model.trainable_weights)
    merged = {**(getattr(model, "metadata", None) or {}), **(metadata or {})}
    merged.update({
        "name": merged.get("name") or folder.name,
        "class_names": model.class_names,
        "outputs": ["emotion", *model.dimension_names],
        "parameters": {"total": int(model.count_params()), "trainable": trainable},
        "versions": {"keras": keras.__version__, "keras_ser": __version__, "backend": keras.backend.backend()},
        "weights": {WEIGHTS_FILE: weights_entry(folder / WEIGHTS_FILE, dtype)},
        "created": merged.get("created") or datetime.date.today().isoformat(),
    })
    write_json(folder, METADATA_FILE, merged)
    from keras_ser.hub.card import card_text

    (folder / CARD_FILE).write_text(card_text(merged))
    model.metadata = merged
    return folder
