"""Time building the spectrogram cache, and the eGeMAPS cache, for the shared corpora from scratch.

Run by hand: python benchmarks/feature_cache.py [--egemaps]
"""

import argparse
import tempfile
import time

from keras_ser.datasets import cached_features, load_corpus

CORPORA = ("emodb", "ravdess", "tess", "nemo", "fsdd")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--egemaps", action="store_true", help="also time the eGeMAPS functionals (needs [baselines])")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        for name in CORPORA:
            items = load_corpus(name)
            began = time.perf_counter()
            features = cached_features(items, name, cache_dir=cache_dir, progress=False)
            print(f"{name:8s} {len(items):5d} files {len(features):5d} segments {time.perf_counter() - began:6.1f} s")
        print(f"total build: {time.perf_counter() - start:.1f} s")
        began = time.perf_counter()
        for name in CORPORA:
            cached_features(load_corpus(name), name, cache_dir=cache_dir, progress=False)
        print(f"reuse (all): {time.perf_counter() - began:.2f} s")
        if args.egemaps:
            from keras_ser.baselines import egemaps_features

            for name in CORPORA[:-1]:
                items = load_corpus(name)
                began = time.perf_counter()
                egemaps_features(items, name, cache_dir=cache_dir, progress=False)
                print(f"eGeMAPS {name:8s} {len(items):5d} files {time.perf_counter() - began:6.1f} s")


if __name__ == "__main__":
    main()
