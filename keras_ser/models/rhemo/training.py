"""Training RH-emo in the two stages of Sec. 6.2.4, and using its encoder."""

from dataclasses import dataclass

import keras
import numpy as np

from keras_ser.models.rhemo.architecture import VAD_HEADS

BETA = 0.01
ALPHA = 100.0


@dataclass(frozen=True)
class TrainingStage:
    """Optimiser and early-stopping settings of one RH-emo training stage (Adam)."""

    learning_rate: float
    batch_size: int
    epochs: int = 500  # an upper bound: early stopping ends sooner (the thesis gives no maximum)
    patience: int = 30
    minutes: float | None = None  # a wall-clock bound: the stage ends before an epoch would overrun it

    def __post_init__(self):
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"a training stage's time limit must be a positive number of minutes, "
                             f"got {self.minutes!r}")


# Stage 1: reconstruction only (beta = 0) on all data. The thesis used batch 20; its code 50.
STAGE1 = TrainingStage(learning_rate=1e-3, batch_size=50, patience=100)
# Stage 2: with the classification terms, on the 4-class subset.
STAGE2 = TrainingStage(learning_rate=1e-6, batch_size=20, patience=30)


def rhemo_losses(model, beta=BETA, alpha=ALPHA):
    """`compile` arguments (loss, loss_weights) for BCE(recon, x) + β·(CE + α·(BCE_v + BCE_a + BCE_d)).

    Only the terms of the outputs `model` has are included. Emotion targets are
    integer class indices; valence/arousal/dominance targets are 0 (low) or 1 (high).
    """
    loss, weights = {}, {}
    for output in _output_names(model):
        if output == "reconstruction":
            loss[output], weights[output] = keras.losses.BinaryCrossentropy(), 1.0
        elif output == "emotion":
            loss[output], weights[output] = keras.losses.SparseCategoricalCrossentropy(), beta
        else:
            loss[output], weights[output] = keras.losses.BinaryCrossentropy(), beta * alpha
    return loss, weights


def _output_names(model):
    return list(model.output.keys()) if isinstance(model.output, dict) else []


def rhemo_autoencoder(model):
    """Encoder + decoder of `model` as one model (sharing its weights), for stage 1."""
    if "reconstruction" not in _output_names(model):
        raise ValueError(f"{model.name} has no decoder, so it has no reconstruction stage")
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    inputs = keras.Input(model.input.shape[1:], name="spectrogram")
    return keras.Model(inputs, decoder(encoder(inputs)), name=f"{model.name}_autoencoder")


def _check_spectrograms(model, x, what, training=False):
    """`x` as float32, checked for shape and scaling.

    Training data, which set the scaling maximum, must lie in [0, 1]; other data
    (validation, embedding) scaled by the training maximum may exceed 1.
    """
    x = np.asarray(x, dtype=np.float32)
    expected = tuple(model.input.shape[1:])
    if x.ndim != 4 or x.shape[1:] != expected:
        raise ValueError(f"{what} must be shaped (N, {', '.join(map(str, expected))}), got {x.shape}")
    if x.size and (x.min() < 0 or (training and x.max() > 1)):
        raise ValueError(
            f"{what} must be magnitudes scaled to [0, 1] by the training set's maximum (RH-emo reconstructs them "
            f"with a binary cross-entropy); got values in [{x.min():.3g}, {x.max():.3g}]: scale with "
            "keras_ser.audio.MaxNormalizer"
        )
    return x


def rhemo_targets(model, spectrograms, emotions=None, vad=None, what="data", training=True):
    """(x, targets) for `model`'s outputs: x itself, class indices and (N, 3) 0/1 valence, arousal, dominance.

    With `training`, the spectrograms must lie in [0, 1] (see `fit_rhemo`).
    """
    x = _check_spectrograms(model, spectrograms, f"{what} spectrograms", training)
    targets = {}
    names = _output_names(model)
    if "reconstruction" in names:
        targets["reconstruction"] = x
    if "emotion" in names:
        if emotions is None:
            raise ValueError(f"{what}: {model.name} has an emotion head, so emotion labels are needed")
        emotions = np.asarray(emotions)
        classes = model.output["emotion"].shape[-1]
        if emotions.shape != (len(x),) or not np.issubdtype(emotions.dtype, np.integer):
            raise ValueError(
                f"{what}: emotions must be {len(x)} integer class indices, got {emotions.dtype} {emotions.shape}"
            )
        if emotions.size and (emotions.min() < 0 or emotions.max() >= classes):
            raise ValueError(
                f"{what}: emotion labels must lie in 0..{classes - 1}, got {emotions.min()}..{emotions.max()}"
            )
        targets["emotion"] = emotions
    if any(head in names for head in VAD_HEADS):
        if vad is None:
            raise ValueError(f"{what}: {model.name} has valence/arousal/dominance heads, so vad targets are needed")
        vad = np.asarray(vad, dtype=np.float32)
        if vad.shape != (len(x), 3) or ((vad != 0) & (vad != 1)).any():
            raise ValueError(
                f"{what}: vad must be a ({len(x)}, 3) array of 0 (low) / 1 (high) for valence, arousal, dominance; "
                f"got shape {vad.shape}"
            )
        for column, head in enumerate(VAD_HEADS):
            if head in names:
                targets[head] = vad[:, column : column + 1]
    return x, targets


def _fit_stage(model, stage, loss, loss_weights, train, validation, verbose, callbacks):
    model.compile(optimizer=keras.optimizers.Adam(stage.learning_rate), loss=loss, loss_weights=loss_weights)
    monitor = "val_loss" if validation is not None else "loss"
    stopping = keras.callbacks.EarlyStopping(monitor=monitor, patience=stage.patience, restore_best_weights=True)
    if stage.minutes is not None:
        from keras_ser.training.callbacks import TimeLimit  # here: keras_ser.training imports the models

        callbacks = [TimeLimit(60 * stage.minutes), *callbacks]
    return model.fit(
        *train,
        validation_data=validation,
        batch_size=stage.batch_size,
        epochs=stage.epochs,
        callbacks=[stopping, *callbacks],
        verbose=verbose,
    )


def fit_rhemo(
    model,
    spectrograms=None,
    validation_spectrograms=None,
    labelled=None,
    validation_labelled=None,
    stage1=STAGE1,
    stage2=STAGE2,
    beta=BETA,
    alpha=ALPHA,
    verbose=0,
    callbacks=(),
):
    """Train `model` (from `rhemo`) in two stages; return {"stage1": History, "stage2": History}.

    Stage 1 (β = 0) trains encoder + decoder to reconstruct `spectrograms`
    (N, 512, 128, 1) in [0, 1], all data. Stage 2 trains the whole model with
    the classification terms on `labelled` = (spectrograms, emotions, vad):
    integer labels of the 4-class subset and (N, 3) 0/1 valence, arousal,
    dominance targets. Validation sets have the same forms (scaled by the
    training maximum, so they may exceed 1) and drive early stopping (on the
    training loss without them); the best weights are restored. A stage runs only if its data is given and the model has the
    outputs it trains (no stage 1 without a decoder, no stage 2 without heads);
    pass stage1=None or stage2=None to skip one.
    """
    names = _output_names(model)
    histories = {"stage1": None, "stage2": None}
    if stage1 is not None and spectrograms is not None and "reconstruction" in names:
        autoencoder = rhemo_autoencoder(model)
        x = _check_spectrograms(model, spectrograms, "spectrograms", training=True)
        validation = None
        if validation_spectrograms is not None:
            v = _check_spectrograms(model, validation_spectrograms, "validation spectrograms")
            validation = (v, v)
        loss = keras.losses.BinaryCrossentropy()
        histories["stage1"] = _fit_stage(autoencoder, stage1, loss, None, (x, x), validation, verbose, callbacks)
    if stage2 is not None and labelled is not None and set(names) - {"reconstruction"}:
        loss, weights = rhemo_losses(model, beta, alpha)
        train = rhemo_targets(model, *labelled, what="labelled")
        validation = None
        if validation_labelled is not None:
            validation = rhemo_targets(model, *validation_labelled, what="validation_labelled", training=False)
        histories["stage2"] = _fit_stage(model, stage2, loss, weights, train, validation, verbose, callbacks)
    return histories


def embed(model, spectrograms, batch_size=32):
    """(B, 512, 128, 1) spectrograms → (B, 64, 64, 4) embeddings, encoder in inference mode.

    Spectrograms are scaled by the RH-emo training set's maximum (so they lie in
    [0, 1], or slightly above for other data).

    `model` is an RH-emo model or its encoder. Batch norm uses its moving
    statistics (the reference code forgot to, using batch statistics).
    """
    encoder = model.get_layer("encoder") if any(layer.name == "encoder" for layer in model.layers) else model
    x = _check_spectrograms(encoder, spectrograms, "spectrograms")
    return encoder.predict(x, batch_size=batch_size, verbose=0)
