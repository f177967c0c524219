"""Training in child processes, so that long experiments and searches keep a flat memory.

Keras's `fit` on the TensorFlow backend keeps memory of every trained model alive
(tensorflow/tensorflow#61791): one process reached 23 GB after 17 AlexNet runs. A child
process per run or trial returns it to the system.
"""

import subprocess
import sys

import keras


def isolate_by_default():
    """Whether this backend needs a child process per run (TensorFlow does)."""
    return keras.backend.backend() == "tensorflow"


def run_child(arguments, what, env=None, quiet=False):
    """Run `python ARGUMENTS...`; raise RuntimeError naming `what` with the child's stderr tail on failure."""
    done = subprocess.run([sys.executable, *arguments], env=env, stdout=subprocess.DEVNULL if quiet else None,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed in its process (exit {done.returncode}):\n" + done.stderr[-3000:])
