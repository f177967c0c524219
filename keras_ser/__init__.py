"""keras-ser: speech emotion recognition for Keras 3."""

import importlib

from keras_ser.version import __version__

_SUBMODULES = ("audio", "datasets", "explain", "hub", "layers", "models", "presets", "training", "tuning")
# Top-level functions and the module that defines them.
_FUNCTIONS = {"load": "keras_ser.presets.loading", "list_models": "keras_ser.presets.registry"}


def __getattr__(name):
    # Submodules load on first use so that `import keras_ser` stays cheap.
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_ser.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'keras_ser' has no attribute {name!r}")


__all__ = ["__version__", *_FUNCTIONS, *_SUBMODULES]
