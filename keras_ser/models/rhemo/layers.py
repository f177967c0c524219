"""Two small layers RH-emo needs: a channel picker for its heads and the split-mean output map."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ser")
class SelectChannel(keras.layers.Layer):
    """(B, H, W, C) → (B, H, W): channel `channel` of a channels-last feature map."""

    def __init__(self, channel, **kwargs):
        super().__init__(**kwargs)
        self.channel = int(channel)

    def build(self, input_shape):
        if len(input_shape) != 4 or not 0 <= self.channel < input_shape[-1]:
            raise ValueError(
                f"{self.name}: cannot take channel {self.channel} of a feature map shaped {tuple(input_shape)}; "
                "expected (batch, height, width, channels) with more channels"
            )

    def call(self, x):
        return x[..., self.channel]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self):
        return {**super().get_config(), "channel": self.channel}


@keras.saving.register_keras_serializable(package="keras_ser")
class ChannelMean(keras.layers.Layer):
    """(B, H, W, C) → (B, H, W, 1): the mean over channels (RH-emo's quaternion-to-real map)."""

    def call(self, x):
        return ops.mean(x, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)
