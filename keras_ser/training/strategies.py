"""The training strategies of Fig. 5.2: baseline, weight initialisation (frozen or not), anti-transfer."""

from pathlib import Path

import keras

from keras_ser.layers import AntiTransferModel, conv_layers, find_conv_layer
from keras_ser.training.config import AT_STRATEGIES, ConfigError

MODEL_FILE = "model.keras"


def network_of(model):
    """The network inside a run's model.keras (its last layer, behind the normaliser), else `model` itself."""
    last = model.layers[-1]
    return last if isinstance(last, keras.Model) else model


def orthogonal_source(path):
    """What `strategy.orthogonal` names: ("file", its `.keras` file), for a file or a finished run directory, or
    ("preset", its folder), for a keras-ser preset (a zoo name, a preset folder or 'hf://org/name')."""
    from keras_ser.presets.files import PresetError
    from keras_ser.presets.registry import resolve

    candidate = Path(path)
    if candidate.is_dir() and (candidate / MODEL_FILE).is_file():
        return "file", candidate / MODEL_FILE
    if candidate.is_file():
        return "file", candidate
    try:
        return "preset", resolve(path)
    except PresetError as error:
        raise ConfigError(
            "strategy.orthogonal",
            f"no model at '{path}': give a .keras file, the directory of a finished run, or a keras-ser preset "
            f"(a zoo name such as logmel-cnn-x3, or a preset folder) ({error})",
        ) from None


def load_orthogonal(path, member=0):
    """A pretrained network from a `.keras` file, a finished run directory (its model.keras) or a keras-ser
    preset; of a seed ensemble preset, its network number `member` modulo the ensemble's size (a run with seed
    s takes member s)."""
    kind, found = orthogonal_source(path)
    if kind == "file":
        return network_of(keras.saving.load_model(found, compile=False))
    from keras_ser.presets import load

    networks = load(str(found)).networks
    if not networks:
        raise ConfigError("strategy.orthogonal", f"preset '{path}' has no network of its own (only RH-emo's heads)")
    return networks[member % len(networks)]


def initialise_from(model, pretrained):
    """Copy the weights of every conv layer of `pretrained` into the same conv layer of `model`."""
    ours, theirs = conv_layers(model), conv_layers(pretrained)
    if len(ours) != len(theirs):
        raise ConfigError(
            "strategy.orthogonal",
            f"the orthogonal model has {len(theirs)} conv layers, the task model {len(ours)}: use the same architecture",
        )
    for target, source in zip(ours, theirs):
        try:
            target.set_weights(source.get_weights())
        except ValueError as error:
            raise ConfigError("strategy.orthogonal", f"conv layer '{target.name}' does not match: {error}") from None


def freeze_up_to(model, layer_spec):
    """Freeze conv layers 1..l (l given by 1-based number or name)."""
    try:
        last = find_conv_layer(model, layer_spec)
    except ValueError as error:
        raise ConfigError("strategy.at_layers", str(error)) from None
    for layer in conv_layers(model):
        layer.trainable = False
        if layer is last:
            break


def wrap_for_strategy(model, strategy, pretrained):
    """The model to fit: `model` itself, or an AntiTransferModel around it."""
    if strategy.kind in ("weight_init", "weight_init_frozen"):
        initialise_from(model, pretrained)
        if strategy.kind == "weight_init_frozen":
            freeze_up_to(model, strategy.at_layers[-1])
        return model
    if strategy.kind in AT_STRATEGIES:
        try:
            return AntiTransferModel(
                model, pretrained, strategy.at_layers, beta=strategy.beta,
                aggregation=strategy.aggregation, similarity=strategy.similarity,
            )
        except ValueError as error:
            raise ConfigError("strategy.at_layers", str(error)) from None
    return model
