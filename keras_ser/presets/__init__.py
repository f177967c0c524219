"""Presets: the folder format of zoo models, `load`, `list_models`, and the `SERClassifier` they build.

Names load on first use, so listing the zoo does not import Keras.
"""

from keras_ser.lazy import lazy_attributes

_EXPORTS = {
    "AudioPreprocessor": "preprocessor",
    "Prediction": "classifier",
    "PresetError": "files",
    "SERClassifier": "classifier",
    "ShortAudioWarning": "classifier",
    "SilentAudioWarning": "classifier",
    "Timeline": "timeline",
    "UnvoicedAudioWarning": "classifier",
    "list_models": "registry",
    "load": "loading",
    "model_info": "registry",
    "resolve": "registry",
    "save_preset": "loading",
    "with_new_head": "loading",
    "zoo_dir": "registry",
}


__getattr__ = lazy_attributes(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
