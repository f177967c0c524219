"""Sharing presets: `save_preset`, `publish` to the Hugging Face Hub, and model cards."""

from keras_ser.hub.card import card_text, model_card, write_card, zoo_model_cards
from keras_ser.hub.publish import publish
from keras_ser.presets.loading import save_preset

__all__ = ["card_text", "model_card", "publish", "save_preset", "write_card", "zoo_model_cards"]
