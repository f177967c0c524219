"""`keras-ser predict FILE` from a cold start, side by side in several Python environments.

Each repeat runs every environment once, in turn, so load on a shared machine falls on all of them alike;
medians are reported. Beside the whole command, `python -c "import keras"` alone shows how much of it is
importing Keras and TensorFlow (and whatever optional packages Keras imports when they are installed:
scikit-learn, pandas, JAX). The goal (BENCHMARKS.md) is 5 s.

    python benchmarks/cold_start.py --python /tmp/venv-min/bin/python --python .venv/bin/python
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from keras_ser.datasets.paths import default_data_root

GOAL_SECONDS = 5.0


def seconds(command, env):
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", action="append", help="an environment's interpreter (repeatable; default: this one)")
    parser.add_argument("--file", help="the clip to label (default: EmoDB's 03a01Wa)")
    parser.add_argument("--model", help="a zoo preset (default: the CLI's)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pythons = args.python or [sys.executable]
    root = default_data_root()
    target = Path(args.file) if args.file else Path(root or ".") / "emodb" / "wav" / "03a01Wa.flac"
    if not target.is_file():
        parser.error(f"no audio file at '{target}': pass --file, or set KERAS_SER_DATA to the datasets folder")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KERAS_BACKEND": "tensorflow"}
    predict = ["-m", "keras_ser.cli", "predict", str(target), *(["--model", args.model] if args.model else [])]
    times = {python: {"predict": [], "import keras": []} for python in pythons}
    for python in pythons:  # warm-up: the first call of an environment also fills the OS's file cache
        seconds([python, *predict], env)
    for _ in range(args.repeats):
        for python in pythons:
            times[python]["predict"].append(seconds([python, *predict], env))
            times[python]["import keras"].append(seconds([python, "-c", "import keras"], env))
    print("| environment | `keras-ser predict FILE` | `import keras` alone | goal |\n|---|---|---|---|")
    for python, measured in times.items():
        print(f"| {python} | {statistics.median(measured['predict']):.2f} s | "
              f"{statistics.median(measured['import keras']):.2f} s | <= {GOAL_SECONDS:g} s |")
    print(f"medians of {args.repeats} repeats, after one warm-up call each")


if __name__ == "__main__":
    main()
