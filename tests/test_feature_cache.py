import collections
import importlib.util
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from keras_ser import audio
from keras_ser.audio import AudioError
from keras_ser.datasets.cache import FrontEnd, cached_features

Clip = collections.namedtuple("Clip", "path corpus label")


@pytest.fixture(scope="module")
def emodb_clips(corpus_root):
    files = sorted((corpus_root("emodb") / "wav").glob("*.flac"))[:12]
    return [Clip(str(path), "emodb", i % 3) for i, path in enumerate(files)]


def test_cache_holds_the_front_end_output(emodb_clips, tmp_path):
    features = cached_features(emodb_clips, "emodb", cache_dir=tmp_path, progress=False)
    expected_counts = [len(audio.segment(audio.load(c.path))) for c in emodb_clips]
    assert features.features.shape == (sum(expected_counts), 512, 128, 1)
    assert features.features.dtype == np.float16
    np.testing.assert_array_equal(np.bincount(features.item_index), expected_counts)
    first = audio.spectrogram(audio.segment(audio.load(emodb_clips[0].path)))
    np.testing.assert_allclose(features.features[: len(first)], first, rtol=1e-3, atol=1e-3)
    assert isinstance(features.features, np.memmap)


def test_cache_is_reused_and_keyed_by_config(emodb_clips, tmp_path):
    cached_features(emodb_clips, "emodb", cache_dir=tmp_path, progress=False)
    folders = list(tmp_path.iterdir())
    assert len(folders) == 1
    stamp = os.stat(folders[0] / "features.npy").st_mtime_ns
    again = cached_features(emodb_clips, "emodb", cache_dir=tmp_path, progress=False)
    assert os.stat(folders[0] / "features.npy").st_mtime_ns == stamp
    assert len(again) == len(again.item_index)
    cached_features(emodb_clips, "emodb", FrontEnd(segment_seconds=2.0), cache_dir=tmp_path, progress=False)
    cached_features(emodb_clips[:5], "emodb", cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.iterdir())) == 3
    assert not any(p.name.startswith("emodb-") and "." in p.name for p in tmp_path.iterdir()), "no staging left"


def _write_wav(path, samples):
    with wave.open(str(path), "wb") as file:
        file.setparams((1, 2, 16000, 0, "NONE", "not compressed"))  # mono 16-bit PCM at 16 kHz
        file.writeframes(np.asarray(samples, "<i2").tobytes())


def test_a_rewritten_file_of_the_same_size_gets_new_features(tmp_path):
    clip = tmp_path / "clip.wav"
    _write_wav(clip, np.zeros(8000))
    items = [Clip(str(clip), "x", 0)]
    silent = cached_features(items, "x", cache_dir=tmp_path / "cache", progress=False)
    size, mtime = clip.stat().st_size, clip.stat().st_mtime_ns
    _write_wav(clip, np.random.default_rng(0).integers(-10000, 10000, 8000))
    os.utime(clip, ns=(mtime + 10**9, mtime + 10**9))  # a second later, whatever the file system's clock step
    assert clip.stat().st_size == size
    loud = cached_features(items, "x", cache_dir=tmp_path / "cache", progress=False)
    assert not silent.array().any() and loud.array().any()
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_subset_labels_and_dataset(emodb_clips, tmp_path):
    features = cached_features(emodb_clips, "emodb", cache_dir=tmp_path, progress=False)
    part = features.subset(emodb_clips[3:7])
    assert {c.path for c in part.segment_items()} == {c.path for c in emodb_clips[3:7]}
    assert part.labels(lambda clip: clip.label).tolist() == [c.label for c in part.segment_items()]
    position = np.arange(len(part))  # label each segment with its own position
    data = part.dataset(position, batch_size=3, shuffle=True, seed=7)
    seen = []
    for i in range(len(data)):
        x, y = data[i]
        assert x.dtype == np.float32 and x.shape[1:] == (512, 128, 1)
        for row_x, row_y in zip(x, y):
            np.testing.assert_array_equal(row_x, part.features[part.rows[row_y]])
        seen.extend(y.tolist())
    assert sorted(seen) == position.tolist()  # every segment exactly once per epoch


def test_shuffle_is_deterministic_from_seed(emodb_clips, tmp_path):
    features = cached_features(emodb_clips, "emodb", cache_dir=tmp_path, progress=False)
    labels = np.arange(len(features))
    first = [features.dataset(labels, batch_size=4, seed=1)[i][1].tolist() for i in range(2)]
    again = [features.dataset(labels, batch_size=4, seed=1)[i][1].tolist() for i in range(2)]
    other = [features.dataset(labels, batch_size=4, seed=2)[i][1].tolist() for i in range(2)]
    assert first == again and first != other


def test_cache_failures(emodb_clips, tmp_path):
    features = cached_features(emodb_clips, "emodb", cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="got 2 labels for"):
        features.dataset(np.zeros(2))
    with pytest.raises(ValueError, match="not in this feature set"):
        features.subset([Clip("/elsewhere/x.wav", "emodb", 0)])
    with pytest.raises(ValueError, match="no items"):
        cached_features([], "emodb", cache_dir=tmp_path)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError, match="broken.wav"):
        cached_features([*emodb_clips[:2], Clip(str(bad), "x", 0)], "mixed", cache_dir=tmp_path / "c", progress=False)
    assert not any((tmp_path / "c").glob("mixed-*/manifest.json"))


def _non_tensorflow_backend():
    for backend, module in (("jax", "jax"), ("torch", "torch")):
        if importlib.util.find_spec(module) is not None:
            return backend
    pytest.skip("needs JAX or PyTorch installed to run Keras without TensorFlow")


def test_data_loading_needs_no_tensorflow(emodb_clips, tmp_path):
    backend = _non_tensorflow_backend()
    code = (
        "import sys, collections\n"
        "class NoTensorFlow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tensorflow':\n"
        "            raise ImportError('tensorflow is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTensorFlow())\n"
        "from keras_ser.datasets.cache import cached_features\n"
        "C = collections.namedtuple('C', 'path corpus')\n"
        f"fs = cached_features([C(p, 'emodb') for p in {[c.path for c in emodb_clips[:3]]!r}], 'emodb',"
        f" cache_dir={str(tmp_path)!r}, progress=False)\n"
        "x, y = fs.dataset([0] * len(fs), batch_size=2)[0]\n"
        "assert x.shape[1:] == (512, 128, 1)\n"
        "from keras_ser.datasets.cache import FrontEnd\n"
        "from keras_ser.training.augmentation import Augmentation\n"
        "from keras_ser.training.loader import CropSource, TrainingDataset\n"
        f"frames = cached_features(fs.items, 'emodb', FrontEnd(layout='frames', speed=1.1), cache_dir={str(tmp_path)!r},"
        " progress=False)\n"
        "augment = Augmentation(6, (10, 30), 2, 40, 2, 12, (1.1,), 0.2)\n"
        "batches = TrainingDataset(CropSource([frames], fs.items, 501, 512, 0.0), [0, 1, 2], 2, augmentation=augment,"
        " stft=FrontEnd().stft, weights=[0.5, 0.25, 0.25])\n"
        "x, y = batches[0]\n"
        "assert x.shape == (2, 512, 128, 1) and y.shape == (2, 3)\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
