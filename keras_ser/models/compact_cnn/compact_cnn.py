"""A compact CNN with global pooling: a fast network for the recipe and cross-corpus experiments.

Not from the thesis. Its global pooling over time makes it indifferent to where in a window
speech sits, which random crops need, and it costs far less per clip than A3's
flatten-to-dense classifier on full-size spectrograms.
"""

import keras

from keras_ser.models.pooling import TemporalStatisticsPooling
from keras_ser.models.variants import LayerFactory, check_num_classes, output_layer, resolve_input_shape

FILTERS = (16, 32, 64, 64)
POOLINGS = ("average", "statistics", "audio_statistics")


def compact_cnn(variant="real", num_classes=4, input_shape=None, filters=FILTERS, dropout=0.3,
                classifier_activation="softmax", scales=None, mts_layers=None, l2=0.0, pooling="average",
                name="compact_cnn"):
    """Blocks of conv 3x3 - batch norm - ReLU - 2x2 max pool, one per entry of `filters`, then global
    pooling, dropout and the predictions.

    `pooling="average"` averages the last map over time and frequency; `"statistics"` takes each
    (frequency, channel) feature's mean and standard deviation over time (`TemporalStatisticsPooling`);
    `"audio_statistics"` the same over the input's audio frames only, padding left out.

    The MTS variant puts MTS in conv layers 1 and 2 unless `mts_layers` says otherwise; the
    quaternion variant needs every entry of `filters` divisible by 4.
    """
    check_num_classes(num_classes, name)
    filters = tuple(filters)
    if not filters or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in filters):
        raise ValueError(f"{name}: filters must be a non-empty list of positive integers, got {filters!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"{name}: pooling must be one of {POOLINGS}, got {pooling!r}")
    min_size = 2 ** len(filters)  # every block halves both axes
    shape = resolve_input_shape(variant, input_shape, name, (min_size, min_size))
    layers = LayerFactory(variant, name, scales=scales, mts_layers=mts_layers, default_mts_layers=(1, 2), l2=l2)
    inputs = keras.Input(shape, name="inputs")
    x = inputs
    for block, width in enumerate(filters, start=1):
        x = layers.conv(x, width, 3, name=f"conv{block}", padding=1, use_bias=False)
        x = layers.batch_norm(x, name=f"bn{block}")
        x = keras.layers.ReLU(name=f"relu{block}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{block}")(x)
    layers.finish()
    if pooling == "average":
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    else:
        x = TemporalStatisticsPooling(name="statistics_pool")(
            x, spectrogram=inputs if pooling == "audio_statistics" else None)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = output_layer(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)
