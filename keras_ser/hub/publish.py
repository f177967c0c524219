"""Publishing a preset folder to the Hugging Face Hub."""

from pathlib import Path

import huggingface_hub
from huggingface_hub.errors import HFValidationError, HTTPError

from keras_ser.hub.card import card_text, read_metadata
from keras_ser.presets.files import CARD_FILE, PRESET_FILES, PresetError, verify_weights
from keras_ser.version import __version__

# Hub failures: HTTP and connection errors, offline mode and missing tokens (OSError), bad repo ids.
HUB_ERRORS = (HTTPError, OSError, HFValidationError)
HUB_FIX = ("log in with `hf auth login` or pass token=..., make sure HF_HUB_OFFLINE is not set and the network is "
           "reachable, and that repo_id is 'user-or-org/name' and yours to write")


def publish(preset_dir, repo_id, token=None, private=False, commit_message=None, api=None):
    """Upload a preset folder to the Hub model repository `repo_id` (created if needed); return its URL.

    A README.md already on the Hub is kept; otherwise the model card built from metadata.json is uploaded.
    """
    folder = Path(preset_dir)
    missing = [name for name in PRESET_FILES if name != CARD_FILE and not (folder / name).is_file()]
    if missing:
        raise PresetError(f"cannot publish '{folder}': {', '.join(missing)} missing; a preset holds "
                          f"{', '.join(PRESET_FILES)}; write one with keras_ser.hub.save_preset(model, '{folder}')")
    metadata = read_metadata(folder)
    try:
        verify_weights(folder, metadata)
    except PresetError as error:
        raise PresetError(f"cannot publish '{folder}': {error}") from None
    api = api or huggingface_hub.HfApi(library_name="keras_ser", library_version=__version__, token=token)
    url = _hub_call(f"creating the model repository '{repo_id}'", api.create_repo, repo_id, repo_type="model",
                    private=private, exist_ok=True)
    if _hub_call(f"checking for README.md in '{repo_id}'", api.file_exists, repo_id, CARD_FILE, repo_type="model"):
        ignore_patterns = [CARD_FILE]
    else:
        ignore_patterns = None
        if not (folder / CARD_FILE).is_file():
            (folder / CARD_FILE).write_text(card_text(metadata))
    _hub_call(f"uploading '{folder}' to '{repo_id}'", api.upload_folder, repo_id=repo_id, folder_path=str(folder),
              repo_type="model", commit_message=commit_message or f"Upload keras-ser preset {metadata['name']}",
              ignore_patterns=ignore_patterns)
    return str(url)


def _hub_call(action, function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except HUB_ERRORS as error:
        raise RuntimeError(f"{action} on the Hugging Face Hub failed ({type(error).__name__}: {error}); {HUB_FIX}") from error
