"""RH-emo: architecture and parameter counts, the combined loss, two-stage training on real clips, the embedding."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_ser import audio
from keras_ser.datasets.emotions import FOUR_CLASS, VAD_TABLE
from keras_ser.layers import QuaternionConv2DTranspose
from keras_ser.models import RHEMO_VARIANTS, embed, fit_rhemo, rhemo
from keras_ser.models.rhemo import TrainingStage, rhemo_autoencoder, rhemo_losses, rhemo_targets
from keras_ser.training.callbacks import TimeLimit

# A slow module: its tests run beside the others, in the one child process of the slow modules (tests/conftest.py).
pytestmark = pytest.mark.isolated(group="slow_modules")

SMALL_INPUT = (64, 32, 1)  # embedding (8, 16, 4): heads of 128 inputs, for quick tests
NARROW = 16  # head width where the width is not under test: 4096-unit heads hold 67 M parameters even here


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# Encoder: conv 1->2 (20) + BN (4) + conv 2->4 (76) + BN (8) + conv 4->4 (148) = 256.
# Quaternion decoder: 3 transposed convs 4->4 (3·3·4·4/4 + 4 = 40 each) + 2 quaternion BN (1 + 4) = 130.
# Real decoder: 148 + 8 + 148 + 8 + (3·3·4·1 + 1) = 349.
# Head on 64·64 = 4096 inputs: 2 x (4096·4096 + 4096) + (4096·k + k): emotion (k = 4) 33,579,012, V/A/D 33,566,721.
EMOTION_HEAD, VAD_HEAD = 33_579_012, 33_566_721


@pytest.mark.parametrize(
    "variant, decoder, heads",
    [
        ("full", 130, EMOTION_HEAD + 3 * VAD_HEAD),
        ("real_decoder", 349, EMOTION_HEAD + 3 * VAD_HEAD),
        ("reconstruction_only", 130, 0),
        ("emotion_only", 0, EMOTION_HEAD + 3 * VAD_HEAD),
        ("discrete_only", 130, EMOTION_HEAD),
        ("vad_only", 130, 3 * VAD_HEAD),
    ],
)
def test_variants_have_their_parts_and_exact_parameter_counts(variant, decoder, heads):
    model = rhemo(variant)
    assert trainable_count(model) == 256 + decoder + heads
    parts = RHEMO_VARIANTS[variant]
    expected_outputs = (["reconstruction"] if parts.decoder else []) + list(parts.heads)
    assert sorted(model.output) == sorted(expected_outputs)
    shapes = {"reconstruction": (512, 128, 1), "emotion": (4,), "valence": (1,), "arousal": (1,), "dominance": (1,)}
    assert {k: tuple(v.shape[1:]) for k, v in model.output.items()} == {k: shapes[k] for k in expected_outputs}
    assert tuple(model.get_layer("encoder").output.shape[1:]) == (64, 64, 4)
    if parts.decoder == "quaternion":
        deconvs = [layer for layer in model.get_layer("decoder").layers if "deconv" in layer.name]
        assert all(isinstance(layer, QuaternionConv2DTranspose) for layer in deconvs)
        assert model.get_layer("decoder").layers[-1].name == "channel_mean"
    if parts.decoder == "real":
        assert model.get_layer("decoder").get_layer("deconv3").filters == 1  # no split mean


def bce(target, prediction, eps=1e-7):
    prediction = np.clip(prediction, eps, 1 - eps)
    return float(np.mean(-(target * np.log(prediction) + (1 - target) * np.log(1 - prediction))))


@pytest.mark.parametrize("beta, alpha", [(0.01, 100.0), (0.0, 100.0), (0.5, 2.0)])
def test_combined_loss_is_recon_plus_beta_times_ce_plus_alpha_times_vad(beta, alpha):
    model = rhemo(input_shape=SMALL_INPUT, head_units=NARROW)
    rng = np.random.default_rng(0)
    x = rng.random((6, *SMALL_INPUT), dtype=np.float32)
    emotions, vad = rng.integers(0, 4, 6), rng.integers(0, 2, (6, 3))
    x, targets = rhemo_targets(model, x, emotions, vad)
    loss, weights = rhemo_losses(model, beta=beta, alpha=alpha)
    model.compile(loss=loss, loss_weights=weights)
    got = model.evaluate(x, targets, batch_size=6, verbose=0, return_dict=True)["loss"]
    out = model.predict(x, verbose=0)
    ce = float(np.mean(-np.log(np.clip(out["emotion"][np.arange(6), emotions], 1e-7, 1))))
    vad_terms = sum(bce(vad[:, i : i + 1], out[head]) for i, head in enumerate(("valence", "arousal", "dominance")))
    expected = bce(x, out["reconstruction"]) + beta * (ce + alpha * vad_terms)
    assert got == pytest.approx(expected, rel=1e-4)


def emodb_clips(corpus_root, per_class=2):
    """Spectrograms in [0, 1] of the first EmoDB clips of each 4-class emotion, with labels."""
    letters = {"N": "neutral", "W": "angry", "F": "happy", "T": "sad"}
    files = sorted((corpus_root("emodb") / "wav").glob("*.flac"))
    chosen = []
    for letter, emotion in letters.items():
        chosen += [(path, emotion) for path in files if path.stem[5] == letter][:per_class]
    waves = np.stack([audio.segment(audio.load(path))[0] for path, _ in chosen])
    spectrograms = audio.spectrogram(waves)
    scaled = keras.ops.convert_to_numpy(audio.MaxNormalizer().adapt(spectrograms)(spectrograms))
    emotions = np.array([FOUR_CLASS.index(emotion) for _, emotion in chosen])
    vad = np.array([VAD_TABLE[emotion] for _, emotion in chosen])
    return scaled, emotions, vad


def test_two_stage_training_on_real_clips_and_the_embedding(corpus_root):
    x, emotions, vad = emodb_clips(corpus_root)
    assert x.shape == (8, 512, 128, 1) and x.min() >= 0 and x.max() == 1
    keras.utils.set_random_seed(0)
    model = rhemo(head_units=64)  # narrow heads: the stages, not the head width, are under test
    histories = fit_rhemo(
        model,
        x,
        validation_spectrograms=x[:4],
        labelled=(x, emotions, vad),
        stage1=TrainingStage(learning_rate=1e-3, batch_size=4, epochs=15, patience=100),
        stage2=TrainingStage(learning_rate=1e-6, batch_size=4, epochs=1),
    )
    reconstruction = histories["stage1"].history["loss"]
    # From ~0.69 (sigmoid outputs near 0.5), falling every epoch.
    assert len(reconstruction) == 15 and (np.diff(reconstruction) < 0).all()
    assert reconstruction[-1] < reconstruction[0] - 0.01
    assert "val_loss" in histories["stage1"].history
    stage2 = histories["stage2"].history
    assert {"reconstruction_loss", "emotion_loss", "valence_loss", "arousal_loss", "dominance_loss"} <= set(stage2)
    assert np.isfinite(stage2["loss"]).all()

    embeddings = embed(model, x)
    assert embeddings.shape == (8, 64, 64, 4) and embeddings.dtype == np.float32
    assert embeddings.min() >= 0  # ReLU then max pooling
    # Inference mode: batch norm uses its moving statistics, so an example's embedding
    # does not depend on the rest of the batch.
    np.testing.assert_allclose(embed(model, x[:1]), embeddings[:1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(embed(model.get_layer("encoder"), x), embeddings)
    # Data scaled by the training maximum may exceed 1 outside the training set.
    assert embed(model, 1.5 * x[:2]).shape == (2, 64, 64, 4)


def test_stages_follow_the_variant():
    rng = np.random.default_rng(1)
    x = rng.random((4, *SMALL_INPUT), dtype=np.float32)
    labelled = (x, np.array([0, 1, 2, 3]), rng.integers(0, 2, (4, 3)))
    quick = TrainingStage(learning_rate=1e-3, batch_size=2, epochs=1)
    runs = {}
    for variant in ("reconstruction_only", "emotion_only", "discrete_only"):
        model = rhemo(variant, input_shape=SMALL_INPUT, head_units=NARROW)
        histories = fit_rhemo(model, x, labelled=labelled, stage1=quick, stage2=quick)
        runs[variant] = {stage: sorted(h.history) if h else None for stage, h in histories.items()}
    assert runs["reconstruction_only"] == {"stage1": ["loss"], "stage2": None}
    assert runs["emotion_only"]["stage1"] is None
    assert set(runs["emotion_only"]["stage2"]) == {"loss", "emotion_loss", "valence_loss", "arousal_loss",
                                                   "dominance_loss"}
    assert set(runs["discrete_only"]["stage2"]) == {"loss", "emotion_loss", "reconstruction_loss"}


class Clock(keras.callbacks.Callback):
    """A fake wall clock that advances by `epoch_seconds` during each epoch (listed before TimeLimit); the first
    epoch lasts `first_epoch_seconds` when given."""

    def __init__(self, epoch_seconds, first_epoch_seconds=None):
        super().__init__()
        self.now, self.epoch_seconds, self.first_epoch_seconds = 0.0, epoch_seconds, first_epoch_seconds

    def __call__(self):
        return self.now

    def on_epoch_end(self, epoch, logs=None):
        first = epoch == 0 and self.first_epoch_seconds is not None
        self.now += self.first_epoch_seconds if first else self.epoch_seconds


@pytest.mark.parametrize("seconds, epochs", [(35, 3), (39.9, 3), (40, 4), (1000, 10)])
def test_time_limit_stops_before_an_epoch_would_overrun_it(seconds, epochs):
    # Epochs of 10 s: after epoch e (0-based) 10 (e + 1) s have passed and the next would end at 10 (e + 2),
    # which may equal the limit.
    clock = Clock(10.0)
    limit = TimeLimit(seconds, clock=clock)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=10, callbacks=[clock, limit], verbose=0)
    assert len(history.history["loss"]) == epochs
    assert limit.stopped_epoch == (epochs - 1 if epochs < 10 else None)


@pytest.mark.parametrize("seconds, epochs", [(79, 1), (80, 9), (90, 11)])
def test_time_limit_leaves_the_first_epoch_out_of_its_estimate_once_others_ran(seconds, epochs):
    # A first epoch of 40 s (compilation), then 5 s each: after epoch 0 the next is assumed to take 40 s; after
    # epoch e >= 1, 40 + 5 e s have passed and the next is assumed to take 5 s (40 + 5 e + 5 <= 80 up to e = 7,
    # <= 90 up to e = 9).
    clock = Clock(5.0, first_epoch_seconds=40.0)
    limit = TimeLimit(seconds, clock=clock)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=20, callbacks=[clock, limit], verbose=0)
    assert len(history.history["loss"]) == epochs


def test_a_stage_with_a_time_limit_ends_after_the_epoch_that_reaches_it():
    rng = np.random.default_rng(2)
    x = rng.random((4, *SMALL_INPUT), dtype=np.float32)
    model = rhemo("reconstruction_only", input_shape=SMALL_INPUT)
    # Any epoch outlasts a limit of a microsecond: one epoch, then the stop.
    stage = TrainingStage(learning_rate=1e-3, batch_size=2, epochs=50, minutes=1e-8)
    history = fit_rhemo(model, x, stage1=stage)["stage1"]
    assert len(history.history["loss"]) == 1
    for minutes in (0, -1.0):
        with pytest.raises(ValueError, match=f"time limit must be a positive number of minutes, got {minutes}"):
            TrainingStage(learning_rate=1e-3, batch_size=2, minutes=minutes)
    with pytest.raises(ValueError, match="TimeLimit needs a positive number of seconds, got 0"):
        TimeLimit(0)


def test_saved_model_round_trip_gives_the_same_embedding(tmp_path):
    model = rhemo(input_shape=SMALL_INPUT, head_units=NARROW)
    x = np.random.default_rng(2).random((3, *SMALL_INPUT), dtype=np.float32)
    path = tmp_path / "rhemo.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(embed(restored, x), embed(model, x), rtol=1e-6)
    np.testing.assert_allclose(restored.predict(x, verbose=0)["emotion"], model.predict(x, verbose=0)["emotion"],
                               rtol=1e-5)


def test_narrow_heads_have_the_expected_parameter_count():
    # flatten 8x16 (one channel of the small embedding) -> 8 -> 8 -> 4 classes, per the head's docstring
    head = rhemo(input_shape=SMALL_INPUT, head_units=8).get_layer("emotion_head")
    assert head.count_params() == (8 * 16 * 8 + 8) + (8 * 8 + 8) + (8 * 4 + 4)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x: rhemo("quaternion"), r"unknown RH-emo variant 'quaternion': choose one of 'full', 'real_dec"),
        (lambda m, x: rhemo(input_shape=(500, 128, 1)), r"time divisible by 8 and frequency by 2"),
        (lambda m, x: rhemo(input_shape=(512, 128, 4)), r"input_shape must be \(time, frequency, 1\)"),
        (lambda m, x: rhemo(num_classes=0), r"num_classes must be a positive integer"),
        (lambda m, x: fit_rhemo(m, x * 5), r"spectrograms must be magnitudes scaled to \[0, 1\].*MaxNormalizer"),
        (lambda m, x: embed(m, x - 0.5), r"must be magnitudes scaled to \[0, 1\]"),
        (lambda m, x: fit_rhemo(m, x[..., 0]), r"spectrograms must be shaped \(N, 64, 32, 1\), got \(2, 64, 32\)"),
        (lambda m, x: rhemo_targets(m, x, np.array([0, 4]), np.zeros((2, 3))), r"emotion labels must lie in 0..3"),
        (lambda m, x: rhemo_targets(m, x, np.array([0.0, 1.0]), np.zeros((2, 3))), r"integer class indices"),
        (lambda m, x: rhemo_targets(m, x, np.array([0, 1]), np.zeros((2, 2))), r"vad must be a \(2, 3\) array"),
        (lambda m, x: rhemo_targets(m, x, np.array([0, 1]), None), r"vad targets are needed"),
        (lambda m, x: rhemo_targets(m, x, None, np.zeros((2, 3))), r"emotion labels are needed"),
        (lambda m, x: rhemo_autoencoder(rhemo("emotion_only", input_shape=SMALL_INPUT, head_units=NARROW)),
         r"has no decoder"),
        (lambda m, x: rhemo(input_shape=SMALL_INPUT, head_units=0), r"head_units must be a positive integer"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    model = rhemo(input_shape=SMALL_INPUT, head_units=NARROW)
    x = np.random.default_rng(3).random((2, *SMALL_INPUT), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        call(model, x)


JAX_SCRIPT = textwrap.dedent(
    """
    import keras, numpy as np
    from keras_ser.models import embed, fit_rhemo, rhemo
    from keras_ser.models.rhemo import TrainingStage
    assert keras.backend.backend() == "jax"
    rng = np.random.default_rng(0)
    x = rng.random((4, 64, 32, 1), dtype=np.float32)
    model = rhemo(input_shape=(64, 32, 1), head_units=16)
    quick = TrainingStage(learning_rate=1e-3, batch_size=2, epochs=1)
    histories = fit_rhemo(model, x, labelled=(x, np.array([0, 1, 2, 3]), rng.integers(0, 2, (4, 3))),
                          stage1=quick, stage2=quick)
    assert all(np.isfinite(h.history["loss"]).all() for h in histories.values())
    print(embed(model, x).shape)
    """
)


def test_rhemo_trains_on_jax():
    pytest.importorskip("jax", reason="JAX is not installed")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "(4, 8, 16, 4)"
