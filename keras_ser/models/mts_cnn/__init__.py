"""The multi-time-scale CNNs of Ch. 4: A1, A2, A3 and A4 (AlexNet with MTS)."""

from keras_ser.models.mts_cnn.architectures import a1, a2, a3, a4

__all__ = ["a1", "a2", "a3", "a4"]
