"""keras-ser: speech emotion recognition for Keras 3."""

import importlib

from keras_ser.version import __version__

_SUBMODULES = ("audio", "datasets", "layers", "models", "training")


def __getattr__(name):
    # Submodules load on first use so that `import keras_ser` stays cheap.
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_ser.{name}")
    raise AttributeError(f"module 'keras_ser' has no attribute {name!r}")


__all__ = ["__version__", *_SUBMODULES]
