"""Re-encode corpora as 16 kHz mono Ogg Opus at about 16 kbit/s, small enough to carry to the GPU machine.

Data does not travel from ../shared there, and one transfer carries at most 64 MiB (../shared/device/README.md):
RAVDESS, EmoDB, TESS and nEMO come to 45 MiB this way (9257 files), against 242 MB as found. Every file keeps its
corpus's folder and name, with the suffix .ogg, so the corpus loaders read the copy as they read the original
(with KERAS_SER_DATA pointing at OUT); nEMO's data.tsv is copied beside its samples. Models trained on the copy
hear Opus coding at 16 kbit/s (nEMO's originals are Opus at 34 kbit/s); evaluate them on the originals.

What the coding costs a model trained on the originals (2026-12-03): `logmel-cnn-x3` on the zoo split's test
speakers, UAR from the originals / from this copy: EmoDB 63.0 / 60.6, RAVDESS 37.5 / 33.1, TESS 67.9 / 64.3, nEMO
56.5 / 57.1; all 1736 clips 61.0 / 59.0 (`keras-ser evaluate logmel-cnn-x3 split.toml`, KERAS_SER_DATA on each).
A higher rate does not close it: at level 0.96 (19 kbit/s) TESS scores 63.3.

    python experiments/zoo_v2_gpu/pack_corpora.py device_data [--corpora ravdess emodb tess nemo] [--jobs 2]
"""

import argparse
import multiprocessing
import shutil
from pathlib import Path

import soundfile

from keras_ser.audio.io import load
from keras_ser.datasets import load_corpus
from keras_ser.datasets.paths import default_data_root

SAMPLING_RATE = 16000
# libsndfile's Opus compression level: 0.97 gives 16 kbit/s on EmoDB (0.9: 35 kbit/s; 1.0: 10 kbit/s).
COMPRESSION_LEVEL = 0.97
SIDE_FILES = {"nemo": ["data.tsv"]}


def encode(job):
    source, target, level = job
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        soundfile.write(partial, load(source, sr=SAMPLING_RATE), SAMPLING_RATE, format="OGG", subtype="OPUS",
                        compression_level=level)
        partial.rename(target)
    return target.stat().st_size


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the copy's data root (an ignored folder, e.g. device_data)")
    parser.add_argument("--corpora", nargs="+", default=["ravdess", "emodb", "tess", "nemo"])
    parser.add_argument("--jobs", type=int, default=1, help="encoding processes (default: 1)")
    parser.add_argument("--compression-level", type=float, default=COMPRESSION_LEVEL,
                        help=f"libsndfile's Opus compression level, 0-1 (default: {COMPRESSION_LEVEL})")
    args = parser.parse_args()
    root = default_data_root()
    if root is None:
        raise SystemExit("no corpora found: set KERAS_SER_DATA to the folder holding them")
    for corpus in args.corpora:
        jobs = []
        for item in load_corpus(corpus):
            relative = Path(item.path).resolve().relative_to((root / corpus).resolve())
            jobs.append((item.path, (args.out / corpus / relative).with_suffix(".ogg"), args.compression_level))
        with multiprocessing.Pool(args.jobs) as pool:
            size = sum(pool.imap_unordered(encode, jobs, chunksize=16))
        for name in SIDE_FILES.get(corpus, []):
            shutil.copyfile(root / corpus / name, args.out / corpus / name)
        print(f"{corpus}: {len(jobs)} files, {size / 2**20:.1f} MiB -> {args.out / corpus}", flush=True)


if __name__ == "__main__":
    main()
