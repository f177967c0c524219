"""Training-data options: random crops, augmentation, speed perturbation and balanced sampling."""

import dataclasses
import tomllib
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import soxr

from keras_ser.audio import STFTSettings, load, spectrogram
from keras_ser.datasets.cache import FeatureSet, FrontEnd, _cache_key
from keras_ser.training import ConfigError, config_from_dict, dump_toml
from keras_ser.training.augmentation import (
    Augmentation,
    add_noise,
    apply_gain,
    draw_bands,
    magnitudes,
    mask,
    mixup,
    smooth_labels,
    warp_frequencies,
)
from keras_ser.training.loader import CropSource, TrainingDataset, WindowSource, epoch_draws, silence
from keras_ser.training.sampling import balance_groups, balanced_weights, epoch_batches, epoch_order

from test_front_end_options import RUN_FILES
from test_training import tiny

ALL_ON = {"gain_db": 6, "noise_snr_db": [10, 30], "frequency_warp": 0.1, "time_masks": 2, "time_mask_width": 40,
          "frequency_masks": 2, "frequency_mask_width": 12, "mixup_alpha": 0.2}
LOG = STFTSettings(compression="log")


def _feature_set(lengths, bins=4, offset=0.0):
    """A frames-layout feature set whose frames hold offset + their position in their utterance + 1."""
    frames = np.concatenate([np.arange(1, n + 1, dtype=np.float32) for n in lengths]) + offset
    items = [SimpleNamespace(path=f"u{i}.wav", corpus="x") for i in range(len(lengths))]
    features = np.repeat(frames[:, None, None], bins, axis=1)
    return FeatureSet(features, np.repeat(np.arange(len(lengths)), lengths), items)


def _speech_like(examples=3, frames=512, bins=128, audio=300, seed=0):
    """Magnitudes of `audio` frames of noise-like speech, then zero padding, per example."""
    rng = np.random.default_rng(seed)
    m = rng.rayleigh(size=(examples, frames, bins, 1)).astype(np.float32) * np.float32(0.05)
    m[:, audio:] = 0
    return m


# --- configuration -----------------------------------------------------------------------

def test_the_options_are_off_by_default_and_new_front_ends_get_their_own_cache_keys(tmp_path):
    config = tiny()
    assert (config.data.crops, config.training.augment, config.training.balance) == ("fixed", {}, "none")
    assert not Augmentation.from_table({}).active and Augmentation.from_table(ALL_ON).active
    every = tiny(training={"augment": {**ALL_ON, "speed": [0.9, 1.0, 1.1]}, "balance": "class",
                           "balance_from_epoch": 2},
                 data={"crops": "random"})
    assert config_from_dict(tomllib.loads(dump_toml(every))) == every
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"RIFF")
    items = [SimpleNamespace(path=clip)]
    keys = {_cache_key(items, front_end) for front_end in (
        FrontEnd(), FrontEnd(layout="frames"), FrontEnd(layout="frames", speed=0.9), FrontEnd(speed=0.9))}
    assert len(keys) == 4  # the default key itself is pinned in test_front_end_options


@pytest.mark.parametrize(
    "sections, key, message",
    [
        ({"data": {"crops": "middle"}}, "data.crops", "'middle' is not one of fixed, random"),
        ({"training": {"balance": "speaker"}}, "training.balance", "is not one of none, class, corpus_class, corpus_class_sqrt"),
        ({"training": {"augment": {"gain": 6}}}, "training.augment.gain", "unknown key; known: gain_db"),
        ({"training": {"augment": {"gain_db": -3}}}, "training.augment.gain_db", "positive number"),
        ({"training": {"augment": {"noise_snr_db": [30, 10]}}}, "training.augment.noise_snr_db", r"\[lowest, highest\]"),
        ({"training": {"augment": {"time_masks": 2}}}, "training.augment.time_mask_width", "give both time_masks"),
        ({"training": {"augment": {"frequency_masks": 1, "frequency_mask_width": 0}}},
         "training.augment.frequency_mask_width", "positive integer, got 0"),
        ({"training": {"augment": {"time_masks": 1, "time_mask_width": 600}}}, "training.augment.time_mask_width",
         "600 is wider than the features' 128 time steps"),
        ({"data": {"mel_bins": 40}, "training": {"augment": {"frequency_masks": 1, "frequency_mask_width": 41}}},
         "training.augment.frequency_mask_width", "give at most 40"),
        ({"training": {"augment": {"speed": [0.9, 1.1]}}}, "training.augment.speed", "set data.crops = \"random\""),
        ({"data": {"crops": "random"}, "training": {"augment": {"speed": [90, 110]}}}, "training.augment.speed",
         "between 0.5 and 2.0"),
        ({"training": {"augment": {"mixup_alpha": 0}}}, "training.augment.mixup_alpha", "positive number"),
        ({"training": {"balance": "corpus_class", "balance_from_epoch": -1}}, "training.balance_from_epoch",
         "whole number of epochs >= 0"),
        ({"training": {"balance": "corpus_class", "balance_from_epoch": 2.5}}, "training.balance_from_epoch",
         "got 2.5"),
        ({"training": {"balance_from_epoch": 3}}, "training.balance_from_epoch", "set training.balance too"),
        ({"training": {"augment": {"frequency_warp": 0.5}}}, "training.augment.frequency_warp",
         "between 0 and 0.5 .*got 0.5"),
        ({"training": {"augment": {"frequency_warp": True}}}, "training.augment.frequency_warp", "got True"),
        ({"training": {"augment": {"label_smoothing": 1.0}}}, "training.augment.label_smoothing",
         "between 0 and 1 .*got 1.0"),
        ({"training": {"augment": {"label_smoothing": "0.1"}}}, "training.augment.label_smoothing", "got '0.1'"),
        ({"data": {"features": "rhemo", "rhemo_model": "e.keras", "crops": "random"}}, "data.crops",
         "leave data.crops at \"fixed\""),
        ({"data": {"features": "rhemo", "rhemo_model": "e.keras"}, "training": {"augment": {"gain_db": 3}}},
         "training.augment.gain_db", "not on RH-emo embeddings"),
    ],
)
def test_bad_options_name_their_key(sections, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        tiny(**sections)
    assert info.value.key == key


# --- crops and speed perturbation ----------------------------------------------------------

def test_speed_perturbed_frames_are_the_front_end_on_soxr_resampled_audio(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(20800) / 16000  # 1.3 s
    path = tmp_path / "clip.wav"
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.normal(size=t.size)), 16000, "FLOAT")
    signal = load(path)
    for speed in (0.9, 1.0, 1.1):
        frames = FrontEnd(layout="frames", speed=speed, dtype="float32").features(path)
        audio = soxr.resample(signal, 16000 * speed, 16000, quality="HQ") if speed != 1.0 else signal
        assert len(audio) == pytest.approx(len(signal) / speed, abs=1) and frames.shape == (1 + len(audio) // 128, 128, 1)
        whole = dataclasses.replace(STFTSettings(), time_steps=len(frames))
        np.testing.assert_allclose(frames, spectrogram(audio[None], whole)[0], rtol=1e-5, atol=1e-6)
    # the whole spectrogram equals the fixed window's but for the frame at the audio's end (reflection padding)
    frames = FrontEnd(layout="frames", dtype="float32").features(path)
    window = FrontEnd(dtype="float32").features(path)[0]
    np.testing.assert_allclose(frames[:162], window[:162], rtol=1e-5, atol=1e-6)
    assert not np.allclose(frames[162], window[162])


def test_random_crops_use_all_of_long_utterances_and_shift_short_ones():
    lengths = [700, 501, 200]
    source = CropSource([_feature_set(lengths)], _feature_set(lengths).items, content=501, time_steps=512,
                        silence=-1.0)
    rng = np.random.default_rng(0)
    starts = {0: [], 2: []}
    for _ in range(2000):
        crops = source.read(np.arange(3), rng)[..., 0, 0]
        assert (crops[:, 501:] == -1).all()
        long, exact, short = crops
        starts[0].append(long[0] - 1)
        np.testing.assert_array_equal(long[:501], np.arange(long[0], long[0] + 501))  # consecutive frames
        np.testing.assert_array_equal(exact[:501], np.arange(1, 502))
        offset = int(np.argmax(short > 0))
        starts[2].append(offset)
        np.testing.assert_array_equal(short[offset : offset + 200], np.arange(1, 201))
        assert (np.delete(short, np.arange(offset, offset + 200)) == -1).all()
    assert min(starts[0]) == 0 and max(starts[0]) == 700 - 501  # every frame of the long one is used
    assert min(starts[2]) <= 5 and max(starts[2]) >= 301 - 5  # the short one moves over the whole window
    assert silence(STFTSettings()) == 0.0 and silence(LOG) == pytest.approx(np.log(LOG.log_floor))


def test_each_crop_comes_from_one_speed_factor():
    sets = [_feature_set([600, 300]), _feature_set([540, 270], offset=1000.0)]  # speed 1.0 and 1.1
    source = CropSource(sets, sets[0].items, content=501, time_steps=512, silence=-1.0)
    crops = source.read(np.zeros(200, dtype=int), np.random.default_rng(1))[..., 0, 0]
    fast = crops[:, 0] > 1000
    assert 60 < fast.sum() < 140  # drawn uniformly
    assert (np.diff(crops[:, :501], axis=1) == 1).all()  # consecutive frames of one set
    assert (crops[fast, 500] <= 1540).all() and (crops[~fast, 500] <= 600).all()


# --- spectrogram augmentation ---------------------------------------------------------------

def test_gain_scales_magnitudes_and_shifts_the_log_where_it_is_above_the_floor():
    m = _speech_like()
    decibels = np.array([-6.0, 0.0, 4.5])
    factor = 10 ** (decibels / 20)
    np.testing.assert_allclose(apply_gain(m, decibels, STFTSettings()), m * factor[:, None, None, None], rtol=1e-6)
    x = np.log(m + LOG.log_floor)
    out = apply_gain(x, decibels, LOG)
    np.testing.assert_allclose(out, np.log(m * factor[:, None, None, None] + LOG.log_floor), atol=1e-5)
    loud = m > 100 * LOG.log_floor
    shift = (out - x)[loud]
    expected = np.broadcast_to(np.log(factor)[:, None, None, None], m.shape)[loud]
    np.testing.assert_allclose(shift, expected, atol=0.02)  # an additive constant, up to floor / magnitude
    np.testing.assert_allclose(out[:, 300:], x[:, 300:], atol=1e-6)  # padding stays at the floor


@pytest.mark.parametrize("stft", [STFTSettings(), LOG])
def test_noise_is_added_at_the_drawn_snr_in_the_audio_frames_only(stft):
    m = _speech_like()
    x = np.log(m + stft.log_floor) if stft.compression == "log" else m
    snr = np.array([10.0, 20.0, 30.0])
    out = add_noise(x, snr, np.random.default_rng(0), stft)
    added = np.square(magnitudes(out, stft)) - np.square(m)
    signal = np.square(m[:, :300]).mean(axis=(1, 2, 3))
    measured = 10 * np.log10(signal / added[:, :300].mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(measured, snr, atol=0.1)
    np.testing.assert_array_equal(out[:, 300:], x[:, 300:])


def test_frequency_warping_scales_linear_bins_exactly():
    stft = STFTSettings()  # linear bins 62.5 Hz apart
    hertz = np.arange(stft.frequency_bins) * 16000 / stft.frame_length
    m = np.broadcast_to((1 + hertz / 1000)[None, None, :, None], (3, 5, stft.frequency_bins, 1)).astype(np.float32)
    factors = np.array([1.0, 0.8, 1.25])
    out = warp_frequencies(m, factors, stft)
    for example, factor in enumerate(factors):
        inside = hertz / factor <= hertz[-1]  # above the top bin the top bin's magnitude is held
        expected = np.where(inside, 1 + hertz / factor / 1000, 1 + hertz[-1] / 1000)
        np.testing.assert_allclose(out[example, :, :, 0], np.broadcast_to(expected, (5, len(hertz))), rtol=1e-6)


def test_frequency_warping_moves_a_tone_to_the_band_of_the_scaled_tone():
    mel = STFTSettings(mel_bins=40, compression="log", time_steps=64)
    t = np.arange(64 * mel.hop_length) / 16000
    tones = [np.sin(2 * np.pi * f * t) for f in (400, 480, 1500, 1200)]
    x = spectrogram(np.stack(tones), mel)
    x[:, 40:] = np.log(np.float32(mel.log_floor))  # padding frames
    out = warp_frequencies(x[[0, 2]], [1.2, 0.8], mel)
    for original, warped, target in zip(x[[0, 2]], out, x[[1, 3]]):
        assert warped[10, :, 0].argmax() == target[10, :, 0].argmax() != original[10, :, 0].argmax()
    np.testing.assert_allclose(out[:, 40:], x[[0, 2], 40:], atol=1e-6)  # padding stays at the floor
    np.testing.assert_allclose(warp_frequencies(x, np.ones(4), mel), x, atol=1e-4)


def test_masks_zero_exactly_the_drawn_bands():
    x = np.random.default_rng(0).normal(size=(4, 50, 20, 1)).astype(np.float32) + 5
    starts, widths = draw_bands(np.random.default_rng(1), 4, 3, 10, 50)
    assert starts.shape == widths.shape == (4, 3) and widths.max() <= 10 and (starts + widths).max() <= 50
    expected = x.copy()
    for example in range(4):
        for start, width in zip(starts[example], widths[example]):
            expected[example, start : start + width] = 0
    np.testing.assert_array_equal(mask(x, starts, widths, axis=1), expected)
    starts, widths = draw_bands(np.random.default_rng(2), 4, 2, 6, 20)
    expected = x.copy()
    for example in range(4):
        for start, width in zip(starts[example], widths[example]):
            expected[example, :, start : start + width] = 0
    np.testing.assert_array_equal(mask(x, starts, widths, axis=2), expected)


def test_mixup_mixes_inputs_and_labels_alike():
    x = np.repeat(np.arange(8, dtype=np.float32), 6).reshape(8, 3, 2, 1)  # example i holds i
    mixed, soft = mixup(x, np.arange(8), np.random.default_rng(0), 0.4, num_classes=8)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    for i in range(8):
        partner = next((j for j in np.flatnonzero(soft[i]) if j != i), i)
        weight = soft[i, i] if partner != i else 1.0
        np.testing.assert_allclose(mixed[i], weight * i + (1 - weight) * partner, rtol=1e-5)
    assert (soft.max(axis=1) < 1).sum() >= 4  # mostly mixed


def test_label_smoothing_spreads_its_share_over_the_classes_after_mixup():
    smoothed = smooth_labels(np.array([2, 0]), 0.1, num_classes=4)
    np.testing.assert_allclose(smoothed, [[0.025, 0.025, 0.925, 0.025], [0.925, 0.025, 0.025, 0.025]], rtol=1e-6)
    np.testing.assert_allclose(smooth_labels(np.array([[0.5, 0.5, 0, 0]]), 0.2, 4), [[0.45, 0.45, 0.05, 0.05]])
    x = np.zeros((6, 3, 2, 1), np.float32)
    inputs, labels = Augmentation(label_smoothing=0.2).inputs(x, np.array([0, 1, 2, 3, 0, 1]), None, num_classes=4)
    assert inputs is x and labels.shape == (6, 4) and labels.dtype == np.float32
    np.testing.assert_allclose(labels[:, 0], [0.85, 0.05, 0.05, 0.05, 0.85, 0.05], rtol=1e-6)
    both = Augmentation(mixup_alpha=0.4, label_smoothing=0.2)
    _, soft = both.inputs(x, np.arange(6) % 4, np.random.default_rng(0), num_classes=4)
    _, mixed = mixup(x, np.arange(6) % 4, np.random.default_rng(0), 0.4, num_classes=4)
    np.testing.assert_allclose(soft, 0.8 * mixed + 0.05, rtol=1e-6)
    assert both.soft_labels and Augmentation(label_smoothing=0.1).soft_labels and not Augmentation().soft_labels


# --- the training dataset -----------------------------------------------------------------------

def _window_dataset(seed=0, augment=ALL_ON, **kwargs):
    m = _speech_like(examples=20, audio=400, seed=3)
    windows = FeatureSet(np.log(m + LOG.log_floor).astype(np.float16), np.arange(20), [None] * 20)
    return TrainingDataset(WindowSource(windows), np.arange(20) % 4, batch_size=6, seed=seed,
                           augmentation=Augmentation.from_table(augment), stft=LOG, num_classes=4, **kwargs)


def test_the_same_seed_gives_the_same_batches_in_any_reading_order():
    first, again, other = _window_dataset(), _window_dataset(), _window_dataset(seed=1)
    batches = [first[i] for i in range(len(first))]
    for i in reversed(range(len(again))):
        np.testing.assert_array_equal(again[i][0], batches[i][0])
        np.testing.assert_array_equal(again[i][1], batches[i][1])
    assert not np.allclose(other[0][0][:2], batches[0][0][:2])
    first.on_epoch_end()
    assert not np.allclose(first[0][0][:2], batches[0][0][:2])  # new draws every epoch
    assert len(first) == 4 and batches[-1][0].shape == (2, 512, 128, 1) and batches[0][1].shape == (6, 4)


def test_masks_in_the_dataset_are_whole_stripes_of_at_most_the_widest_width():
    augment = {"time_masks": 2, "time_mask_width": 40, "frequency_masks": 2, "frequency_mask_width": 12}
    data = _window_dataset(augment=augment, transform=lambda x: np.ones_like(x))
    x, labels = data[0]
    assert labels.dtype.kind == "i"  # integer labels without mixup
    for example in x[..., 0] == 0:
        rows, columns = example.all(axis=1), example.all(axis=0)
        assert (example == (rows[:, None] | columns[None, :])).all()
        assert rows.sum() <= 80 and columns.sum() <= 24


def test_the_dataset_smooths_the_labels_of_the_examples_it_draws():
    plain, smoothed = _window_dataset(augment={}), _window_dataset(augment={"label_smoothing": 0.1})
    for index in range(len(plain)):
        (x, labels), (x_smoothed, soft) = plain[index], smoothed[index]
        np.testing.assert_array_equal(x_smoothed, x)
        np.testing.assert_allclose(soft, 0.9 * np.eye(4)[labels] + 0.025, rtol=1e-6)


def test_balanced_epochs_draw_corpus_and_class_groups_in_equal_shares():
    corpora = np.array(["a"] * 80 + ["b"] * 20)
    labels = np.array([0] * 60 + [1] * 20 + [0] * 15 + [1] * 5)
    groups = balance_groups("corpus_class", corpora, labels)
    weights = balanced_weights(groups)
    for group in set(groups):
        assert weights[groups == group].sum() == pytest.approx(0.25)
    assert balanced_weights(balance_groups("class", corpora, labels))[labels == 1].sum() == pytest.approx(0.5)
    assert balance_groups("none", corpora, labels) is None
    sqrt_weights = balanced_weights(balance_groups("corpus_class_sqrt", corpora, labels), 0.5)
    roots = {"a:0": 60 ** 0.5, "a:1": 20 ** 0.5, "b:0": 15 ** 0.5, "b:1": 5 ** 0.5}  # share ∝ √(group size)
    for group, root in roots.items():
        assert sqrt_weights[groups == group].sum() == pytest.approx(root / sum(roots.values()))
    assert balanced_weights(groups, 1.0) == pytest.approx(np.full(100, 0.01))  # exponent 1: as the data come
    assert sorted(epoch_order(np.random.default_rng(0), 100)) == list(range(100))
    source = WindowSource(FeatureSet(np.zeros((100, 1, 1, 1), np.float16), np.arange(100), [None] * 100))
    data = TrainingDataset(source, np.arange(100), batch_size=25, weights=weights, stft=STFTSettings())  # label: index
    drawn = []
    for _ in range(50):
        drawn += [group for i in range(len(data)) for group in groups[data[i][1]]]
        data.on_epoch_end()
    shares = {group: drawn.count(group) / len(drawn) for group in set(groups)}
    assert all(abs(share - 0.25) < 0.03 for share in shares.values()), shares  # 5 standard deviations


def test_balanced_draws_can_start_at_a_later_epoch_also_after_a_resume():
    source = WindowSource(FeatureSet(np.zeros((40, 1, 1, 1), np.float16), np.arange(40), [None] * 40))
    weights = np.zeros(40)
    weights[7] = 1.0  # every balanced draw is example 7
    data = TrainingDataset(source, np.arange(40), batch_size=8, weights=weights, weights_from_epoch=2)  # label: index

    def epoch_examples():
        return np.sort(np.concatenate([data[i][1] for i in range(len(data))]))

    for epoch in range(4):
        expected = np.arange(40) if epoch < 2 else np.full(40, 7)  # shuffled, each example once; then drawn
        np.testing.assert_array_equal(epoch_examples(), expected)
        data.on_epoch_end()
    resumed = TrainingDataset(source, np.arange(40), batch_size=8, weights=weights, weights_from_epoch=2)
    first = [resumed[i][1] for i in range(len(resumed))]
    resumed.at_epoch(0)  # where it is: the batches stay
    assert all(np.array_equal(resumed[i][1], batch) for i, batch in enumerate(first))
    resumed.at_epoch(3)
    np.testing.assert_array_equal(np.concatenate([resumed[i][1] for i in range(len(resumed))]), np.full(40, 7))
    assert resumed.epoch == 3


def test_fit_reads_each_epochs_own_draws_with_epoch_draws_also_from_a_later_initial_epoch(monkeypatch):
    import keras

    source = WindowSource(FeatureSet(np.zeros((16, 2, 2, 1), np.float16), np.arange(16), [None] * 16))
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(16)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    read_in, training, read = [], [], TrainingDataset.__getitem__
    monkeypatch.setattr(TrainingDataset, "__getitem__", lambda self, index: training and read_in.append(self.epoch)
                        or read(self, index))  # reads once training has begun, not fit's look at the first batch
    started = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: training.append(epoch))
    assert epoch_draws(np.zeros(3)) == []  # other data: nothing to follow
    for initial_epoch, expected in ((0, {0, 1}), (1, {1, 2})):  # a fresh fit, and one continued as Hyperband does
        data = TrainingDataset(source, np.arange(16), batch_size=8)  # label: index
        read_in.clear()
        training.clear()
        model.fit(data, epochs=initial_epoch + 2, initial_epoch=initial_epoch,
                  callbacks=[*epoch_draws(data), started], shuffle=False, verbose=0)
        assert set(read_in) == expected


def test_per_corpus_batches_never_mix_corpora_and_keep_every_example_or_each_corpus_share():
    corpora = np.array(["a"] * 50 + ["b"] * 23 + ["c"] * 7)
    source = WindowSource(FeatureSet(np.zeros((80, 1, 1, 1), np.float16), np.arange(80), [None] * 80))
    data = TrainingDataset(source, np.arange(80), batch_size=10, groups=corpora, stft=STFTSettings())  # label: index
    orders = []
    for epoch in range(3):
        batches = [data[i][1] for i in range(len(data))]
        assert len(batches) == 5 + 3 + 1  # ceil(50 / 10) + ceil(23 / 10) + ceil(7 / 10), every epoch
        assert all(len(set(corpora[batch])) == 1 for batch in batches)
        assert sorted(np.concatenate(batches)) == list(range(80))  # shuffled: each example once
        orders.append("".join(corpora[batch[0]] for batch in batches))
        data.on_epoch_end()
    # Under balanced weights each corpus gets its share of the 80 draws, rounded: 1/3 each gives 27, 27, 26.
    weights = balanced_weights(corpora)
    for drop_remainder, sizes in ((False, {"a": [10, 10, 7], "b": [10, 10, 7], "c": [10, 10, 6]}),
                                  (True, {"a": [10, 10], "b": [10, 10], "c": [10, 10]})):
        batches = epoch_batches(np.random.default_rng(0), 80, 10, weights, corpora, drop_remainder)
        drawn = {corpus: sorted(len(b) for b in batches if corpora[b[0]] == corpus) for corpus in "abc"}
        assert drawn == {corpus: sorted(size) for corpus, size in sizes.items()}
        assert all(len(set(corpora[batch])) == 1 for batch in batches)
    assert len(set(orders)) == 3 and all(order != "".join(sorted(order)) for order in orders)  # corpora interleaved
    # Without groups the batches are the epoch's order cut in turn, as before groups existed.
    mixed = epoch_batches(np.random.default_rng(5), 80, 10)
    np.testing.assert_array_equal(np.concatenate(mixed), epoch_order(np.random.default_rng(5), 80))
    with pytest.raises(ValueError, match="got 79 groups for 80 examples"):
        TrainingDataset(source, np.arange(80), batch_size=10, groups=corpora[:79])


# --- end to end on real clips ---------------------------------------------------------------------

def test_a_run_with_every_option_trains_and_evaluation_data_stay_unaugmented(tmp_path, corpus_root, monkeypatch):
    from keras_ser.models import a2
    from keras_ser.training import train
    from keras_ser.training.data import prepare_data
    from keras_ser.training.evaluation import evaluate_part

    (tmp_path / "emodb" / "wav").mkdir(parents=True)
    for name in RUN_FILES:
        (tmp_path / "emodb" / "wav" / f"{name}.flac").symlink_to(corpus_root("emodb") / "wav" / f"{name}.flac")
    config = tiny(data={"root": str(tmp_path), "max_items": 0, "split": "random", "crops": "random"},
                  training={"epochs": 2, "balance": "corpus_class", "balance_from_epoch": 1, "batches": "per_corpus",
                            "augment": {**ALL_ON, "speed": [0.9, 1.0, 1.1]}})
    read_in, read = set(), TrainingDataset.__getitem__
    monkeypatch.setattr(TrainingDataset, "__getitem__", lambda self, index: read_in.add(self.epoch) or read(self, index))
    metrics = train(config, tmp_path / "run", progress=False)
    assert metrics["epochs_run"] == 2
    assert read_in == {0, 1}  # epoch k reads epoch k's draws (Keras's fit advances a dataset once before the first)
    plain = prepare_data(tiny(data={"root": str(tmp_path), "max_items": 0, "split": "random"}).data, progress=False)
    augmented = prepare_data(config.data, progress=False, training=config.training)
    assert plain.loader is None and augmented.soft_labels and augmented.loader.weights_from_epoch == 1
    one_corpus = tiny(data={"root": str(tmp_path), "max_items": 0, "split": "random"},
                      training={"batches": "per_corpus"})
    assert prepare_data(one_corpus.data, progress=False, training=one_corpus.training).loader.groups is not None
    network = a2(num_classes=4, input_shape=plain.input_shape, filters=4, hidden_units=16)
    for part in ("val", "test"):
        for got, expected in zip(augmented.arrays(part), plain.arrays(part)):
            np.testing.assert_array_equal(got, expected)
        assert evaluate_part(network, augmented, part, 8) == evaluate_part(network, plain, part, 8)
    x, y = augmented.train_dataset(4)[0]
    assert x.shape == (4, 128, 64, 1) and y.shape == (4, 4)  # tiny()'s 1-s windows of 64 bins
    train_clips = {item.path for item in augmented.parts["train"].segment_items()}
    assert len(augmented.loader.labels) == len(train_clips)  # one crop per utterance and epoch
    assert set(augmented.loader.groups) == {"emodb"}  # batches of one corpus
