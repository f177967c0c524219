import os
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from keras_ser.datasets.cache import CACHE_ENV  # noqa: E402
from keras_ser.datasets.paths import default_data_root  # noqa: E402

ISOLATED_CHILD = "KERAS_SER_ISOLATED_TEST"


def pytest_pyfunc_call(pyfuncitem):
    """Run a test marked `isolated` in a child pytest: TensorFlow never gives back the memory of a full-size
    network (building VGG16's 165 M weights leaves 2 GB behind), and the suite must stay under 6 GB."""
    if pyfuncitem.get_closest_marker("isolated") is None or os.environ.get(ISOLATED_CHILD):
        return None
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid],
        cwd=pyfuncitem.config.rootpath, env={**os.environ, ISOLATED_CHILD: "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
    )
    assert result.returncode == 0, f"{pyfuncitem.nodeid} failed in its own process:\n{result.stdout[-4000:]}"
    return True


@pytest.fixture(scope="session", autouse=True)
def feature_cache(tmp_path_factory):
    """Feature caches go to the session's temporary folder (children inherit it), never to ~/.cache."""
    previous = os.environ.get(CACHE_ENV)
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
