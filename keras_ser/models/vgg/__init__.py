"""The VGG family."""

from keras_ser.models.vgg.vgg16 import vgg16

__all__ = ["vgg16"]
