"""The layer tests again with TensorFlow's oneDNN optimisations off.

CI must pass whatever the CPU. TensorFlow turns oneDNN on or off by default depending
on the CPU's features (and ``TF_ENABLE_ONEDNN_OPTS``), and that changes which kernels
it runs: without oneDNN, for instance, its CPU kernels reject dilated transposed
convolutions. So the fast layer tests also run in a child process with oneDNN off.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LAYER_TESTS = ["tests/test_quaternion_layers.py", "tests/test_mts_conv.py"]


def test_layer_tests_pass_without_onednn():
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        pytest.skip("TF_ENABLE_ONEDNN_OPTS=0 already: the suite itself runs without oneDNN")
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}
    # "not jax": the JAX comparisons start processes of their own and add nothing about TensorFlow's kernels
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not jax", *LAYER_TESTS],
        cwd=Path(__file__).parent.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:]
