import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from keras_ser.datasets.paths import default_data_root  # noqa: E402


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
