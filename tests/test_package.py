import subprocess
import sys

import pytest

import keras_ser


def test_import_is_cheap_and_submodules_load_on_use():
    code = ("import sys, keras_ser; assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n"
            "assert 'keras_ser.audio' not in sys.modules; keras_ser.audio; assert 'keras_ser.audio' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    from keras_ser.audio.io import load as load_audio
    from keras_ser.presets.loading import load
    from keras_ser.presets.registry import list_models

    assert (keras_ser.audio.load, keras_ser.load, keras_ser.list_models) == (load_audio, load, list_models)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        keras_ser.nothing


def test_version_comes_from_one_place():
    from importlib.metadata import version

    assert version("keras-ser") == keras_ser.__version__
