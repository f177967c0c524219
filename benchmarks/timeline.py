"""Peak memory and real-time factor of `SERClassifier.timeline` on a long recording built from real clips.

The recording: EmoDB clips of the zoo's test speakers (08, 15) in its four classes, in runs of three clips
per emotion (neutral, angry, happy, sad, again and again), each after a pause of 0.7-3 s of low noise
(-60 dBFS), written block by block as a 16-kHz FLAC.

Usage: python benchmarks/timeline.py [--minutes 60] [--output /tmp/timeline-60min.flac] [--model rhemo-qvgg16]
       python benchmarks/timeline.py --minutes 1 --output /tmp/recording.flac --build-only
"""

import argparse
import itertools
import resource
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import soundfile

from keras_ser.audio import load
from keras_ser.datasets.paths import default_data_root
from keras_ser.presets import load as load_preset
from keras_ser.presets.timeline import timeline

RATE = 16000
EMOTIONS = {"N": "neutral", "W": "angry", "F": "happy", "T": "sad"}
SPEAKERS = ("08", "15")
CLIPS_PER_RUN = 3


def build_recording(path, minutes, seed=0):
    """Write the recording to `path`; returns its speech as [(start, end, emotion)] in seconds."""
    folder = default_data_root() / "emodb" / "wav"
    clips = {letter: sorted(p for p in folder.glob("*.flac") if p.name[:2] in SPEAKERS and p.name[5] == letter)
             for letter in EMOTIONS}
    rng = np.random.default_rng(seed)
    pools = {letter: itertools.cycle(paths) for letter, paths in clips.items()}
    order = itertools.cycle(letter for letter in EMOTIONS for _ in range(CLIPS_PER_RUN))
    truth, now = [], 0.0
    with soundfile.SoundFile(path, "w", samplerate=RATE, channels=1, format="FLAC") as file:
        while now < minutes * 60:
            pause = rng.normal(0, 1e-3, round(rng.uniform(0.7, 3.0) * RATE)).astype(np.float32)
            letter = next(order)
            clip = load(next(pools[letter]))
            file.write(np.concatenate([pause, clip]))
            start = now + len(pause) / RATE
            now = start + len(clip) / RATE
            truth.append((start, now, EMOTIONS[letter]))
        file.write(np.zeros(RATE, dtype=np.float32))  # one second of silence at the end
    return truth


def overlap(a, b):
    """Seconds that two lists of (start, end, ...) intervals share."""
    return sum(max(0.0, min(x[1], y[1]) - max(x[0], y[0])) for x in a for y in b if x[0] < y[1] and y[0] < x[1])


def peak_growth(function):
    """(result, wall seconds, CPU seconds, growth of the peak resident set in MiB) of calling `function`."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset the peak (VmHWM) to the current resident set
    status = Path("/proc/self/status").read_text().splitlines()
    before = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    result = function()
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return result, wall, cpu, (peak - before) / 1024


def measure(name, recording, run):
    """Print a table row for `run()` on `recording`; returns its result (a Timeline or a Prediction)."""
    length = soundfile.info(recording).duration
    result, wall, cpu, growth = peak_growth(run)
    windows = len(result.windows) if hasattr(result, "windows") else sum(s["speech"] for s in result)
    print(f"| {name} | {length / 60:.1f} min | {wall:.1f} s | {wall / length:.4f} | {cpu:.1f} s | {growth:.0f} MiB "
          f"| {windows} |")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--output", help="the recording's path (default: /tmp/timeline-<minutes>min.flac)")
    parser.add_argument("--model", default="rhemo-qvgg16")
    parser.add_argument("--build-only", action="store_true", help="write the recording and stop")
    args = parser.parse_args()

    path = Path(args.output or f"/tmp/timeline-{args.minutes:g}min.flac")
    short = path.with_name(f"{path.stem}-tenth.flac")  # the recording's first tenth: memory must not grow with length
    began = time.perf_counter()
    truth = build_recording(path, args.minutes)
    duration = soundfile.info(path).duration
    print(f"{path}: {duration / 60:.1f} min, {len(truth)} clips, {path.stat().st_size / 2**20:.1f} MiB, "
          f"built in {time.perf_counter() - began:.1f} s")
    if args.build_only:
        return
    build_recording(short, args.minutes / 10)

    model = load_preset(args.model)
    model.timeline(short, progress=False)  # warm-up: traces predict and fills the allocators' pools (12-54 MiB)
    classes = len(model.class_names)
    stand_in = SimpleNamespace(preprocessor=model.preprocessor, class_names=model.class_names,
                               score_windows=lambda windows, batch_size: {
                                   "emotion": np.full((len(windows), classes), 1 / classes)})
    print("| run | recording | wall | real-time factor | CPU | peak RSS growth | windows |")
    print("|---|---|---|---|---|---|---|")
    measure("timeline, stand-in scorer (decoding, VAD, windowing)", path,
            lambda: timeline(stand_in, path, progress=False))
    measure(f"timeline, {args.model}", short, lambda: model.timeline(short, progress=False))
    scored = measure(f"timeline, {args.model}", path, lambda: model.timeline(path, progress=False))
    measure(f"predict_file, {args.model} (whole file loaded)", path, lambda: model.predict_file(path))
    speech = [(s["start"], s["end"]) for s in scored if s["speech"]]
    found, spoken = overlap(speech, truth), sum(end - start for start, end, _ in truth)
    print(f"speech detection: {found / spoken:.1%} of the clips' time found as speech; "
          f"{found / sum(end - start for start, end in speech):.1%} of the speech found lies in a clip")
    labelled = [(s["start"], s["end"], s["label"]) for s in scored if s["speech"]]
    agree = sum(overlap([x], [y]) for x in labelled for y in truth if x[2] == y[2]) / overlap(labelled, truth)
    print(f"labels: {agree:.1%} of the scored speech time carries its clip's emotion")
    print(f"loading the whole signal would hold {duration * RATE * 4 / 2**20:.0f} MiB of float32 samples")


if __name__ == "__main__":
    main()
