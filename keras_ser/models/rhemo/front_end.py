"""RH-emo's input options: how linear magnitude spectrograms are brought into the [0, 1] its decoder reconstructs."""

import keras

COMPRESSIONS = ("linear", "log")
NORMALIZATIONS = ("max", "utterance")
THESIS_FRONT_END = {"compression": "linear", "normalization": "max"}  # the defaults


def check_front_end(compression, normalization):
    """Raise a ValueError naming an option whose value is not allowed, or the pair log + max."""
    for option, value, allowed in (("compression", compression, COMPRESSIONS),
                                   ("normalization", normalization, NORMALIZATIONS)):
        if value not in allowed:
            raise ValueError(f"RH-emo {option} {value!r} is not one of {', '.join(allowed)}")
    if compression == "log" and normalization == "max":
        raise ValueError("RH-emo compression 'log' needs normalization 'utterance': log magnitudes below 1 are "
                         "negative, so scaling by the training maximum does not bring them into [0, 1]")


def rhemo_input(features, normalizer):
    """`normalizer` (a `keras_ser.audio` normaliser) applied to `features`, then RH-emo's squash of a z-score.

    RH-emo's sigmoid decoder and binary cross-entropy need input in [0, 1]. Max scaling (the thesis) gives
    it; the per-utterance z-score ("utterance", our adaptation) is unbounded, so the logistic function
    1 / (1 + exp(-z)) maps it into (0, 1).
    """
    features = normalizer(features)
    if normalizer.kind == "utterance":
        features = keras.layers.Activation("sigmoid", name="logistic")(features)
    return features
