"""eGeMAPSv02 functionals (88 per file) from openSMILE, cached like the spectrogram features.

openSMILE runs in worker processes that never load TensorFlow: with TensorFlow loaded first,
openSMILE corrupts the heap of its process ("malloc(): invalid size") on TensorFlow 2.21.
"""

import dataclasses
import json
import os
import subprocess
import sys
import threading

import numpy as np

from keras_ser.datasets.cache import cached_features

EGEMAPS_FEATURES = 88
INSTALL_HINT = 'the eGeMAPS baseline needs the baselines extra: pip install "keras-ser[baselines]"'
WORKER_MODULE = "keras_ser.baselines.extractor"


def require(module):
    """Import an optional dependency of the baseline, or raise ImportError saying how to install it."""
    try:
        return __import__(module)
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from None


class _Worker:
    """One extractor process: a path per line in, a JSON line of functionals (or an error) out."""

    def __init__(self, front_end):
        env = {**os.environ, "KERAS_BACKEND": "numpy"}  # keeps TensorFlow out of the worker
        self.process = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, front_end.feature_set, str(front_end.sample_rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)

    def features(self, path):
        self.process.stdin.write(f"{os.fspath(path)}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the eGeMAPS extractor process died on '{path}' (exit code {self.process.poll()}); "
                               f"run `{sys.executable} -m {WORKER_MODULE}` to see why")
        reply = json.loads(line)
        if "error" in reply:
            raise ValueError(reply["error"])
        return np.asarray(reply["features"], np.float64)[None, :]

    def __del__(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait()


@dataclasses.dataclass(frozen=True)
class EGeMAPSFrontEnd:
    """openSMILE's eGeMAPSv02 functionals of a whole file, read at `sample_rate` Hz (one row per file)."""

    feature_set: str = "eGeMAPSv02"
    sample_rate: int = 16000
    dtype: str = "float32"

    def __post_init__(self):
        object.__setattr__(self, "_local", threading.local())  # one extractor process per thread

    def features(self, path):
        """(1, 88) functionals of one audio file."""
        worker = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._local.worker = _Worker(self)
        return worker.features(path).astype(self.dtype)


def egemaps_features(items, name, cache_dir=None, progress=True):
    """A FeatureSet of (88,) rows, one per item, computed once into the feature cache."""
    require("opensmile")
    require("sklearn")
    return cached_features(items, f"{name}-egemaps", EGeMAPSFrontEnd(), cache_dir=cache_dir, progress=progress)
