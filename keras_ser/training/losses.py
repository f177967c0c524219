"""Cross-entropy and accuracy taking integer labels or soft ones (mixup), so one compiled model trains on soft
labels and validates on integer ones."""

import keras
from keras import ops


def _soft(y_true, y_pred):
    """Whether `y_true` holds one probability row per example rather than class indices."""
    return len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1]


@keras.saving.register_keras_serializable(package="keras_ser")
def crossentropy(y_true, y_pred):
    """Categorical cross-entropy of soft labels, sparse categorical cross-entropy of integer ones."""
    if _soft(y_true, y_pred):
        return keras.losses.categorical_crossentropy(y_true, y_pred)
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="keras_ser")
def accuracy(y_true, y_pred):
    """Whether the most probable class is the label's (a soft label's most probable class)."""
    if _soft(y_true, y_pred):
        y_true = ops.argmax(y_true, axis=-1)
    return keras.metrics.sparse_categorical_accuracy(y_true, y_pred)
