"""A KerasTuner HyperModel of one run configuration whose searched settings come from a search space."""

import copy

import keras
import keras_tuner

from keras_ser.layers import conv_layers
from keras_ser.training.config import ConfigError
from keras_ser.training.averaging import averaged_weights
from keras_ser.training.callbacks import VAL_UAR, ValidationUAR, monitor_mode
from keras_ser.training.loader import epoch_draws
from keras_ser.training.run import build_network, compile_for_training
from keras_ser.training.strategies import load_orthogonal, wrap_for_strategy

OBJECTIVE = VAL_UAR
OBJECTIVE_DIRECTION = "max"


def objective():
    """The tuning objective: clip-level unweighted average recall on the validation part, maximised."""
    return keras_tuner.Objective(OBJECTIVE, direction=OBJECTIVE_DIRECTION)


class SERHyperModel(keras_tuner.HyperModel):
    """Builds and trains `base` (a RunConfig) with the hyperparameters of `space` (see `parse_space`).

    `data` is the PreparedData of `base.data`, prepared once and shared by all
    trials. Hyperparameters: ``at_layer`` (int), ``beta`` (magnitude) with
    ``beta_sign`` (when both signs are searched), ``orthogonal`` (a name of
    ``space["orthogonal"]``), ``learning_rate`` and ``scales`` (a scale-set label).
    """

    def __init__(self, base, space, data):
        super().__init__(name=base.name)
        self.base = base
        self.data = data
        self.space = dict(space)
        if "at_layer" in space:
            count = len(conv_layers(build_network(base, data.input_shape, len(data.class_names))))
            layers = list(range(1, count + 1)) if space["at_layer"] == "all" else space["at_layer"]
            if max(layers) > count:
                raise ConfigError("space.at_layer", f"model {base.model.builder!r} has conv layers 1..{count}, "
                                                    f"got {max(layers)}")
            self.space["at_layer"] = layers
            keras.backend.clear_session()

    def config_for(self, hp):
        """The RunConfig of the hyperparameters `hp` (declaring them in `hp` when new)."""
        config = copy.deepcopy(self.base)
        space = self.space
        if "at_layer" in space:
            config.strategy.at_layers = [hp.Choice("at_layer", space["at_layer"])]
        if "beta" in space:
            beta = space["beta"]
            magnitude = hp.Float("beta", beta["min"], beta["max"], sampling="log")
            sign = hp.Choice("beta_sign", beta["signs"]) if len(beta["signs"]) > 1 else beta["signs"][0]
            config.strategy.beta = sign * magnitude
        if "orthogonal" in space:
            config.strategy.orthogonal = [space["orthogonal"][hp.Choice("orthogonal", list(space["orthogonal"]))]]
        if "learning_rate" in space:
            lr = space["learning_rate"]
            config.optimizer.learning_rate = hp.Float("learning_rate", lr["min"], lr["max"], sampling="log")
        if "scales" in space:
            label = hp.Choice("scales", space["scales"])
            config.model.options = {**config.model.options, "scales": [float(s) for s in label.split(",")]}
        return config.validate()

    def build(self, hp):
        return build_trial_model(self.config_for(hp), self.data)

    def fit(self, hp, model, callbacks=(), epochs=None, initial_epoch=0, verbose=0, **kwargs):
        """Train on the shared data; every epoch's logs carry `val_uar`. Hyperband passes epochs/initial_epoch."""
        return fit_trial_model(self.base, model, self.data, callbacks, epochs, initial_epoch, verbose, **kwargs)


def build_trial_model(config, data):
    """The compiled model (network wrapped for its strategy) of one trial's run configuration."""
    keras.utils.set_random_seed(config.seed)
    network = build_network(config, data.input_shape, len(data.class_names))
    orthogonal = config.strategy.orthogonal
    pretrained = load_orthogonal(orthogonal[0], member=config.seed) if orthogonal else None
    model = wrap_for_strategy(network, config.strategy, pretrained)
    steps_per_epoch = len(data.train_dataset(config.training.batch_size, seed=config.seed))
    compile_for_training(model, config.optimizer, soft_labels=data.soft_labels, steps_per_epoch=steps_per_epoch)
    return model


def fit_trial_model(config, model, data, callbacks=(), epochs=None, initial_epoch=0, verbose=0, **kwargs):
    """Fit with early stopping as `config.training` says; every epoch's logs carry `val_uar`."""
    t = config.training
    stopper = keras.callbacks.EarlyStopping(t.monitor, patience=t.patience, mode=monitor_mode(t.monitor))
    train_data = data.train_dataset(t.batch_size, seed=config.seed)
    return model.fit(
        train_data,
        validation_data=data.arrays("val"),
        shuffle=False,  # the dataset shuffles itself, seeded
        epochs=epochs or t.epochs,
        initial_epoch=initial_epoch,
        verbose=verbose,
        callbacks=[*averaged_weights(config.optimizer), *epoch_draws(train_data), ValidationUAR(data, t.batch_size),
                   stopper, *_reduce_lr(t), *callbacks],
        **kwargs,
    )


def _reduce_lr(training):
    if not training.reduce_lr_patience:
        return []
    return [keras.callbacks.ReduceLROnPlateau(training.monitor, factor=training.reduce_lr_factor,
                                              patience=training.reduce_lr_patience, mode=monitor_mode(training.monitor))]
