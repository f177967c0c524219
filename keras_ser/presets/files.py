"""The files of a preset folder, their checksums and the errors that name them."""

import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

CONFIG_FILE = "config.json"
PREPROCESSOR_FILE = "preprocessor.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
CARD_FILE = "README.md"
PRESET_FILES = (CONFIG_FILE, PREPROCESSOR_FILE, METADATA_FILE, WEIGHTS_FILE, CARD_FILE)
FORMAT_VERSION = 1
# Weight arrays with at least this many values are stored as float16 when saving in half precision.
HALF_PRECISION_MIN_SIZE = 1024


class PresetError(ValueError):
    """A preset folder that cannot be used; the message names the file and the fix."""


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(folder, name):
    path = Path(folder) / name
    if not path.is_file():
        raise PresetError(
            f"'{folder}' is not a keras-ser preset: {name} is missing (a preset holds {', '.join(PRESET_FILES)}; "
            "write one with keras_ser.hub.save_preset(model, folder))"
        )
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PresetError(f"'{path}' is not valid JSON ({error}); the preset is damaged, get it again") from None


def write_json(folder, name, value):
    (Path(folder) / name).write_text(json.dumps(value, indent=1, sort_keys=False) + "\n")


def verify_weights(folder, metadata):
    """Raise PresetError unless every weights file listed in metadata matches its size and sha256."""
    listed = metadata.get("weights") or {}
    if WEIGHTS_FILE not in listed:
        raise PresetError(f"'{Path(folder) / METADATA_FILE}' lists no sha256 for {WEIGHTS_FILE}; save the preset again")
    for name, expected in listed.items():
        path = Path(folder) / name
        if not path.is_file():
            raise PresetError(f"weights file '{path}' is missing; download the preset again (keras-ser download)")
        size = path.stat().st_size
        if "bytes" in expected and size != expected["bytes"]:
            raise PresetError(
                f"weights file '{path}' is truncated or corrupted: {size} bytes, expected {expected['bytes']}; "
                "delete it and download the preset again (keras-ser download)"
            )
        actual = sha256(path)
        if actual != expected["sha256"]:
            raise PresetError(
                f"weights file '{path}' fails its checksum (sha256 {actual[:12]}…, expected "
                f"{expected['sha256'][:12]}…): it is corrupted; delete it and download the preset again "
                "(keras-ser download)"
            )


def halve_precision(path):
    """Rewrite the large float32 arrays of a Keras weights file as float16; return the dtype label."""
    path = Path(path)
    halved = path.with_suffix(".half.h5")

    def copy(source, target):
        target.attrs.update(source.attrs)
        for name, node in source.items():
            if isinstance(node, h5py.Group):
                copy(node, target.create_group(name))
                continue
            values = node[()]
            if node.dtype == np.float32 and node.size >= HALF_PRECISION_MIN_SIZE:
                values = values.astype(np.float16)
            target.create_dataset(name, data=values).attrs.update(node.attrs)

    with h5py.File(path, "r") as source, h5py.File(halved, "w") as target:
        copy(source, target)
    os.replace(halved, path)  # a fresh file: HDF5 does not reclaim the space of deleted datasets
    return "float16"


def weights_entry(path, dtype):
    return {"sha256": sha256(path), "bytes": Path(path).stat().st_size, "dtype": dtype}
