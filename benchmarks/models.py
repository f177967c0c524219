"""The model cost table: parameters, FLOPs and CPU step times on a 4-second input.

Run by hand on the TensorFlow backend: ``python benchmarks/models.py``. Each model
is built, its forward FLOPs counted from its layer shapes, then one training step
(Adam, batch ``--batch-size``) and one inference call are each warmed up once and
timed as the median of ``--repeats`` calls. Ratios compare each row with the real
network of the same architecture.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_ser.models.cost import ENTRY_NAMES, print_cost_table  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-timing", action="store_true", help="parameters and FLOPs only")
    parser.add_argument("names", nargs="*", default=ENTRY_NAMES, help=f"models (default all): {', '.join(ENTRY_NAMES)}")
    args = parser.parse_args()
    print_cost_table(args.names, timing=not args.no_timing, batch_size=args.batch_size, repeats=args.repeats)


if __name__ == "__main__":
    main()
