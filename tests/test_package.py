import subprocess
import sys

import pytest

import keras_ser


def test_import_is_cheap_and_submodules_load_on_use():
    code = "import sys, keras_ser; assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert keras_ser.audio.load is not None
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        keras_ser.nothing


def test_version_comes_from_one_place():
    from importlib.metadata import version

    assert version("keras-ser") == keras_ser.__version__
