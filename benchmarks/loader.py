"""Throughput of the training loader with every augmentation on, beside the training step of a small network.

Run by hand: python benchmarks/loader.py [--corpus emodb] [--batches 60]
The loader must deliver a batch in much less time than the network trains on one, so the trainer never waits.
"""

import argparse
import tempfile
import time

import keras
import numpy as np

from keras_ser import models
from keras_ser.training import config_from_dict
from keras_ser.training.data import prepare_data
from keras_ser.training.run import compile_for_training

AUGMENT = {"gain_db": 6, "noise_snr_db": [10, 30], "frequency_warp": 0.1, "time_masks": 2, "time_mask_width": 40,
           "frequency_masks": 2, "frequency_mask_width": 12, "speed": [0.9, 1.0, 1.1], "mixup_alpha": 0.2}


def _batches_per_second(dataset, batches):
    """Read `batches` batches, moving to a new epoch whenever one is used up."""
    start, done = time.perf_counter(), 0
    while done < batches:
        for index in range(min(len(dataset), batches - done)):
            dataset[index]
        done += min(len(dataset), batches - done)
        dataset.on_epoch_end()
    return batches / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="emodb")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=13)
    args = parser.parse_args()
    config = config_from_dict({"data": {"corpora": [args.corpus], "crops": "random"}, "model": {"builder": "a3"},
                               "training": {"augment": AUGMENT, "balance": "corpus_class"}})
    with tempfile.TemporaryDirectory() as cache_dir:
        began = time.perf_counter()
        data = prepare_data(config.data, cache_dir=cache_dir, progress=False, training=config.training)
        print(f"{args.corpus}: {len(data.loader.labels)} training clips; features cached (windows + frames at 3 speeds) "
              f"in {time.perf_counter() - began:.1f} s")
        plain = _batches_per_second(data.dataset("train", args.batch_size, shuffle=True), args.batches)
        augmented = _batches_per_second(data.train_dataset(args.batch_size), args.batches)
    print(f"loader, fixed windows, no augmentation: {plain:6.1f} batches/s ({1000 / plain:6.1f} ms a batch)")
    print(f"loader, random crops + every augmentation + balancing: {augmented:6.1f} batches/s "
          f"({1000 / augmented:6.1f} ms a batch)")

    network = models.a3(num_classes=len(data.class_names), input_shape=data.input_shape)
    compile_for_training(network, config.optimizer, soft_labels=True)
    x, y = data.train_dataset(args.batch_size)[0]
    network.train_on_batch(x, y)  # traces the step
    steps = []
    for _ in range(10):
        start = time.perf_counter()
        network.train_on_batch(x, y)
        steps.append(time.perf_counter() - start)
    step = float(np.median(steps))
    print(f"training step, a3 on {data.input_shape}, batch {args.batch_size}, {keras.backend.backend()}: "
          f"{1000 * step:6.1f} ms (median of 10)")
    print(f"loading takes {100 / augmented / step:.0f} % of a step's time")


if __name__ == "__main__":
    main()
