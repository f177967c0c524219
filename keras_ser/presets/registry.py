"""Finding presets: the zoo installed with the package, local folders, and the Hugging Face Hub."""

import fnmatch
import importlib.resources
import os
from pathlib import Path

from keras_ser.presets.files import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, PresetError, read_json
from keras_ser.version import __version__

HUB_PREFIX = "hf://"
LIBRARY_NAME = "keras_ser"


def zoo_dir():
    """The folder of the zoo installed with keras_ser (zoo/ in a source checkout)."""
    return Path(str(importlib.resources.files("keras_ser.zoo")))


def list_models(pattern="*"):
    """Names of the zoo's presets matching the shell-style `pattern`, sorted."""
    root = zoo_dir()
    names = [entry.name for entry in root.iterdir() if (entry / METADATA_FILE).is_file()]
    return sorted(name for name in names if fnmatch.fnmatchcase(name, pattern))


def model_info(name):
    """The metadata.json of zoo preset `name`."""
    return read_json(_zoo_folder(name), METADATA_FILE)


def _zoo_folder(name):
    known = list_models()
    if name not in known:
        raise PresetError(
            f"unknown model {name!r}. Known zoo models: {', '.join(known) or '(none installed)'}. "
            f"Also accepted: a preset folder, or '{HUB_PREFIX}<org>/<name>' for a model on the Hugging Face Hub"
        )
    return zoo_dir() / name


def hub_offline():
    """Whether HF_HUB_OFFLINE is set (read now, not when huggingface_hub was imported)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "")
    return constants.HF_HUB_OFFLINE or value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def from_hub(repo_id, force_download=False):
    """The local folder of Hub repo `repo_id`: the Hugging Face cache first, the network only if needed."""
    import huggingface_hub
    from huggingface_hub import errors

    def download(local_files_only):
        return Path(huggingface_hub.snapshot_download(
            repo_id, repo_type="model", library_name=LIBRARY_NAME, library_version=__version__,
            local_files_only=local_files_only, force_download=force_download and not local_files_only,
        ))

    try:
        if not force_download:
            return download(local_files_only=True)
    except (errors.LocalEntryNotFoundError, FileNotFoundError):
        pass
    except errors.HFValidationError as error:
        raise PresetError(f"'{HUB_PREFIX}{repo_id}' is not a valid Hub repository id: {error}") from None
    how = f"run `keras-ser download {HUB_PREFIX}{repo_id}` on a machine with network access (it fills the Hugging Face cache)"
    if hub_offline():
        raise PresetError(f"model '{HUB_PREFIX}{repo_id}' is not in the Hugging Face cache and HF_HUB_OFFLINE is set: {how}, "
                          "or unset HF_HUB_OFFLINE")
    try:
        return download(local_files_only=False)
    except errors.RepositoryNotFoundError:
        raise PresetError(f"the Hugging Face Hub has no model repository '{repo_id}' (or it is private: log in "
                          "with `hf auth login`)") from None
    except (errors.HfHubHTTPError, errors.LocalEntryNotFoundError, OSError) as error:
        raise PresetError(f"cannot download '{HUB_PREFIX}{repo_id}' ({type(error).__name__}: {error}); {how}") from None


def resolve(name, force_download=False):
    """The local preset folder for a zoo name, a folder path or 'hf://org/name'."""
    name = str(name)
    if name.startswith(HUB_PREFIX):
        return from_hub(name[len(HUB_PREFIX):], force_download)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file():
            raise PresetError(f"'{path}' is a folder but not a keras-ser preset (no {CONFIG_FILE})")
        return path
    folder = _zoo_folder(name)
    if (folder / WEIGHTS_FILE).is_file():
        return folder
    repo = read_json(folder, METADATA_FILE).get("hub_repo")
    if not repo:
        raise PresetError(f"zoo model {name!r} ships without weights and names no Hub repository; reinstall keras-ser")
    return from_hub(repo, force_download)
