"""RH-emo: the real-quaternion hybrid autoencoder that turns spectrograms into quaternion embeddings."""

from keras_ser.models.rhemo.architecture import (
    HEAD_CHANNELS,
    RHEMO_VARIANTS,
    rhemo,
    rhemo_decoder,
    rhemo_encoder,
    rhemo_head,
)
from keras_ser.models.rhemo.front_end import COMPRESSIONS, NORMALIZATIONS, check_front_end, rhemo_input
from keras_ser.models.rhemo.layers import ChannelMean, SelectChannel
from keras_ser.models.rhemo.training import (
    ALPHA,
    BETA,
    STAGE1,
    STAGE2,
    TrainingStage,
    embed,
    fit_rhemo,
    rhemo_autoencoder,
    rhemo_losses,
    rhemo_targets,
)

__all__ = [
    "ALPHA",
    "BETA",
    "COMPRESSIONS",
    "ChannelMean",
    "HEAD_CHANNELS",
    "NORMALIZATIONS",
    "RHEMO_VARIANTS",
    "STAGE1",
    "STAGE2",
    "SelectChannel",
    "TrainingStage",
    "check_front_end",
    "embed",
    "fit_rhemo",
    "rhemo",
    "rhemo_autoencoder",
    "rhemo_decoder",
    "rhemo_encoder",
    "rhemo_head",
    "rhemo_input",
    "rhemo_losses",
    "rhemo_targets",
]
