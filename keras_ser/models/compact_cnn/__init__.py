"""The compact CNN: the fast network of the recipe experiments."""

from keras_ser.models.compact_cnn.compact_cnn import compact_cnn

__all__ = ["compact_cnn"]
