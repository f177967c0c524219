"""RH-emo (Ch. 6): a real encoder, a quaternion decoder and four real heads on the embedding.

The encoder maps a (512, 128, 1) spectrogram in [0, 1] to a (64, 64, 4)
embedding, read as one quaternion channel [r | i | j | k]. Each embedding
channel feeds one head: channel 0 the discrete emotion (softmax), channels
1, 2, 3 binary high/low valence, arousal and dominance (sigmoid).
"""

from dataclasses import dataclass

import keras

from keras_ser.models.rhemo.layers import ChannelMean, SelectChannel
from keras_ser.models.variants import LayerFactory, check_num_classes

INPUT_SHAPE = (512, 128, 1)
EMBEDDING_CHANNELS = 4
# Embedding channel read by each head.
HEAD_CHANNELS = {"emotion": 0, "valence": 1, "arousal": 2, "dominance": 3}
VAD_HEADS = ("valence", "arousal", "dominance")
HEAD_UNITS = 4096


@dataclass(frozen=True)
class RHEmoVariant:
    """Which parts an RH-emo variant has: its decoder ("quaternion", "real" or None) and heads."""

    decoder: str | None
    heads: tuple


# The full model and the ablations of Fig. 6.3 (Sec. 6.4.1).
RHEMO_VARIANTS = {
    "full": RHEmoVariant("quaternion", ("emotion", *VAD_HEADS)),
    # A real decoder whose last layer outputs the single reconstruction channel (no split mean).
    "real_decoder": RHEmoVariant("real", ("emotion", *VAD_HEADS)),
    # The unsupervised real-quaternion autoencoder (like R2Hae).
    "reconstruction_only": RHEmoVariant("quaternion", ()),
    # No decoder: a supervised real CNN with the four heads.
    "emotion_only": RHEmoVariant(None, ("emotion", *VAD_HEADS)),
    "discrete_only": RHEmoVariant("quaternion", ("emotion",)),
    "vad_only": RHEmoVariant("quaternion", VAD_HEADS),
}


def rhemo_encoder(input_shape=INPUT_SHAPE, name="encoder"):
    """Conv 3x3 (2, 4, 4 ch) + ReLU + max pool (2x2, 2x1, 2x1), batch norm after blocks 1 and 2.

    (512, 128, 1) → (64, 64, 4). The embedding follows a ReLU and a max
    pooling, so it is non-negative. BN after both blocks follows the authors'
    code (the thesis text mentions only the first).
    """
    layers = LayerFactory("real", name)
    inputs = keras.Input(input_shape, name="spectrogram")
    x = inputs
    for block, (filters, pool) in enumerate(((2, (2, 2)), (4, (2, 1)), (EMBEDDING_CHANNELS, (2, 1))), start=1):
        x = layers.conv(x, filters, 3, name=f"conv{block}", padding=1, activation="relu")
        x = keras.layers.MaxPooling2D(pool, name=f"pool{block}")(x)
        if block < 3:
            x = layers.batch_norm(x, name=f"bn{block}")
    return keras.Model(inputs, x, name=name)


def rhemo_decoder(embedding_shape, quaternion=True, name="decoder"):
    """Transposed conv 3x3 stride (2,1), (2,1), 2 mirroring the encoder; returns the (512, 128, 1) reconstruction.

    Quaternion: quaternion transposed convs with ReLU + quaternion BN, a
    4-channel sigmoid output and the mean over its channels. Real: the same
    with real layers, the last one giving the single channel directly.
    """
    layers = LayerFactory("quaternion" if quaternion else "real", name)
    inputs = keras.Input(embedding_shape, name="embedding")
    x = inputs
    for block in (1, 2):
        x = layers.conv_transpose(x, EMBEDDING_CHANNELS, 3, name=f"deconv{block}", strides=(2, 1), activation="relu")
        x = layers.batch_norm(x, name=f"bn{block}")
    output_channels = EMBEDDING_CHANNELS if quaternion else 1
    x = layers.conv_transpose(x, output_channels, 3, name="deconv3", strides=2, activation="sigmoid")
    if quaternion:
        x = ChannelMean(name="channel_mean")(x)
    return keras.Model(inputs, x, name=name)


def rhemo_head(embedding_shape, head, num_classes, dropout, units=HEAD_UNITS, name=None):
    """Channel `HEAD_CHANNELS[head]` flattened - dense `units` - dropout - dense `units` - dropout - output."""
    inputs = keras.Input(embedding_shape, name="embedding")
    x = SelectChannel(HEAD_CHANNELS[head], name="select_channel")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    for index in (1, 2):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{index}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{index}")(x)
    if head == "emotion":
        x = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    else:
        x = keras.layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return keras.Model(inputs, x, name=name or f"{head}_head")


def rhemo(variant="full", num_classes=4, input_shape=INPUT_SHAPE, dropout=0.5, head_units=HEAD_UNITS, name="rhemo"):
    """Build RH-emo as a functional model with a dict of outputs.

    Outputs (those the variant has): "reconstruction" (B, 512, 128, 1),
    "emotion" (B, num_classes) softmax, "valence", "arousal", "dominance"
    (B, 1) sigmoid. The parts are nested models named "encoder", "decoder",
    "<head>_head". `variant` is one of RHEMO_VARIANTS: "full" or the Fig. 6.3
    ablations "real_decoder", "reconstruction_only", "emotion_only",
    "discrete_only", "vad_only". `head_units` is the width of the heads' two
    hidden dense layers (4096 in the thesis).
    """
    if variant not in RHEMO_VARIANTS:
        raise ValueError(f"unknown RH-emo variant {variant!r}: choose one of {', '.join(map(repr, RHEMO_VARIANTS))}")
    check_num_classes(num_classes, name)
    if not isinstance(head_units, int) or head_units < 1:
        raise ValueError(f"{name}: head_units must be a positive integer, got {head_units!r}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 1 or input_shape[0] % 8 or input_shape[1] % 2:
        raise ValueError(
            f"{name}: input_shape must be (time, frequency, 1) with time divisible by 8 and frequency by 2 "
            f"so that the decoder can mirror the encoder, e.g. {INPUT_SHAPE}; got {input_shape}"
        )
    parts = RHEMO_VARIANTS[variant]
    encoder = rhemo_encoder(input_shape)
    inputs = keras.Input(input_shape, name="spectrogram")
    embedding = encoder(inputs)
    embedding_shape = tuple(embedding.shape[1:])
    outputs = {}
    if parts.decoder is not None:
        decoder = rhemo_decoder(embedding_shape, quaternion=parts.decoder == "quaternion")
        outputs["reconstruction"] = decoder(embedding)
    for head in parts.heads:
        outputs[head] = rhemo_head(embedding_shape, head, num_classes, dropout, units=head_units)(embedding)
    return keras.Model(inputs, outputs, name=name)
