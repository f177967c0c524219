"""The AlexNet family."""

from keras_ser.models.alexnet.alexnet import alexnet

__all__ = ["alexnet"]
