"""The weights' exponential moving average: an optimizer that keeps it, with a warm-up, and the callback that
puts it in the network for validation, early stopping and saving."""

import functools
import types

import keras
from keras import ops


def averaging_optimizer(optimizer_class, momentum, warm_up="tenth", **kwargs):
    """`optimizer_class(**kwargs)` keeping the weights' moving average at `momentum` per step, warmed up.

    Keras starts the average at the first step's weights and moves it at `momentum` from there, so a run of
    fewer steps than about 1 / (1 - momentum) ends with an average of mostly the first steps' weights (a small
    corpus's network then stays at chance). `warm_up="tenth"`, as TensorFlow's
    `ExponentialMovingAverage(num_updates=...)`: the momentum at step t is min(momentum, (1 + t) / (10 + t)), so
    the average spans about the last tenth of the steps so far until it reaches `momentum` (after 1790 steps at
    0.995). `warm_up="mean"`: min(momentum, t / (1 + t)), the plain mean of all steps so far until it spans
    1 / (1 - momentum) steps.
    """
    if warm_up not in WARM_UPS:
        raise ValueError(f"warm_up must be one of {sorted(WARM_UPS)}, got {warm_up!r}")
    optimizer = optimizer_class(use_ema=True, ema_momentum=momentum, **kwargs)
    update = functools.partial(_update_warmed_up_average, warm_up=WARM_UPS[warm_up])
    optimizer._update_model_variables_moving_average = types.MethodType(update, optimizer)
    return optimizer


def epochs_momentum(epochs, steps_per_epoch):
    """The per-step momentum of an average spanning about the last `epochs` epochs: 1 - 1 / (epochs x steps)."""
    steps = epochs * steps_per_epoch
    if steps <= 1:
        raise ValueError(f"an average over {epochs} epoch(s) of {steps_per_epoch} step(s) spans {steps:g} steps; "
                         "it needs more than one: average over more epochs")
    return 1 - 1 / steps


def is_momentum(value):
    """Whether `value` is a number in [0, 1) (0: no averaging), as `ema_momentum` takes."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value < 1


def warmed_up_momentum(momentum, step):
    """The momentum of the average's update after step `step` (0 at the first step, where the average starts),
    warmed up over the last tenth of the steps."""
    step = ops.cast(step, "float32")
    return ops.where(ops.equal(step, 0), 0.0, ops.minimum(momentum, (1 + step) / (10 + step)))


def mean_first_momentum(momentum, step):
    """The momentum of the average's update after step `step`, a plain mean of the steps until it reaches
    `momentum` (0 at the first step)."""
    step = ops.cast(step, "float32")
    return ops.minimum(momentum, step / (1 + step))


WARM_UPS = {"tenth": warmed_up_momentum, "mean": mean_first_momentum}


def _update_warmed_up_average(optimizer, trainable_variables, warm_up):
    momentum = warm_up(optimizer.ema_momentum, optimizer.iterations)
    for variable, average in zip(trainable_variables, optimizer._model_variables_moving_average):
        if average is not None:
            share = ops.cast(momentum, variable.dtype)
            average.assign(share * average + (1 - share) * variable)


def averaged_weights(optimizer_config):
    """With `optimizer.ema_momentum` or `optimizer.ema_epochs`: the callback that puts the weights' moving average
    in the network at each epoch's end (validation, early stopping and saving see it) and the raw weights back for
    the next epoch."""
    averaging = optimizer_config.ema_momentum or optimizer_config.ema_epochs
    return [SwapAveragedWeights(swap_on_epoch=True)] if averaging else []


class SwapAveragedWeights(keras.callbacks.SwapEMAWeights):
    """`keras.callbacks.SwapEMAWeights` whose swaps copy values. Keras's assign one variable to the other, which
    on JAX leaves both on one buffer; the validation step donates the weights' buffers and so deletes the average."""

    def _backend_swap_variables(self, optimizer):
        for weight, average in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average):
            raw = keras.ops.convert_to_numpy(weight)
            weight.assign(keras.ops.convert_to_numpy(average))
            average.assign(raw)

    def _backend_finalize_ema_values(self, optimizer):
        for weight, average in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average):
            average.assign(keras.ops.convert_to_numpy(weight))
