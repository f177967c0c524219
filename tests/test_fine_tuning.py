"""`fine_tune`: val-UAR early stopping, balanced class weights, the few-speakers warning; the README's reader table."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from averaging_reference import warmed_up_average
from keras_ser.presets import AudioPreprocessor, SERClassifier

CLASSES = ["neutral", "angry", "sad"]
README = Path(__file__).resolve().parents[1] / "README.md"


def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    return SERClassifier(CLASSES, network={"builder": "a1", "variant": "real", "options": {"hidden_units": 4}},
                         preprocessor=AudioPreprocessor(normalizer={"kind": "max", "maximum": 40.0}), name="tiny")


@pytest.fixture(scope="module")
def emodb(corpus_root):
    from keras_ser.datasets import load_corpus

    return load_corpus("emodb", root=corpus_root("emodb"))


def pick(items, speakers, counts):
    """`counts[emotion]` items of each emotion, their speakers taken in turn from `speakers`."""
    chosen = []
    for emotion, count in counts.items():
        for _ in range(count):
            speaker = speakers[len(chosen) % len(speakers)]
            chosen.append(next(i for i in items if i.speaker == speaker and i.canonical == emotion and i not in chosen))
    return chosen


def spy_fit(monkeypatch, train, callbacks=()):
    """Record `fit`'s labels and keyword arguments; train with extra `callbacks`, or (train=False) skip training."""
    calls = {}
    original = SERClassifier.fit

    def fit(self, *args, **kwargs):
        calls.update(kwargs, y=args[1])
        return original(self, *args, **{**kwargs, "callbacks": [*kwargs["callbacks"], *callbacks]}) if train else None

    monkeypatch.setattr(SERClassifier, "fit", fit)
    return calls


@pytest.fixture(scope="module")
def tuned(emodb):
    """Three epochs on 6 clips of 3 speakers, validated on 3 clips of a fourth; weights recorded per epoch."""
    import keras

    model, epochs = tiny_model(), []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs.append(self.model.get_weights())

    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = spy_fit(monkeypatch, train=True, callbacks=[Record()])
        history = model.fine_tune(pick(emodb, ["03", "08", "09"], {"angry": 3, "neutral": 2, "sad": 1}),
                                  pick(emodb, ["10"], {"angry": 1, "neutral": 1, "sad": 1}),
                                  epochs=3, batch_size=4, learning_rate=1e-3, patience=3, progress=False)
    return model, history, calls, epochs


def test_early_stopping_monitors_validation_uar_and_restores_its_best_epoch(tuned):
    import keras

    model, history, calls, epochs = tuned
    (stopper,) = [c for c in calls["callbacks"] if isinstance(c, keras.callbacks.EarlyStopping)]
    assert stopper.monitor == "val_uar" and stopper.restore_best_weights
    uar = history.history["val_uar"]
    assert len(uar) == len(epochs) == 3 and all(0.0 <= value <= 1.0 for value in uar)
    best = int(np.argmax(uar))  # the first epoch reaching the best UAR
    for restored, recorded in zip(model.get_weights(), epochs[best]):
        np.testing.assert_array_equal(restored, recorded)
    assert any(not np.array_equal(a, b) for a, b in zip(epochs[0], epochs[-1]))


def test_val_loss_can_be_monitored_instead(emodb, monkeypatch):
    import keras

    calls = spy_fit(monkeypatch, train=False)
    items = pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1})
    tiny_model().fine_tune(items, items[:1], progress=False, monitor="val_loss")
    (stopper,) = [c for c in calls["callbacks"] if isinstance(c, keras.callbacks.EarlyStopping)]
    assert stopper.monitor == "val_loss"


def test_class_weights_are_balanced_by_default(emodb, monkeypatch):
    calls = spy_fit(monkeypatch, train=False)
    items = pick(emodb, ["03", "08", "09"], {"angry": 4, "neutral": 2, "sad": 1})
    tiny_model().fine_tune(items, progress=False)
    y = calls["y"]  # one label per training window
    assert len(y) >= len(items)
    classes, counts = np.unique(y, return_counts=True)
    expected = {int(c): len(y) / (len(classes) * n) for c, n in zip(classes, counts)}
    assert calls["class_weight"] == pytest.approx(expected)
    assert calls["class_weight"][CLASSES.index("angry")] < 1 < calls["class_weight"][CLASSES.index("sad")]


@pytest.mark.parametrize("class_weight, expected", [(None, None), ({"sad": 2, 1: 0.5}, {2: 2.0, 1: 0.5})])
def test_class_weights_can_be_turned_off_or_given(emodb, monkeypatch, class_weight, expected):
    calls = spy_fit(monkeypatch, train=False)
    tiny_model().fine_tune(pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1}), progress=False,
                           class_weight=class_weight)
    assert calls["class_weight"] == expected


def test_fewer_than_three_training_speakers_warns(emodb, monkeypatch):
    spy_fit(monkeypatch, train=False)
    with pytest.warns(UserWarning, match=r"2 training speaker\(s\) \(03, 08\)"):
        tiny_model().fine_tune(pick(emodb, ["03", "08"], {"angry": 2, "sad": 2}), progress=False)


def test_three_training_speakers_do_not_warn(emodb, monkeypatch):
    spy_fit(monkeypatch, train=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny_model().fine_tune(pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1}), progress=False)
    assert not [w for w in caught if "speaker" in str(w.message)]


def test_head_epochs_train_the_output_layers_alone_first_then_the_whole_network(emodb, monkeypatch):
    import keras

    keras.utils.set_random_seed(0)
    model = SERClassifier(CLASSES, network={"builder": "compact_cnn", "options": {"filters": [2, 2, 2, 2]}},
                          preprocessor=AudioPreprocessor(normalizer={"kind": "max", "maximum": 40.0}), name="small")
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.networks[0].layers)
    (head,) = model.head_layers
    initial = {id(weight): np.array(weight) for weight in model.weights}
    flags = [layer.trainable for layer in model.networks[0].layers]
    calls, original = [], SERClassifier.fit

    def fit(self, *args, **kwargs):
        calls.append({"trainable": {id(weight) for weight in self.trainable_weights}, "epochs": kwargs["epochs"],
                      "lr": float(self.optimizer.learning_rate), "validated": kwargs.get("validation_data") is not None})
        history = original(self, *args, **kwargs)
        calls[-1]["after"] = {id(weight): np.array(weight) for weight in self.weights}
        return history

    monkeypatch.setattr(SERClassifier, "fit", fit)
    items = pick(emodb, ["03", "08", "09"], {"angry": 2, "neutral": 1, "sad": 1})
    model.fine_tune(items, items[:2], epochs=1, batch_size=4, learning_rate=1e-4, head_epochs=2, progress=False)
    first, second = calls
    heads = {id(weight) for weight in head.weights}
    assert first["trainable"] == heads and first["epochs"] == 2 and not first["validated"]
    assert first["lr"] == pytest.approx(1e-3) and second["lr"] == pytest.approx(1e-4)
    assert second["trainable"] > heads and second["epochs"] == 1 and second["validated"]
    moved = {key for key, value in first["after"].items() if not np.array_equal(value, initial[key])}
    assert moved and moved <= heads  # the head phase changed the output layer, not even batch norm's statistics
    assert [layer.trainable for layer in model.networks[0].layers] == flags


def test_each_member_of_a_seed_ensemble_learns_from_its_own_loss(emodb):
    """A member's fine-tuned weights and best epoch do not depend on the other members: with the loss of their
    average, and one early stopping for all, they did."""
    import keras

    items = pick(emodb, ["03", "08", "09"], {"angry": 2, "neutral": 1, "sad": 1})
    finals = []
    for other_seed in (1, 2):  # the same first member beside two different second members
        keras.utils.set_random_seed(0)
        model = SERClassifier(CLASSES, network={"builder": "a1", "variant": "real", "members": 2,
                                                "options": {"hidden_units": 4}},
                              preprocessor=AudioPreprocessor(normalizer={"kind": "max", "maximum": 40.0}), name="pair")
        keras.utils.set_random_seed(other_seed)
        model.networks[1].set_weights([0.05 * np.random.normal(size=w.shape) for w in model.networks[1].get_weights()])
        before = [np.array(w) for w in model.networks[0].get_weights()]
        keras.utils.set_random_seed(0)
        histories = model.fine_tune(items, items[:2], epochs=3, batch_size=2, learning_rate=1e-2, patience=5,
                                    progress=False)
        finals.append(model.networks[0].get_weights())
        assert [len(history.history["val_uar"]) for history in histories] == [3, 3]  # one History per member
    assert any(not np.array_equal(a, b) for a, b in zip(before, finals[0]))
    for a, b in zip(*finals):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_ema_momentum_validates_and_keeps_the_weights_warmed_up_moving_average(emodb, monkeypatch):
    """The model ends at the best epoch's moving average of the raw weights after each step (reference: numpy,
    momentum min(0.9, (1 + t) / (10 + t)) at step t), which validation chose it by, not at raw weights."""
    import keras

    class Steps(keras.callbacks.Callback):
        steps, epoch_ends = [], []

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append([np.array(weight, dtype="float64") for weight in self.model.trainable_weights])

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_ends.append(len(self.steps))

    steps = Steps()
    spy_fit(monkeypatch, train=True, callbacks=[steps])
    model = tiny_model()
    items = pick(emodb, ["03", "08", "09"], {"angry": 2, "neutral": 1, "sad": 1})
    history = model.fine_tune(items, items[:2], epochs=3, batch_size=2, learning_rate=1e-2, patience=5,
                              progress=False, ema_momentum=0.9)
    kept = steps.steps[:steps.epoch_ends[int(np.argmax(history.history["val_uar"]))]]
    assert len(steps.steps) == 6
    for weight, expected in zip(model.trainable_weights, warmed_up_average(kept, 0.9)):
        np.testing.assert_allclose(np.array(weight), expected, rtol=1e-4, atol=1e-6)
    assert not all(np.allclose(np.array(weight), raw, rtol=1e-4, atol=1e-6)
                   for weight, raw in zip(model.trainable_weights, kept[-1]))


@pytest.mark.parametrize("arguments, message", [
    ({"train_items": []}, "at least one training item"),
    ({"monitor": "val_accuracy"}, "unknown monitor 'val_accuracy'"),
    ({"class_weight": "balance"}, "class_weight must be 'balanced', None or a dict"),
    ({"class_weight": {"happy": 2.0}}, "class_weight key 'happy' is neither a class name nor an index"),
    ({"head_epochs": -1}, "head_epochs must be a whole number of epochs >= 0, got -1"),
    ({"head_epochs": 1.5}, "head_epochs must be a whole number of epochs >= 0, got 1.5"),
    ({"ema_momentum": 1.0}, "ema_momentum must be 0 (off) or a momentum in (0, 1) such as 0.995, got 1.0"),
    ({"ema_momentum": "0.99"}, "ema_momentum must be 0 (off) or a momentum in (0, 1) such as 0.995, got '0.99'"),
])
def test_bad_arguments_fail_clearly(emodb, monkeypatch, arguments, message):
    spy_fit(monkeypatch, train=False)
    arguments = {"train_items": pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1}), **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_model().fine_tune(progress=False, **arguments)


def test_head_epochs_refuse_a_model_without_a_network(emodb):
    rhemo_only = SERClassifier(CLASSES, rhemo={"heads": ["emotion"]}, name="rhemo-only")
    with pytest.raises(ValueError, match="model 'rhemo-only' has only RH-emo's frozen heads"):
        rhemo_only.fine_tune(pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1}), head_epochs=2, progress=False)


def test_readme_lists_every_corpus_reader():
    from keras_ser.datasets import CORPORA

    text = README.read_text()
    section = re.search(r"^## Corpus readers\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, "README.md has no '## Corpus readers' section"
    listed = set(re.findall(r"^\| `(\w+)` \|", section.group(1), re.M))
    assert set(CORPORA) <= listed, f"README's corpus-reader table lacks {sorted(set(CORPORA) - listed)}"
