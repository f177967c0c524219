"""Evaluating a classifier on labelled corpus items, and fine-tuning it on them."""

import contextlib
import math
import warnings

import keras
import numpy as np

from keras_ser.training.averaging import SwapAveragedWeights, averaging_optimizer, epochs_momentum
from keras_ser.training.callbacks import VAL_UAR, ValidationUAR, monitor_mode
from keras_ser.training.metrics import aggregate_windows, classification_metrics

MONITORS = (VAL_UAR, "val_loss")


def item_labels(items, class_names):
    """Class indices of corpus items: the corpus's own label, else its vocabulary name, must be a class name."""
    index = {name: i for i, name in enumerate(class_names)}
    labels = []
    for item in items:
        for label in (item.emotion, item.canonical):
            if label in index:
                labels.append(index[label])
                break
        else:
            raise ValueError(
                f"'{item.path}' is labelled {item.emotion!r} (vocabulary: {item.canonical!r}), which is not one of "
                f"the model's classes {list(class_names)}; drop such items or load the model with class_names=[...]"
            )
    return np.asarray(labels, dtype=np.int64)


def item_windows(model, items, progress):
    """All windows of the items' audio and, per window, the index of its item."""
    bar = keras.utils.Progbar(len(items), unit_name="file") if progress else None
    windows, owners = [], []
    for i, item in enumerate(items):
        chunk = model.preprocessor.windows(model.preprocessor.load(item.path))
        windows.append(chunk)
        owners.append(np.full(len(chunk), i))
        if bar is not None:
            bar.update(i + 1)
    return np.concatenate(windows), np.concatenate(owners)


def evaluate_items(model, items, batch_size=32, progress=True):
    """Clip-level metrics (accuracy, UAR, macro-F1, confusion matrix) of `model` on items, overall and per corpus.

    `model` may be a list of classifiers with the same classes: an ensemble, scored by the mean of
    their clip probabilities.
    """
    check_whole_number("batch_size", batch_size)
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    items = list(items)
    if not items or not models:
        raise ValueError("evaluate_items needs at least one item and one model")
    class_names = list(models[0].class_names)
    for other in models[1:]:
        if list(other.class_names) != class_names:
            raise ValueError(f"the models of an ensemble must have the same classes, in the same order: "
                             f"'{models[0].name}' has {class_names}, '{other.name}' {list(other.class_names)}")
    labels = item_labels(items, class_names)
    windows_by_front_end, clip_probabilities = [], []  # (preprocessor, (windows, owners)): computed once each
    for member in models:
        found = next((cached for preprocessor, cached in windows_by_front_end if preprocessor == member.preprocessor),
                     None)
        if found is None:
            found = item_windows(member, items, progress)
            windows_by_front_end.append((member.preprocessor, found))
        windows, owners = found
        probabilities = member.score_windows(windows, batch_size=batch_size)["emotion"]
        clips, pooled = aggregate_windows(probabilities, owners, method="mean")
        clip_probabilities.append(pooled)
    pooled = np.mean(clip_probabilities, axis=0)
    corpora = np.array([items[clip].corpus for clip in clips])
    result = classification_metrics(labels[clips], pooled, class_names)
    result["per_corpus"] = {
        str(corpus): classification_metrics(labels[clips][corpora == corpus], pooled[corpora == corpus], class_names)
        for corpus in sorted(set(corpora))
    }
    return result


def _class_weights(class_weight, labels, class_names):
    """Keras `class_weight` {index: weight}: "balanced" gives n / (k * count) over the labels' k classes."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str) and class_weight == "balanced":
        classes, counts = np.unique(labels, return_counts=True)
        return {int(c): len(labels) / (len(classes) * int(n)) for c, n in zip(classes, counts)}
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be 'balanced', None or a dict, got {class_weight!r}")
    weights = {}
    for key, value in class_weight.items():
        index = class_names.index(key) if key in class_names else key
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(class_names):
            raise ValueError(f"class_weight key {key!r} is neither a class name nor an index of {list(class_names)}")
        weights[int(index)] = float(value)
    return weights


class _ItemsUAR(ValidationUAR):
    """The validation metrics of windows under `predictor` (the classifier or one member of it): their
    probabilities averaged per clip, as in `evaluate_items`."""

    def __init__(self, predictor, class_names, data, batch_size):
        super().__init__(data, batch_size)
        self.predictor, self.class_names = predictor, class_names

    def metrics(self):
        windows, owners, labels = self.data
        probabilities = self.predictor.predict(windows, batch_size=self.batch_size, verbose=0)
        clips, pooled = aggregate_windows(probabilities, owners, method="mean")
        return classification_metrics(labels[clips], pooled, self.class_names)


def fine_tune(model, train_items, validation_items=None, epochs=20, batch_size=32, learning_rate=1e-3,
              patience=6, progress=True, *, monitor=VAL_UAR, class_weight=None, head_epochs=0,
              head_learning_rate=1e-3, ema_epochs=2, reduce_lr_patience=2, reduce_lr_factor=0.3):
    """Train `model` (audio in) on labelled items; returns the History of the whole network's epochs.

    The defaults are the schedule of the default model's recipe (zoo/recipes/logmel-cnn-x3.toml): Adam at
    1e-3 in batches of 32 for at most 20 epochs, the weights' moving average over about the last
    `ema_epochs` epochs (0: the last step's weights) validated, kept and returned, as
    `optimizer.ema_epochs` does in training. With validation items, the learning rate falls to
    `reduce_lr_factor` times after `reduce_lr_patience` epochs (0: never) without a better `monitor`,
    and training early-stops on it after `patience` epochs, restoring the best epoch's weights;
    `monitor` is "val_uar" (clip-level UAR, window probabilities averaged per clip) or "val_loss"
    (window level). `class_weight`: None (as the recipe trains), "balanced" (n / (k * count) over the
    training windows' k classes), or {class name or index: weight}. `head_epochs` > 0 first trains only the output
    layers (`model.head_layers`) that many epochs at `head_learning_rate`, the rest frozen (batch norm
    in inference mode), before the `epochs` of the whole network. The members of a seed ensemble are
    fine-tuned one after the other, each on its own loss and early-stopped on its own validation UAR,
    as they were trained; it then returns their Histories, a list. Warns when the training items name
    fewer than 3 speakers (None is not counted). The RH-emo encoder and heads stay frozen.
    """
    if monitor not in MONITORS:
        raise ValueError(f"unknown monitor {monitor!r}; choose one of {', '.join(MONITORS)}")
    check_whole_number("epochs", epochs, 1, "a whole number of epochs >= 1")
    check_whole_number("batch_size", batch_size, 1, "a whole number of windows >= 1")
    _check_whole_epochs("patience", patience)
    for name, rate in (("learning_rate", learning_rate), ("head_learning_rate", head_learning_rate)):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
                or not 0 < rate < math.inf:
            raise ValueError(f"{name} must be a number > 0 such as 1e-3, got {rate!r}")
    learning_rate, head_learning_rate = float(learning_rate), float(head_learning_rate)  # Keras takes no numpy float
    _check_whole_epochs("head_epochs", head_epochs)
    if isinstance(ema_epochs, bool) or not isinstance(ema_epochs, (int, float)) or not ema_epochs >= 0:
        raise ValueError(f"ema_epochs must be 0 (off) or a number of epochs > 0 such as 2, got {ema_epochs!r}")
    _check_whole_epochs("reduce_lr_patience", reduce_lr_patience, " (0: never)")
    if isinstance(reduce_lr_factor, bool) or not isinstance(reduce_lr_factor, (int, float)) \
            or not 0 < reduce_lr_factor < 1:
        raise ValueError(f"reduce_lr_factor must be between 0 and 1, exclusive, got {reduce_lr_factor!r}")
    if head_epochs and not model.networks:
        raise ValueError(f"head_epochs needs a network to freeze around its output layers; model '{model.name}' has "
                         "only RH-emo's frozen heads: fine-tune it with head_epochs=0")
    train_items, validation_items = list(train_items), list(validation_items or [])
    if not train_items:
        raise ValueError("fine_tune needs at least one training item")
    labels = item_labels(train_items, model.class_names)
    speakers = sorted({item.speaker for item in train_items if item.speaker is not None})
    if 0 < len(speakers) < 3:
        warnings.warn(
            f"fine-tuning on {len(speakers)} training speaker(s) ({', '.join(speakers)}): the model may learn "
            "these voices rather than emotions; use 3 or more speakers", stacklevel=2)
    x, owners = item_windows(model, train_items, progress)
    y = labels[owners]
    weights = _class_weights(class_weight, y, model.class_names)
    momentum = epochs_momentum(ema_epochs, math.ceil(len(x) / batch_size)) if ema_epochs else 0.0
    validation = None
    if validation_items:
        v_labels = item_labels(validation_items, model.class_names)
        vx, v_owners = item_windows(model, validation_items, progress)
        validation = (vx, v_labels[v_owners])
    verbose, histories = "auto" if progress else 0, []
    for trainee in _trainees(model):
        callbacks = [SwapAveragedWeights(swap_on_epoch=True)] if momentum else []  # first: all see the average
        if validation is not None:
            mode = monitor_mode(monitor)
            callbacks.append(_ItemsUAR(trainee, model.class_names, (vx, v_owners, v_labels), batch_size))  # first
            if reduce_lr_patience:
                callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor, factor=reduce_lr_factor,
                                                                   patience=reduce_lr_patience, mode=mode))
            callbacks.append(keras.callbacks.EarlyStopping(monitor, patience=patience, mode=mode,
                                                           restore_best_weights=True))
        if head_epochs:
            with _only_heads_trainable(model):
                _compile(trainee, head_learning_rate)
                trainee.fit(x, y, epochs=head_epochs, batch_size=batch_size, shuffle=True, class_weight=weights,
                            verbose=verbose)
        _compile(trainee, learning_rate, momentum)
        histories.append(trainee.fit(x, y, validation_data=validation, epochs=epochs, batch_size=batch_size,
                                     shuffle=True, class_weight=weights, callbacks=callbacks, verbose=verbose))
    return histories[0] if len(histories) == 1 else histories


def _check_whole_epochs(name, value, note=""):
    """Raise ValueError naming `name` unless `value` is a whole number (not a bool) >= 0."""
    check_whole_number(name, value, 0, f"a whole number of epochs >= 0{note}")


def check_whole_number(name, value, least=1, what="a whole number >= 1"):
    """Raise ValueError naming `name` (which must be `what`) unless `value` is a whole number (not a bool) >= least."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _trainees(model):
    """What `fit` trains: the model, or each member of a seed ensemble as a model of its own (audio to its
    probabilities), so that each learns from its own loss and stops at its own best epoch, as it was trained."""
    if len(model.networks) < 2:
        return [model]
    return [keras.Model(model.inputs, output, name=f"{model.name}_member_{i}")
            for i, output in enumerate(model.member_outputs)]


def _compile(model, learning_rate, ema_momentum=0.0):
    """Adam at `learning_rate`, keeping the weights' average at `ema_momentum` per step (a plain mean of the steps
    until it spans 1 / (1 - ema_momentum)), with cross-entropy and accuracy."""
    optimizer = (averaging_optimizer(keras.optimizers.Adam, ema_momentum, warm_up="mean", learning_rate=learning_rate)
                 if ema_momentum else keras.optimizers.Adam(learning_rate))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


@contextlib.contextmanager
def _only_heads_trainable(model):
    """Freeze every layer of the model's networks but their output layers; restore the flags on exit."""
    heads = {id(layer) for layer in model.head_layers}
    layers = [layer for network in model.networks for layer in network.layers if id(layer) not in heads]
    flags = [layer.trainable for layer in layers]
    for layer in layers:
        layer.trainable = False
    try:
        yield
    finally:
        for layer, flag in zip(layers, flags):
            layer.trainable = flag
