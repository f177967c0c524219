"""Where corpora live on disk."""

import os
from pathlib import Path

DATA_ENV = "KERAS_SER_DATA"


def default_data_root():
    """The folder holding one sub-folder per corpus, or None when none is found.

    `$KERAS_SER_DATA` wins; otherwise `../shared/datasets` beside the current
    directory or beside this source checkout.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        candidate = base.parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return None
