"""A tiny classifier and audio files for test_prediction_inputs and test_cli_predict; a preset's predictions on JAX."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import soundfile

CLASSES = ["neutral", "angry", "happy", "sad"]
RATE = 16000


def tiny_classifier():
    """An untrained SERClassifier of about 33k parameters: RH-emo's encoder and an 8-unit emotion head."""
    import keras

    from keras_ser.presets import AudioPreprocessor, SERClassifier

    keras.utils.set_random_seed(0)
    return SERClassifier(CLASSES, rhemo={"variant": "full", "head_units": 8, "heads": ["emotion"]},
                         preprocessor=AudioPreprocessor(normalizer={"kind": "max", "maximum": 40.0}), name="tiny")


def speech_like(seconds=1.5, seed=0):
    """A float32 signal at RATE: noise under a few harmonics, peak about 0.5."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((180, 360, 540, 1200)))
    noise = np.random.default_rng(seed).normal(0, 0.05, t.size)
    return (0.2 * tone + noise).astype(np.float32)


def mixed_folder(folder, emodb):
    """`folder` holding two real EmoDB clips and three unreadable .wav files; returns (good, {bad path: reason})."""
    folder.mkdir()
    good = [shutil.copy(emodb / name, folder / name) for name in ("03a01Wa.flac", "03a02Fc.flac")]
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("not audio, just a text file named .wav\n" * 10)
    soundfile.write(folder / "whole.wav.tmp", speech_like(0.2), RATE, format="WAV")
    (folder / "truncated.wav").write_bytes((folder / "whole.wav.tmp").read_bytes()[:30])
    (folder / "whole.wav.tmp").unlink()
    bad = {str(folder / "empty.wav"): "empty", str(folder / "notes.wav"): "not a readable audio file",
           str(folder / "truncated.wav"): "not a readable audio file"}
    return [str(path) for path in good], bad


def predict_file_on_jax(folder, path):
    """{label: score} of `load(folder).predict_file(path)` in a JAX process that cannot import TensorFlow."""
    code = (
        "import sys, json\n"
        "class NoTensorFlow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tensorflow':\n"
        "            raise ImportError('tensorflow is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTensorFlow())\n"
        "from keras_ser.presets import load\n"
        f"result = load({str(folder)!r}).predict_file({str(path)!r})\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        "print(json.dumps({e['label']: e['score'] for e in result}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "KERAS_BACKEND": "jax"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
