"""The ResNet family."""

from keras_ser.models.resnet.resnet import resnet18, resnet50

__all__ = ["resnet18", "resnet50"]
