"""The model zoo's presets, one folder each, installed with keras_ser as `keras_ser.zoo`."""
