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


def orthogonal_file(path):
    """The model file of an orthogonal model given as a `.keras` file or a finished run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise ConfigError(
            "strategy.orthogonal",
            f"no model at '{path}': give a .keras file or the directory of a finished orthogonal-task run",
        )
    return path


def load_orthogonal(path):
    """A pretrained network from a `.keras` file or a finished run directory (its model.keras)."""
    return network_of(keras.saving.load_model(orthogonal_file(path), compile=False))


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
