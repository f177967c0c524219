"""The cost table: parameters, FLOPs and measured step times of the zoo on a 4-second input.

Beside each real network sit its quaternion twin fed by RH-emo embeddings
(the "RH-emo encoder + quaternion" pipeline, the encoder frozen as in
Ch. 6-7) and its MTS variant; the ratio columns compare a row with the real
network of the same architecture.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import keras
import numpy as np

from keras_ser.models.alexnet import alexnet
from keras_ser.models.flops import count_flops
from keras_ser.models.mts_cnn import a1, a2, a3
from keras_ser.models.resnet import resnet18, resnet50
from keras_ser.models.rhemo import rhemo, rhemo_encoder, rhemo_losses, rhemo_targets
from keras_ser.models.vgg import vgg16


def _pipeline(builder):
    """RH-emo's (frozen) encoder feeding the quaternion variant of `builder`."""

    def build():
        encoder = rhemo_encoder()
        encoder.trainable = False
        network = builder(variant="quaternion", input_shape=encoder.output.shape[1:])
        inputs = keras.Input(encoder.input.shape[1:], name="spectrogram")
        return keras.Model(inputs, network(encoder(inputs)), name=f"rhemo_{network.name}")

    return build


@dataclass(frozen=True)
class CostEntry:
    """One row of the table: how to build the model and which real model it is compared with."""

    name: str
    build: Callable[[], keras.Model]
    baseline: str | None


COST_ENTRIES = (
    CostEntry("vgg16", vgg16, "vgg16"),
    CostEntry("vgg16 quaternion", partial(vgg16, variant="quaternion"), "vgg16"),
    CostEntry("rhemo encoder + vgg16 quaternion", _pipeline(vgg16), "vgg16"),
    CostEntry("alexnet", alexnet, "alexnet"),
    CostEntry("alexnet quaternion", partial(alexnet, variant="quaternion"), "alexnet"),
    CostEntry("rhemo encoder + alexnet quaternion", _pipeline(alexnet), "alexnet"),
    CostEntry("a4 (alexnet mts)", partial(alexnet, variant="mts"), "alexnet"),
    CostEntry("resnet50", resnet50, "resnet50"),
    CostEntry("resnet50 quaternion", partial(resnet50, variant="quaternion"), "resnet50"),
    CostEntry("rhemo encoder + resnet50 quaternion", _pipeline(resnet50), "resnet50"),
    CostEntry("resnet18", resnet18, "resnet18"),
    CostEntry("resnet18 mts", partial(resnet18, variant="mts"), "resnet18"),
    CostEntry("a1", a1, "a1"),
    CostEntry("a1 mts", partial(a1, variant="mts"), "a1"),
    CostEntry("a2", a2, "a2"),
    CostEntry("a2 mts", partial(a2, variant="mts"), "a2"),
    CostEntry("a3", a3, "a3"),
    CostEntry("a3 mts", partial(a3, variant="mts"), "a3"),
    CostEntry("rhemo (stage 2)", rhemo, None),
)
ENTRY_NAMES = tuple(entry.name for entry in COST_ENTRIES)


def median_seconds(function, repeats):
    """Median wall time of `repeats` calls of `function`, after one warm-up call."""
    function()  # the first call traces / compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _time_model(model, batch_size, repeats, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, *model.input.shape[1:]), dtype=np.float32)
    if isinstance(model.output, dict):
        emotions = rng.integers(0, model.output["emotion"].shape[-1], batch_size)
        x, y = rhemo_targets(model, x, emotions, rng.integers(0, 2, (batch_size, 3)))
        loss, loss_weights = rhemo_losses(model)
    else:
        y = rng.integers(0, model.output.shape[-1], batch_size)
        loss, loss_weights = "sparse_categorical_crossentropy", None
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=loss, loss_weights=loss_weights)
    train = median_seconds(lambda: model.train_on_batch(x, y), repeats)
    infer = median_seconds(lambda: model.predict_on_batch(x), repeats)
    return train, infer


def cost_table(names=ENTRY_NAMES, timing=True, batch_size=4, repeats=3, seed=0):
    """Measure the models `names` (from ENTRY_NAMES); return one dict per model.

    Keys: name, input_shape, params (trainable), flops (forward, per example,
    see `keras_ser.models.flops`), and with `timing` train_step_s /
    inference_s (median of `repeats` calls on a batch of `batch_size`, after
    one warm-up call) on this machine; params_ratio, flops_ratio and, with
    timing, train_step_ratio / inference_ratio relative to the row's baseline
    (the real model of the same architecture), when that model is measured too.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    entries = {entry.name: entry for entry in COST_ENTRIES}
    unknown = [name for name in names if name not in entries]
    if unknown:
        raise ValueError(f"unknown cost-table models {unknown}: choose from {', '.join(ENTRY_NAMES)}")
    rows = {}
    for name in names:
        model = entries[name].build()
        row = {
            "name": name,
            "input_shape": tuple(model.input.shape[1:]),
            "params": sum(int(np.prod(w.shape)) for w in model.trainable_weights),
            "flops": count_flops(model),
        }
        if timing:
            row["train_step_s"], row["inference_s"] = _time_model(model, batch_size, repeats, seed)
        rows[name] = row
        del model
        keras.backend.clear_session()
    for name, row in rows.items():
        baseline = rows.get(entries[name].baseline)
        if baseline is None or baseline is row:
            continue
        for key, ratio in (("params", "params_ratio"), ("flops", "flops_ratio"),
                           ("train_step_s", "train_step_ratio"), ("inference_s", "inference_ratio")):
            if key in row:
                row[ratio] = row[key] / baseline[key]
    return list(rows.values())


def format_cost_table(rows):
    """The rows of `cost_table` as an aligned Markdown table."""
    columns = [("model", "name", "{}"), ("input", "input_shape", "{}"), ("params", "params", "{:,}"),
               ("params %", "params_ratio", "{:.1%}"), ("GFLOPs", "flops", "{:.3f}"),
               ("FLOPs %", "flops_ratio", "{:.1%}"), ("train step s", "train_step_s", "{:.3f}"),
               ("train %", "train_step_ratio", "{:.1%}"), ("inference s", "inference_s", "{:.3f}"),
               ("inference %", "inference_ratio", "{:.1%}")]
    columns = [c for c in columns if any(c[1] in row for row in rows)]
    cells = [[title for title, _, _ in columns]]
    for row in rows:
        values = []
        for _, key, fmt in columns:
            value = row.get(key)
            if key == "flops" and value is not None:
                value = value / 1e9
            if key == "input_shape":
                value = "x".join(map(str, value))
            values.append("" if value is None else fmt.format(value))
        cells.append(values)
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |" for line in cells]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def print_cost_table(names=ENTRY_NAMES, **kwargs):
    """Compute `cost_table(names, **kwargs)` and print it; return the rows."""
    rows = cost_table(names, **kwargs)
    print(format_cost_table(rows))
    return rows
