"""Sharing presets: `save_preset`, `publish` to the Hugging Face Hub, and model cards (with comparison tables).

Names load on first use, so building model cards does not import Keras.
"""

from keras_ser.lazy import lazy_attributes

_EXPORTS = {
    "add_comparison": "comparison",
    "card_text": "card",
    "model_card": "card",
    "publish": "publish",
    "save_preset": "keras_ser.presets.loading",
    "scores_from_json": "comparison",
    "write_card": "card",
    "zoo_model_cards": "card",
}

__getattr__ = lazy_attributes(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
