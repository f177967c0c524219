"""Forward+backward cost of keras-ser layers relative to keras.layers.Conv2D.

Run by hand on the TensorFlow backend: ``python benchmarks/layers.py``. Each case
builds its layers on the same input, compiles one training step per layer
(``tf.function`` around a ``GradientTape`` over the layer's trainable weights, and
over the input for layers that sit mid-network), warms up, then times the steps
interleaved (rotating the order) so that load on a shared machine hits all
candidates alike. It prints the median over repeats of each candidate's time
divided by the baseline's time in the same repeat.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ser.layers import MTSConv2D, QuaternionConv2D  # noqa: E402


def training_step(layer, inputs, input_gradient):
    """A compiled forward+backward step of ``layer`` on ``inputs``, returning the loss and gradients."""
    layer(inputs)  # build
    upstream = tf.random.stateless_normal(layer.compute_output_shape(inputs.shape), seed=(1, 2))

    @tf.function(jit_compile=False)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * upstream)
        sources = list(layer.trainable_variables) + ([x] if input_gradient else [])
        return [loss, *tape.gradient(loss, sources)]  # returning the loss keeps the forward pass from being pruned

    return step


def compare(title, input_shape, candidates, input_gradient, repeats):
    """Print the median time ratio of each candidate against the first one (the baseline)."""
    inputs = tf.random.stateless_normal(input_shape, seed=(0, 1))
    steps = {name: training_step(make(), inputs, input_gradient) for name, make in candidates.items()}
    for step in steps.values():
        for _ in range(3):
            [g.numpy() for g in step(inputs)]
    seconds = {name: [] for name in steps}
    names = list(steps)
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            start = time.perf_counter()
            [g.numpy() for g in steps[name](inputs)]
            seconds[name].append(time.perf_counter() - start)
    baseline, *others = names
    base = np.array(seconds[baseline])
    grad_note = "weights+input" if input_gradient else "weights only"
    print(f"\n{title}: input {input_shape}, gradients w.r.t. {grad_note}, {repeats} repeats")
    print(f"  {baseline:<40s} median {np.median(base) * 1e3:8.1f} ms   1.00x")
    for name in others:
        times = np.array(seconds[name])
        print(f"  {name:<40s} median {np.median(times) * 1e3:8.1f} ms   {np.median(times / base):.2f}x")


def bench_mts(repeats):
    """MTSConv2D with 3 and 5 time scales against Conv2D with the same kernel size."""
    scale_sets = {
        "3 scales (0.7,1,1.428)": (0.7, 1.0, 1.428),
        "5 scales (0.5,0.7,1,1.428,2)": (0.5, 0.7, 1.0, 1.428, 2.0),
    }
    cases = [
        ("MTS first layer, Ch.4 A1/A2 ([10,5], 1->10 ch, valid)", (8, 512, 128, 1), 10, (10, 5), "valid", False),
        ("MTS second layer, Ch.4 A3 ([10,5], 10->10 ch, valid)", (8, 251, 62, 10), 10, (10, 5), "valid", True),
        ("MTS mid-network ([5,5], 64->64 ch, same)", (8, 128, 32, 64), 64, (5, 5), "same", True),
    ]
    for title, shape, filters, kernel, padding, input_gradient in cases:
        candidates = {f"Conv2D {kernel}": lambda: keras.layers.Conv2D(filters, kernel, padding=padding)}
        for label, scales in scale_sets.items():
            candidates[f"MTSConv2D {label}"] = lambda scales=scales: MTSConv2D(
                filters, kernel, scales=scales, padding=padding
            )
        compare(title, shape, candidates, input_gradient, repeats)


def bench_quaternion(repeats):
    """QuaternionConv2D against Conv2D at the same real channel counts."""
    cases = [
        ("Quaternion mid-network (3x3, 64->64 real ch, same)", (8, 128, 32, 64), 64),
        ("Quaternion early layer (3x3, 16->16 real ch, same)", (8, 256, 64, 16), 16),
    ]
    for title, shape, filters in cases:
        candidates = {
            "Conv2D 3x3": lambda: keras.layers.Conv2D(filters, 3, padding="same"),
            "QuaternionConv2D 3x3": lambda: QuaternionConv2D(filters, 3, padding="same"),
        }
        compare(title, shape, candidates, True, repeats)


AT_INPUT_SHAPE = (128, 64, 1)
AT_BATCH = 8
AT_LAYERS = (1, 5, 13)


def _at_vgg16(name):
    """The zoo's real VGG16 (13 3x3 convs 64-64-M-128-128-M-256x3-M-512x3-M-512x3-M) on AT_INPUT_SHAPE."""
    from keras_ser.models import vgg16

    return vgg16(input_shape=AT_INPUT_SHAPE, num_classes=4, name=name)


def _at_vgg16_conv_part():
    """Only the conv part of VGG16 (no classifier), the pretrained network E_t of eq. 5.4 counts."""
    from keras_ser.models.vgg.vgg16 import VGG16_BLOCKS

    inputs = keras.Input(AT_INPUT_SHAPE)
    x = inputs
    for widths in VGG16_BLOCKS:
        for width in widths:
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    return keras.Model(inputs, x, name="speaker_conv_part")


def _at_batch():
    rng = np.random.default_rng(0)
    return rng.random((AT_BATCH, *AT_INPUT_SHAPE), dtype=np.float32), rng.integers(0, 4, AT_BATCH)


def _at_compile(model):
    # Plain SGD: no optimizer slots, so the plain step is as cheap as possible (a conservative ratio).
    model.compile(optimizer=keras.optimizers.SGD(1e-5), loss="sparse_categorical_crossentropy")
    return model


def bench_anti_transfer(repeats):
    """VGG16 training step with anti-transfer at conv 1, 5, 13 (frozen net run, or precomputed Grams) vs plain."""
    from keras_ser.layers import AntiTransferModel

    x, y = _at_batch()
    # All candidates share one task network and one pretrained network (weights do not affect step time).
    task, pretrained = _at_vgg16("task"), _at_vgg16("speaker")
    candidates = {"plain training step": (_at_compile(task), x)}
    for layer in AT_LAYERS:
        candidates[f"AT at conv {layer}"] = (_at_compile(AntiTransferModel(task, pretrained, layer)), x)
    for layer in AT_LAYERS:
        at_model = _at_compile(AntiTransferModel(task, pretrained, layer))
        candidates[f"AT at conv {layer}, precomputed Grams"] = (at_model, at_model.precompute(x))
    for model, inputs in candidates.values():
        for _ in range(3):
            model.train_on_batch(inputs, y)
    # Wall time, and the process's CPU time (all threads), which other jobs on a shared machine disturb less.
    wall, cpu = {name: [] for name in candidates}, {name: [] for name in candidates}
    names = list(candidates)
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:  # rotate the order
            model, inputs = candidates[name]
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            model.train_on_batch(inputs, y)
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)
    shape = ", ".join(map(str, (AT_BATCH, *AT_INPUT_SHAPE)))
    print(f"\nAnti-transfer, VGG16 (keras_ser.models.vgg16), input ({shape}), model.train_on_batch with SGD, "
          f"{repeats} interleaved repeats; medians, ratios to plain within each repeat")
    print(f"  {'':<40s}{'wall ms':>10s}{'ratio':>8s}{'CPU ms':>10s}{'ratio':>8s}")
    for name in names:
        ratios = [np.median(np.array(times[name]) / np.array(times[names[0]])) for times in (wall, cpu)]
        print(f"  {name:<40s}{np.median(wall[name]) * 1e3:10.1f}{ratios[0]:7.2f}x"
              f"{np.median(cpu[name]) * 1e3:10.1f}{ratios[1]:7.2f}x")
    _bench_anti_transfer_memory()


def _at_memory_probe(at_layer):
    """Print the peak RSS (MiB) of 3 VGG16 training steps, with AT at conv `at_layer` (0: plain).

    The peak is VmHWM after one warm-up step and a reset through /proc/self/clear_refs,
    so neither model building nor the parent process (whose high-water mark a
    child inherits) counts; resident weights do.
    """
    import json

    from keras_ser.layers import AntiTransferModel

    x, y = _at_batch()
    model = _at_vgg16("task")
    if at_layer:
        model = AntiTransferModel(model, _at_vgg16_conv_part(), at_layer)
    _at_compile(model)
    model.train_on_batch(x, y)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    for _ in range(3):
        model.train_on_batch(x, y)
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"peak_rss_mib": peak_kib / 1024}))


def _eq_5_4_bytes(at_layer):
    """M_t of thesis eq. 5.4 for AT at conv `at_layer`, and its parts, in bytes (float32)."""
    from keras_ser.layers import conv_layers

    model = _at_vgg16("estimate")
    convs = conv_layers(model)
    conv_parameters = sum(layer.count_params() for layer in convs)
    _, height, width, channels = convs[at_layer - 1].output.shape
    feature, gram = AT_BATCH * height * width * channels, AT_BATCH * channels**2
    return 4 * (conv_parameters + 2 * (gram + feature)), 4 * conv_parameters, 4 * 2 * gram, 4 * 2 * feature


def _bench_anti_transfer_memory():
    """Extra peak RSS of AT (separate processes) against eq. 5.4's estimate."""
    import json
    import subprocess
    import sys

    def peak_rss(at_layer, runs=3):
        """Median over `runs` fresh processes."""
        code = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); " \
               f"import layers; layers._at_memory_probe({at_layer})"
        peaks = []
        for _ in range(runs):
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            peaks.append(json.loads(run.stdout.strip().splitlines()[-1])["peak_rss_mib"])
        return float(np.median(peaks))

    mib = 2.0**20
    plain = peak_rss(0)
    print(f"\n  peak RSS over 3 training steps after a warm-up step, median of 3 processes: plain {plain:.0f} MiB")
    print(f"  {'AT layer':<10s}{'measured extra':>16s}{'eq. 5.4 M_t':>14s}{'(E_t':>8s}{'2#G':>9s}{'2#F)':>9s}  MiB")
    for layer in AT_LAYERS:
        extra = peak_rss(layer) - plain
        total, weights, grams, features = (b / mib for b in _eq_5_4_bytes(layer))
        print(f"  conv {layer:<5d}{extra:>16.0f}{total:>14.0f}{weights:>8.0f}{grams:>9.1f}{features:>9.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per layer (default 15)")
    parser.add_argument("--only", choices=["quaternion", "mts", "anti-transfer"], help="run one benchmark only")
    args = parser.parse_args()
    print(f"keras {keras.__version__}, tensorflow {tf.__version__}, backend {keras.backend.backend()}, "
          f"{os.cpu_count()} CPUs")
    benchmarks = {"quaternion": bench_quaternion, "mts": bench_mts, "anti-transfer": bench_anti_transfer}
    for name, bench in benchmarks.items():
        if args.only in (None, name):
            bench(args.repeats)


if __name__ == "__main__":
    main()
