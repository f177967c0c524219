"""Inference speed of a zoo model on this machine: batch throughput, warm single-clip latency, CLI cold start.

Usage: python benchmarks/inference.py [--model NAME (default: the CLI's default model)] [--batch-size 32] [--repeats 7]
Goals (issue 6, 2-core CPU): >= 80 four-second clips/s in batches, <= 50 ms warm latency,
`keras-ser predict FILE` <= 5 s from a cold start.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from keras_ser.audio.vad import peak_level
from keras_ser.audio.voicing import has_voice
from keras_ser.cli import DEFAULT_MODEL
from keras_ser.datasets.paths import default_data_root
from keras_ser.models.cost import median_seconds
from keras_ser.presets import load


def real_windows(model, count):
    """`count` 4-s windows of real speech, the first window of each of the first `count` EmoDB files (zero-padded
    where a file is shorter than 4 s; noise when the corpora are absent)."""
    root = default_data_root()
    files = sorted((root / "emodb" / "wav").glob("*.flac"))[:count] if root and root.is_dir() else []
    windows = [model.preprocessor.windows(model.preprocessor.load(path))[0] for path in files]
    while len(windows) < count:
        windows.append(np.random.default_rng(len(windows)).normal(0, 0.1, model.preprocessor.window_samples))
    return np.stack(windows).astype(np.float32), bool(files)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    model = load(args.model)
    load_seconds = time.perf_counter() - started
    windows, real = real_windows(model, args.clips)
    batch_seconds = median_seconds(lambda: model.score_windows(windows, batch_size=args.batch_size), args.repeats)
    clip = windows[0]
    latency = median_seconds(lambda: model.predict_array(clip, sampling_rate=16000), 5 * args.repeats)
    level = median_seconds(lambda: peak_level(clip, 16000), 5 * args.repeats)  # the silence check, inside latency
    voicing = median_seconds(lambda: has_voice(clip, 16000), 5 * args.repeats)  # the noise check, inside latency

    cli = shutil.which("keras-ser") or sys.executable
    command = [cli] if cli.endswith("keras-ser") else [cli, "-m", "keras_ser.cli"]
    root = default_data_root()
    target = root / "emodb" / "wav" / "03a01Wa.flac" if root else None
    cold = None
    if target is not None and target.is_file():
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        cold = median_seconds(lambda: subprocess.run([*command, "predict", str(target), "--model", args.model], env=env,
                                            check=True, capture_output=True), 3)

    print(f"model {args.model}: loaded in {load_seconds:.2f} s; {'real EmoDB' if real else 'noise'} clips")
    print("| measure | value | goal |")
    print("|---|---|---|")
    print(f"| throughput, batches of {args.batch_size} 4-s clips | {args.clips / batch_seconds:.0f} clips/s | >= 80 |")
    print(f"| warm single-clip latency (predict_array, 4 s) | {1000 * latency:.1f} ms | <= 50 |")
    print(f"| of which the silence check (`peak_level`) | {1e6 * level:.0f} µs ({100 * level / latency:.2f} %) | |")
    print(f"| of which the voicing check (`has_voice`) | {1e3 * voicing:.2f} ms ({100 * voicing / latency:.0f} %) | |")
    if cold is not None:
        print(f"| `keras-ser predict FILE` from cold start | {cold:.2f} s | <= 5 |")


if __name__ == "__main__":
    main()
