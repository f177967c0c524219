"""Time building the spectrogram cache for the four shared corpora from scratch.

Run by hand: python benchmarks/feature_cache.py
"""

import tempfile
import time

from keras_ser.datasets import cached_features, load_corpus


def main():
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        for name in ("emodb", "ravdess", "tess", "fsdd"):
            items = load_corpus(name)
            began = time.perf_counter()
            features = cached_features(items, name, cache_dir=cache_dir, progress=False)
            print(f"{name:8s} {len(items):5d} files {len(features):5d} segments {time.perf_counter() - began:6.1f} s")
        print(f"total build: {time.perf_counter() - start:.1f} s")
        began = time.perf_counter()
        for name in ("emodb", "ravdess", "tess", "fsdd"):
            cached_features(load_corpus(name), name, cache_dir=cache_dir, progress=False)
        print(f"reuse (all four): {time.perf_counter() - began:.2f} s")


if __name__ == "__main__":
    main()
