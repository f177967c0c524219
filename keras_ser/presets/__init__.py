"""Presets: the folder format of zoo models, `load`, `list_models`, and the `SERClassifier` they build.

Names load on first use, so listing the zoo does not import Keras.
"""

import importlib

_EXPORTS = {
    "AudioPreprocessor": "preprocessor",
    "Prediction": "classifier",
    "PresetError": "files",
    "SERClassifier": "classifier",
    "list_models": "registry",
    "load": "loading",
    "model_info": "registry",
    "resolve": "registry",
    "save_preset": "loading",
    "with_new_head": "loading",
    "zoo_dir": "registry",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"keras_ser.presets.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'keras_ser.presets' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
