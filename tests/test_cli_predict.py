"""`keras-ser predict` on several targets with unreadable files, `--version`, and quiet TensorFlow logs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from prediction_helpers import RATE, mixed_folder, speech_like, tiny_classifier

from keras_ser import __version__
from keras_ser.cli import main


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    from keras_ser.presets import save_preset

    return str(save_preset(tiny_classifier(), tmp_path_factory.mktemp("presets") / "tiny"))


@pytest.fixture
def clips(corpus_root, tmp_path):
    return mixed_folder(tmp_path / "clips", corpus_root("emodb") / "wav")


def test_predict_takes_several_files_as_a_shell_glob_gives_them(preset, clips, capsys):
    good, _ = clips
    assert main(["predict", *good, "--model", preset]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == good


def test_a_silent_file_is_marked_in_the_output(preset, clips, tmp_path, capsys):
    good, _ = clips
    soundfile.write(tmp_path / "blank.wav", [0.0] * RATE, RATE)
    assert main(["predict", good[0], str(tmp_path / "blank.wav"), "--model", preset]) == 0
    captured = capsys.readouterr()
    speech, blank = captured.out.splitlines()
    assert "[silent" not in speech
    assert blank.startswith(f"{tmp_path / 'blank.wav'}: ") and blank.endswith(
        "[silent: loudest 20 ms at -100.0 dBFS, nothing to score]")
    assert "SilentAudioWarning" not in captured.err  # the mark replaces the warning
    assert main(["predict", str(tmp_path / "blank.wav"), "--model", preset, "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["silent"] is True and entry["level_db"] == -100.0


def test_a_file_too_short_to_hold_an_emotion_is_marked_in_the_output(preset, tmp_path, capsys):
    soundfile.write(tmp_path / "blip.wav", speech_like()[: RATE // 10], RATE)
    assert main(["predict", str(tmp_path / "blip.wav"), "--model", preset]) == 0
    captured = capsys.readouterr()
    assert captured.out.rstrip().endswith("[too short: 0.100 s of audio, too little to hold an emotion]")
    assert "ShortAudioWarning" not in captured.err and "[silent" not in captured.out
    assert main(["predict", str(tmp_path / "blip.wav"), "--model", preset, "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["too_short"] is True and entry["seconds"] == 0.1 and entry["silent"] is False


def test_a_file_without_voiced_sound_is_marked_in_the_output(preset, tmp_path, capsys):
    soundfile.write(tmp_path / "hiss.wav", np.random.default_rng(0).normal(0, 0.1, 2 * RATE), RATE)
    assert main(["predict", str(tmp_path / "hiss.wav"), "--model", preset]) == 0
    captured = capsys.readouterr()
    assert captured.out.rstrip().endswith("[unvoiced: too little voiced sound, likely noise, not speech]")
    assert "UnvoicedAudioWarning" not in captured.err and "[silent" not in captured.out
    assert main(["predict", str(tmp_path / "hiss.wav"), "--model", preset, "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["unvoiced"] is True and entry["silent"] is False and entry["too_short"] is False


def test_unreadable_files_are_skipped_and_reported_together(preset, clips, tmp_path, capsys):
    good, bad = clips
    extra = tmp_path / "extra.wav"
    soundfile.write(extra, speech_like(), RATE)
    assert main(["predict", str(tmp_path / "clips"), str(extra), "--model", preset]) == 1
    out, err = capsys.readouterr()
    assert [line.split(": ")[0] for line in out.splitlines() if line.startswith("/")] == [*good, str(extra)]
    reported = [line for line in err.splitlines() if line.startswith("keras-ser predict: skipped")]
    assert len(reported) == len(bad)
    for (path, reason), line in zip(bad.items(), reported):
        assert f"'{path}'" in line and reason in line

    assert main(["predict", str(tmp_path / "clips"), "--model", preset, "--json"]) == 1
    entries = json.loads(capsys.readouterr().out)
    assert [entry["source"] for entry in entries] == [*good, *bad]
    assert all("labels" in entry for entry in entries[: len(good)])
    assert all(bad[entry["source"]] in entry["error"] for entry in entries[len(good):])


def test_on_error_fail_stops_at_the_first_unreadable_file(preset, clips, capsys):
    assert main(["predict", str(clips[0][0]), *clips[1], "--model", preset, "--on-error", "fail"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "empty.wav" in err and "the file is empty" in err and "notes.wav" not in err


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"keras-ser {__version__}"


# Run before the CLI: these imports fail, as if the packages were absent. scikit-learn is among them because Keras
# imports it (and, through it, scipy.stats) whenever it is installed.
_BLOCK_SLOW_IMPORTS = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "sklearn" or name.startswith(("scipy.stats", "scipy.optimize")):
            raise ModuleNotFoundError(f"{name} is blocked by the test")
sys.meta_path.insert(0, Blocker())
sys.argv = ["keras-ser", "predict", sys.argv[1]]
from keras_ser.cli import main
sys.exit(main())
"""


def test_predict_with_the_default_model_is_quiet_and_imports_neither_scipy_stats_nor_optimize(tmp_path):
    # scipy.stats and scipy.optimize cost 0.9 s of a cold `keras-ser predict` (measured, BENCHMARKS.md), whose goal
    # is 5 s; the library imports them where a statistical test or a temperature fit needs them. TensorFlow's import
    # notices stay off stderr even when TF_CPP_MIN_LOG_LEVEL is unset.
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, speech_like(), RATE)
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", _BLOCK_SLOW_IMPORTS, str(clip)],
                          env={**env, "KERAS_BACKEND": "tensorflow", "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"{clip}: ")
    for notice in ("oneDNN custom operations", "absl::InitializeLog", "cpu_feature_guard", "I tensorflow"):
        assert notice not in done.stderr


def test_evaluate_scores_a_model_on_the_test_speakers_of_a_config(preset, data_root, tmp_path, capsys):
    from keras_ser.training import load_config
    from keras_ser.training.data import split_items

    config = tmp_path / "split.toml"
    config.write_text('[data]\ncorpora = ["emodb"]\nmax_items = 40\nfractions = [0.6, 0.2, 0.2]\n')
    out = tmp_path / "metrics.json"
    main(["evaluate", preset, str(config), "--out", str(out)])
    test = split_items(load_config(config).data).parts["test"]
    metrics = json.loads(out.read_text())
    assert metrics["num_examples"] == len(test) and sum(map(sum, metrics["confusion_matrix"])) == len(test)
    assert f"all: {len(test)} clips, accuracy {metrics['accuracy']:.4f}" in capsys.readouterr().out
    main(["evaluate", preset, preset, str(config), "--out", str(out)])  # an ensemble of one model twice
    assert json.loads(out.read_text())["confusion_matrix"] == metrics["confusion_matrix"]
    assert main(["evaluate", str(tmp_path / "no-such-preset"), str(config)]) == 2
    assert "no-such-preset" in capsys.readouterr().err
