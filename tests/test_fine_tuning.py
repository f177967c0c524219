"""`fine_tune`: val-UAR early stopping, balanced class weights, the few-speakers warning; the README's reader table."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from averaging_reference import mean_first_average
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
    (reducer,) = [c for c in calls["callbacks"] if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    assert stopper.monitor == reducer.monitor == "val_loss" and reducer.mode == stopper.mode == "min"


def test_the_defaults_are_the_default_recipes_schedule(emodb, monkeypatch):
    """Adam 1e-3, batches of 32, at most 20 epochs, the rate cut to 0.3 times after 2 epochs without a better
    validation UAR, early stopping after 6, as zoo/recipes/logmel-cnn-x3.toml trains."""
    import keras

    from keras_ser.training import load_config

    recipe = load_config(README.parent / "zoo" / "recipes" / "logmel-cnn-x3.toml")
    calls = spy_fit(monkeypatch, train=False)
    model, items = tiny_model(), pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1})
    model.fine_tune(items, items[:1], progress=False)
    (stopper,) = [c for c in calls["callbacks"] if isinstance(c, keras.callbacks.EarlyStopping)]
    (reducer,) = [c for c in calls["callbacks"] if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    assert (calls["epochs"], calls["batch_size"], stopper.patience) == (
        recipe.training.epochs, recipe.training.batch_size, recipe.training.patience)
    assert (reducer.monitor, reducer.patience, reducer.factor) == (
        recipe.training.monitor, recipe.training.reduce_lr_patience, recipe.training.reduce_lr_factor)
    assert float(model.optimizer.learning_rate) == pytest.approx(recipe.optimizer.learning_rate)
    assert model.optimizer.use_ema and recipe.optimizer.ema_epochs == 2


@pytest.mark.parametrize("arguments", [{"reduce_lr_patience": 0}, {"validation_items": None}])
def test_the_learning_rate_is_cut_only_with_a_patience_and_validation_items(emodb, monkeypatch, arguments):
    import keras

    calls = spy_fit(monkeypatch, train=False)
    items = pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1})
    tiny_model().fine_tune(**{"train_items": items, "validation_items": items[:1], **arguments}, progress=False)
    assert not [c for c in calls["callbacks"] if isinstance(c, keras.callbacks.ReduceLROnPlateau)]


def test_balanced_class_weights_are_n_over_k_times_each_count(emodb, monkeypatch):
    calls = spy_fit(monkeypatch, train=False)
    items = pick(emodb, ["03", "08", "09"], {"angry": 4, "neutral": 2, "sad": 1})
    tiny_model().fine_tune(items, progress=False, class_weight="balanced")
    y = calls["y"]  # one label per training window
    assert len(y) >= len(items)
    classes, counts = np.unique(y, return_counts=True)
    expected = {int(c): len(y) / (len(classes) * n) for c, n in zip(classes, counts)}
    assert calls["class_weight"] == pytest.approx(expected)
    assert calls["class_weight"][CLASSES.index("angry")] < 1 < calls["class_weight"][CLASSES.index("sad")]


@pytest.mark.parametrize("arguments, expected", [({}, None), ({"class_weight": {"sad": 2, 1: 0.5}}, {2: 2.0, 1: 0.5})])
def test_class_weights_are_off_by_default_or_given(emodb, monkeypatch, arguments, expected):
    calls = spy_fit(monkeypatch, train=False)
    tiny_model().fine_tune(pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1}), progress=False, **arguments)
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
    initial = {id(weight): weight.numpy() for weight in model.weights}
    flags = [layer.trainable for layer in model.networks[0].layers]
    calls, original = [], SERClassifier.fit

    def fit(self, *args, **kwargs):
        calls.append({"trainable": {id(weight) for weight in self.trainable_weights}, "epochs": kwargs["epochs"],
                      "lr": float(self.optimizer.learning_rate), "validated": kwargs.get("validation_data") is not None})
        history = original(self, *args, **kwargs)
        calls[-1]["after"] = {id(weight): weight.numpy() for weight in self.weights}
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


@pytest.mark.parametrize("ema_epochs", [1, 0])
def test_the_weights_average_over_epochs_is_validated_and_kept(emodb, monkeypatch, ema_epochs):
    """The model ends at the best epoch's average of the raw weights after each step (reference: numpy, the mean
    of the first epoch's 2 steps, then momentum 1 - 1/2), which validation chose it by; without an average
    (ema_epochs=0), at the best epoch's raw weights."""
    import keras

    class Steps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps, self.epoch_ends = [], []

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append([weight.numpy().astype("float64") for weight in self.model.trainable_weights])

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_ends.append(len(self.steps))

    steps = Steps()
    spy_fit(monkeypatch, train=True, callbacks=[steps])
    model = tiny_model()
    items = pick(emodb, ["03", "08", "09"], {"angry": 2, "neutral": 1, "sad": 1})
    history = model.fine_tune(items, items[:2], epochs=3, batch_size=2, learning_rate=1e-2, patience=5,
                              progress=False, ema_epochs=ema_epochs)
    kept = steps.steps[:steps.epoch_ends[int(np.argmax(history.history["val_uar"]))]]
    assert len(steps.steps) == 6
    expected = mean_first_average(kept, span=2) if ema_epochs else kept[-1]
    for weight, reference in zip(model.trainable_weights, expected):
        np.testing.assert_allclose(weight.numpy(), reference, rtol=1e-4, atol=1e-6)
    if ema_epochs:
        assert not all(np.allclose(weight.numpy(), raw, rtol=1e-4, atol=1e-6)
                       for weight, raw in zip(model.trainable_weights, kept[-1]))


@pytest.mark.parametrize("arguments, message", [
    ({"train_items": []}, "at least one training item"),
    ({"monitor": "val_accuracy"}, "unknown monitor 'val_accuracy'"),
    ({"class_weight": "balance"}, "class_weight must be 'balanced', None or a dict"),
    ({"class_weight": {"happy": 2.0}}, "class_weight key 'happy' is neither a class name nor an index"),
    ({"epochs": 0}, "epochs must be a whole number of epochs >= 1, got 0"),
    ({"epochs": 2.5}, "epochs must be a whole number of epochs >= 1, got 2.5"),
    ({"batch_size": 0}, "batch_size must be a whole number of windows >= 1, got 0"),
    ({"patience": -1}, "patience must be a whole number of epochs >= 0, got -1"),
    ({"learning_rate": -1}, "learning_rate must be a number > 0 such as 1e-3, got -1"),
    ({"learning_rate": "1e-3"}, "learning_rate must be a number > 0 such as 1e-3, got '1e-3'"),
    ({"head_learning_rate": float("nan")}, "head_learning_rate must be a number > 0 such as 1e-3, got nan"),
    ({"head_epochs": -1}, "head_epochs must be a whole number of epochs >= 0, got -1"),
    ({"head_epochs": 1.5}, "head_epochs must be a whole number of epochs >= 0, got 1.5"),
    ({"ema_epochs": -1}, "ema_epochs must be 0 (off) or a number of epochs > 0 such as 2, got -1"),
    ({"ema_epochs": "2"}, "ema_epochs must be 0 (off) or a number of epochs > 0 such as 2, got '2'"),
    ({"ema_epochs": 0.1}, "an average over 0.1 epoch(s) of 1 step(s) spans 0.1 steps; it needs more than one"),
    ({"reduce_lr_patience": 1.5}, "reduce_lr_patience must be a whole number of epochs >= 0 (0: never), got 1.5"),
    ({"reduce_lr_factor": 1}, "reduce_lr_factor must be between 0 and 1, exclusive, got 1"),
])
def test_bad_arguments_fail_clearly(emodb, monkeypatch, arguments, message):
    spy_fit(monkeypatch, train=False)
    arguments = {"train_items": pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1}), **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_model().fine_tune(progress=False, **arguments)


def test_numpy_numbers_are_accepted_as_arguments(emodb, monkeypatch):
    calls = spy_fit(monkeypatch, train=False)
    tiny_model().fine_tune(pick(emodb, ["03", "08", "09"], {"angry": 2, "sad": 1}), epochs=np.int64(2),
                           batch_size=np.int32(4), learning_rate=np.float32(1e-3), patience=np.int64(1), progress=False)
    assert calls["epochs"] == 2 and calls["batch_size"] == 4


def test_evaluation_refuses_a_batch_size_below_one_before_reading_the_audio(emodb, monkeypatch):
    def no_reading(*args):
        raise AssertionError("the audio was read before the batch size was checked")

    monkeypatch.setattr("keras_ser.presets.fine_tuning.item_windows", no_reading)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        tiny_model().evaluate_items(pick(emodb, ["03"], {"angry": 1}), batch_size=0, progress=False)


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
