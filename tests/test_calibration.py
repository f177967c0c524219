"""Calibration: expected calibration error, temperature fitting, and the temperature a preset applies."""

import json
import shutil

import keras
import numpy as np
import pytest

from keras_ser.hub.card import card_text
from keras_ser.presets import load, save_preset, with_new_head
from keras_ser.presets.registry import resolve
from keras_ser.training.calibration import (
    TemperatureScaling,
    expected_calibration_error,
    fit_temperature,
    temperature_scaled,
)


def softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_ece_of_a_hand_computed_example():
    probabilities = np.array([
        [0.90, 0.05, 0.05],  # confidence 0.9, right   ┐ bin (13/15, 14/15]: accuracy 0.5, confidence 0.9
        [0.90, 0.10, 0.00],  # confidence 0.9, wrong   ┘
        [0.50, 0.30, 0.20],  # confidence 0.5, right   ┐ bin (7/15, 8/15]: accuracy 0.5, confidence 0.5
        [0.20, 0.50, 0.30],  # confidence 0.5, wrong   ┘
        [0.10, 0.20, 0.70],  # confidence 0.7, right     bin (10/15, 11/15]: accuracy 1, confidence 0.7
    ])
    labels = np.array([0, 1, 0, 2, 2])
    # 2/5 x |0.5 - 0.9| + 2/5 x |0.5 - 0.5| + 1/5 x |1 - 0.7|
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.16 + 0.06)
    # One bin: |overall accuracy - mean confidence| = |3/5 - 3.5/5|
    assert expected_calibration_error(probabilities, labels, bins=1) == pytest.approx(0.1)
    # 0.81 and 0.85 share the 15-bin (12/15, 13/15]: accuracy 1/2, confidence 0.83
    close = np.array([[0.81, 0.19], [0.85, 0.15]])
    assert expected_calibration_error(close, np.array([0, 1])) == pytest.approx(0.33)


def test_ece_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match=r"labels must hold one class index per row of probabilities \(2\)"):
        expected_calibration_error(np.full((2, 3), 1 / 3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"labels must be integers in 0..2"):
        expected_calibration_error(np.full((2, 3), 1 / 3), np.array([0, 3]))


@pytest.mark.parametrize("true_temperature", [3.0, 0.5])
def test_fitted_temperature_undoes_scaled_logits(true_temperature):
    rng = np.random.default_rng(0)
    logits = 2.0 * rng.standard_normal((4000, 4))
    labels = np.array([rng.choice(4, p=row) for row in softmax(logits)])  # calibrated by construction
    miscalibrated = softmax(true_temperature * logits)
    fitted = fit_temperature(miscalibrated, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.1)
    before = expected_calibration_error(miscalibrated, labels)
    after = expected_calibration_error(temperature_scaled(miscalibrated, fitted), labels)
    assert after < 0.03 < before


def test_fitting_on_groups_pools_each_groups_rows():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((500, 3))
    labels = np.array([rng.choice(3, p=row) for row in softmax(logits)])
    probabilities = softmax(2.0 * logits)
    # every clip twice: the mean of two equal windows is the window itself, so T is the same
    doubled = np.repeat(probabilities, 2, axis=0)
    owners = np.repeat(np.arange(500), 2)
    assert fit_temperature(doubled, labels, groups=owners) == pytest.approx(fit_temperature(probabilities, labels),
                                                                             rel=1e-3)
    with pytest.raises(ValueError, match=r"labels must hold one class index per group \(500\)"):
        fit_temperature(doubled, np.repeat(labels, 2), groups=owners)


def test_strata_weigh_each_stratum_as_if_it_were_as_large_as_the_others():
    rng = np.random.default_rng(4)
    logits = 2.0 * rng.standard_normal((1250, 4))
    labels = np.array([rng.choice(4, p=row) for row in softmax(logits)])
    # a large stratum three times too sharp, a small one twice too soft
    probabilities = np.concatenate([softmax(3.0 * logits[:1000]), softmax(0.5 * logits[1000:])])
    strata = np.repeat(["large", "small"], [1000, 250])
    pooled = fit_temperature(probabilities, labels)
    # reference: the small stratum repeated four times, pooled
    repeated = np.concatenate([probabilities[:1000], np.tile(probabilities[1000:], (4, 1))])
    reference = fit_temperature(repeated, np.concatenate([labels[:1000], np.tile(labels[1000:], 4)]))
    assert fit_temperature(probabilities, labels, strata=strata) == pytest.approx(reference, rel=1e-3)
    assert reference < pooled  # the small, too soft stratum pulls T down once it counts as much
    # per clip, with groups: one stratum key per clip
    owners = np.repeat(np.arange(1250), 2)
    assert fit_temperature(np.repeat(probabilities, 2, axis=0), labels, groups=owners, strata=strata) \
        == pytest.approx(reference, rel=1e-3)
    with pytest.raises(ValueError, match=r"strata must hold one key per group \(1250\), got shape \(2500,\)"):
        fit_temperature(np.repeat(probabilities, 2, axis=0), labels, groups=owners, strata=np.repeat(strata, 2))


def test_perfect_validation_warns_that_the_temperature_is_at_its_bound():
    probabilities = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    with pytest.warns(UserWarning, match=r"at the edge of the range searched, \(0.05, 20.0\).*3 calibration examples"):
        fit_temperature(probabilities, np.array([0, 1, 0]))


def test_temperature_scaling_is_softmax_of_divided_logits_and_keeps_the_argmax():
    logits = np.random.default_rng(2).standard_normal((6, 5)) * 4
    probabilities = softmax(logits).astype(np.float32)
    scaled = temperature_scaled(probabilities, 2.5)
    np.testing.assert_allclose(scaled, softmax(logits / 2.5), rtol=1e-5)
    np.testing.assert_array_equal(scaled.argmax(axis=1), logits.argmax(axis=1))
    np.testing.assert_allclose(temperature_scaled(probabilities, 1), probabilities, rtol=1e-6)
    layer = TemperatureScaling(2.5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(probabilities)), scaled, rtol=1e-5, atol=1e-7)
    assert TemperatureScaling.from_config(layer.get_config()).temperature == 2.5
    with pytest.raises(ValueError, match=r"temperature must be a positive finite number .*got 0"):
        TemperatureScaling(0)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """Two copies of the zoo's `rhemo` (no temperature recorded) with its valence head back (its weights file still
    holds it): as it is, and with config.json saying temperature 2.5."""
    models = []
    for temperature in (None, 2.5):
        folder = tmp_path_factory.mktemp("presets") / f"temperature_{temperature}"
        shutil.copytree(resolve("rhemo"), folder)
        config = json.loads((folder / "config.json").read_text())
        assert "temperature" not in config["config"]
        config["config"]["rhemo"]["heads"] = ["emotion", "valence"]
        if temperature is not None:
            config["config"]["temperature"] = temperature
        (folder / "config.json").write_text(json.dumps(config))
        models.append(load(str(folder)))
    return tuple(models)


def test_presets_apply_their_temperature_and_old_ones_keep_their_scores(calibrated, tmp_path):
    original, model = calibrated
    assert original.temperature == 1.0 and "temperature" not in [layer.name for layer in original.layers]
    assert model.temperature == 2.5
    rng = np.random.default_rng(3)
    windows = (0.1 * rng.standard_normal((3, model.preprocessor.window_samples))).astype(np.float32)
    raw = original.score_windows(windows)["emotion"]
    np.testing.assert_allclose(model.score_windows(windows)["emotion"], temperature_scaled(raw, 2.5), atol=1e-6)
    np.testing.assert_allclose(model.predict(windows, verbose=0), temperature_scaled(raw, 2.5), atol=1e-6)  # exports
    assert model.score_windows(windows)["valence"] == pytest.approx(original.score_windows(windows)["valence"])
    # saving keeps the temperature; a new head starts uncalibrated
    assert load(str(save_preset(model, tmp_path / "again"))).temperature == 2.5
    assert with_new_head(model, num_classes=3).temperature == 1.0


def test_card_reports_the_temperature_and_the_ece_per_corpus():
    metadata = {"name": "mine", "class_names": ["calm", "upset"], "license": "mit",
                "metrics": {"test": {"emodb": {"accuracy": 0.5, "uar": 0.5}}},
                "calibration": {"temperature": 1.8372, "fitted_on": "val", "bins": 15,
                                "ece": {"test": {"emodb": {"before": 0.1234, "after": 0.0456}},
                                        "val": {"emodb": {"before": 0.2, "after": 0.01}}}}}
    text = card_text(metadata)
    assert "## Calibration" in text and "T = 1.84, fitted on the val clips" in text
    assert "ECE, 15 equal-width confidence bins" in text
    assert "| test | emodb | 12.3 | 4.6 |" in text and "| val | emodb | 20.0 | 1.0 |" in text
    assert "Calibration" not in card_text({key: value for key, value in metadata.items() if key != "calibration"})


def test_card_says_when_the_fitted_temperature_was_not_applied():
    metadata = {"name": "mine", "class_names": ["calm", "upset"], "license": "mit",
                "calibration": {"temperature": 1.0, "fitted": 1.0634, "fitted_on": "val", "weighting": "corpus",
                                "bins": 15, "ece": {"test": {"nemo": {"before": 0.107, "after": 0.12}},
                                                    "val": {"nemo": {"before": 0.126, "after": 0.131}}}}}
    text = card_text(metadata)
    assert ("not temperature-scaled: T = 1.06, fitted on the val clips by minimising their negative log-likelihood, "
            "each corpus weighted equally, did not lower") in text
    assert "| Split | Corpus | ECE at T = 1 % | ECE at T = 1.06 % |" in text
    assert "| test | nemo | 10.7 | 12.0 |" in text


def test_a_fitted_temperature_is_applied_only_when_it_lowers_the_mean_validation_ece():
    from keras_ser.presets.from_run import _lowers_validation_ece

    ece = {"test": {"a": {"before": 0.5, "after": 0.0}},  # the test clips have no say
           "val": {"a": {"before": 0.10, "after": 0.05}, "b": {"before": 0.10, "after": 0.16}}}
    assert not _lowers_validation_ece(ece)  # mean 0.105 against 0.10
    ece["val"]["b"]["after"] = 0.14
    assert _lowers_validation_ece(ece)  # 0.095
