"""ONNX export of zoo models: file size, export time, and CPU latency in onnxruntime against the Keras model.

Usage: python benchmarks/export.py [--models rhemo rhemo-qvgg16 ...] [--repeats 10] [--folder DIR]
Each model is exported as `keras-ser export NAME --format onnx` does it (`--folder`: into DIR, reusing a NAME.onnx
already there, whose export time is then not measured; default: a temporary folder), then the Keras model
(`predict_on_batch`, TensorFlow) and the .onnx file (onnxruntime, CPU provider, default threads) score the same 4-s
windows: one window, and a batch of 32; the median of `--repeats` timed calls after one warm-up call.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime

from keras_ser.models.cost import median_seconds
from keras_ser.presets import load
from keras_ser.presets.export import export_model
from keras_ser.presets.registry import resolve

from inference import real_windows  # benchmarks/inference.py

ZOO = ("rhemo", "rhemo-qresnet50", "rhemo-qvgg16", "rhemo-qalexnet")


def measure(name, repeats, folder):
    model = load(name)
    path, export_seconds = Path(folder) / f"{name}.onnx", None
    if not path.is_file():
        started = time.perf_counter()
        export_model(model, path, format="onnx", verbose=False)
        export_seconds = time.perf_counter() - started
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    windows, _ = real_windows(model, 32)  # EmoDB speech (noise without the corpora)
    row = {"model": name, "parameters": model.count_params(), "onnx_mb": path.stat().st_size / 1e6,
           "weights_mb": (resolve(name) / "model.weights.h5").stat().st_size / 1e6, "export_s": export_seconds}
    for batch in (1, 32):
        x = windows[:batch]
        keras_out = np.asarray(model.predict_on_batch(x))
        (onnx_out,) = session.run(None, {input_name: x})
        row[f"difference_{batch}"] = float(np.abs(keras_out - onnx_out).max())
        row[f"keras_ms_{batch}"] = 1000 * median_seconds(lambda: model.predict_on_batch(x), repeats)
        row[f"onnx_ms_{batch}"] = 1000 * median_seconds(lambda: session.run(None, {input_name: x}), repeats)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(ZOO))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--folder", help="keep the .onnx files here, and reuse those already there")
    args = parser.parse_args()
    print("| model | parameters | preset weights | .onnx file | export | Keras, 1 window | ONNX, 1 window "
          "| Keras, batch of 32 | ONNX, batch of 32 | max abs difference |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as temporary:
        for name in args.models:
            r = measure(name, args.repeats, args.folder or temporary)
            export = "–" if r["export_s"] is None else f"{r['export_s']:.0f} s"
            print(f"| {r['model']} | {r['parameters']:,} | {r['weights_mb']:.1f} MB | {r['onnx_mb']:.1f} MB "
                  f"| {export} | {r['keras_ms_1']:.0f} ms | {r['onnx_ms_1']:.0f} ms "
                  f"| {r['keras_ms_32']:.0f} ms | {r['onnx_ms_32']:.0f} ms "
                  f"| {max(r['difference_1'], r['difference_32']):.1e} |", flush=True)


if __name__ == "__main__":
    main()
