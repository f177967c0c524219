"""Explanations of a model's predictions: Grad-CAM maps over the input spectrogram, and their plots.

Names load on first use, so importing the package does not import Keras.
"""

from keras_ser.lazy import lazy_attributes

_EXPORTS = {
    "GradCAM": "cam",
    "grad_cam": "cam",
    "plot_grad_cam": "plot",
}


__getattr__ = lazy_attributes(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
