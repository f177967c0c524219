"""Evaluating a classifier on labelled corpus items, and fine-tuning it on them."""

import keras
import numpy as np

from keras_ser.training.metrics import aggregate_windows, classification_metrics


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


def _windows(model, items, progress):
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
    """Clip-level metrics (accuracy, UAR, macro-F1, confusion matrix) of `model` on items, overall and per corpus."""
    items = list(items)
    if not items:
        raise ValueError("evaluate_items needs at least one item")
    labels = item_labels(items, model.class_names)
    windows, owners = _windows(model, items, progress)
    probabilities = model.score_windows(windows, batch_size=batch_size)["emotion"]
    clips, pooled = aggregate_windows(probabilities, owners, method="mean")
    corpora = np.array([items[clip].corpus for clip in clips])
    result = classification_metrics(labels[clips], pooled, model.class_names)
    result["per_corpus"] = {
        str(corpus): classification_metrics(labels[clips][corpora == corpus], pooled[corpora == corpus], model.class_names)
        for corpus in sorted(set(corpora))
    }
    return result


def fine_tune(model, train_items, validation_items=None, epochs=10, batch_size=16, learning_rate=1e-4,
              patience=3, progress=True):
    """Train `model` (audio in) on labelled items, early-stopping on validation loss; returns the History.

    The RH-emo encoder and heads stay frozen; everything else trains.
    """
    x, owners = _windows(model, list(train_items), progress)
    y = item_labels(list(train_items), model.class_names)[owners]
    validation, callbacks = None, []
    if validation_items:
        vx, v_owners = _windows(model, list(validation_items), progress)
        validation = (vx, item_labels(list(validation_items), model.class_names)[v_owners])
        callbacks.append(keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model.fit(x, y, validation_data=validation, epochs=epochs, batch_size=batch_size, shuffle=True,
                     callbacks=callbacks, verbose="auto" if progress else 0)
