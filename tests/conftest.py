import os
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# For the JAX processes the tests start: they run a step or two, so compiling is most of their time, and XLA's
# lowest optimisation level halves it (measured); results stay within the tests' tolerances.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import pytest  # noqa: E402

from keras_ser.datasets.cache import CACHE_ENV  # noqa: E402
from keras_ser.datasets.paths import default_data_root  # noqa: E402

ISOLATED_CHILD = "KERAS_SER_ISOLATED_TEST"
_isolated_runs = {}  # group -> the child's exit code and output


def pytest_pyfunc_call(pyfuncitem):
    """Run a test marked `isolated` in a child pytest: TensorFlow never gives back the memory of a full-size
    network (building VGG16's 165 M weights leaves 2 GB behind), and the suite must stay under 6 GB.

    The tests marked `isolated(group=NAME)` run together in one child, started by the first of them: a group's
    child must peak no higher than VGG16's own (2.9 GB).
    """
    group = _isolation_group(pyfuncitem)
    if group is None or os.environ.get(ISOLATED_CHILD):
        return None
    if group not in _isolated_runs:
        nodeids = [item.nodeid for item in pyfuncitem.session.items if _isolation_group(item) == group]
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *nodeids],
            cwd=pyfuncitem.config.rootpath, env={**os.environ, ISOLATED_CHILD: "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
        )
        _isolated_runs[group] = result.returncode, result.stdout
    returncode, output = _isolated_runs[group]
    passed = returncode == 0 or f"PASSED {pyfuncitem.nodeid}" in output.splitlines()
    assert passed, f"{pyfuncitem.nodeid} failed in its own process:\n{output[-4000:]}"
    return True


def _isolation_group(item):
    """The child process an `isolated` test runs in: its marker's group, else its own; None when not isolated."""
    marker = item.get_closest_marker("isolated")
    return None if marker is None else marker.kwargs.get("group", item.nodeid)


@pytest.fixture(scope="module", autouse=True)
def free_keras_state_after_each_module():
    """Clear Keras's global state (and collect) after each test module, so that the suite stays under 6 GB: it had
    grown to 6.0 GB, and five of its modules (test_models, test_rhemo among them) went from 4.5 to 3.2 GB."""
    yield
    import keras

    keras.backend.clear_session(free_memory=True)


@pytest.fixture(scope="session", autouse=True)
def feature_cache(tmp_path_factory):
    """Feature caches go to the session's temporary folder (children, isolated tests' included, inherit it), never
    to ~/.cache."""
    previous = os.environ.get(CACHE_ENV)
    if not (previous and os.environ.get(ISOLATED_CHILD)):
        os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("feature_cache"))
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="session")
def data_root():
    """The shared corpora folder; tests using it skip when it is absent."""
    root = default_data_root()
    if root is None or not root.is_dir():
        pytest.skip("shared corpora not found: set $KERAS_SER_DATA or place ../shared/datasets beside the checkout")
    return root


@pytest.fixture(scope="session")
def corpus_root(data_root):
    """Return a function giving one corpus folder, skipping when it is missing."""

    def get(name):
        path = data_root / name
        if not path.is_dir():
            pytest.skip(f"corpus {name!r} not found under {data_root}")
        return path

    return get
