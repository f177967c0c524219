"""Finding the audio files of a corpus tree."""

import os
from pathlib import Path

from keras_ser.datasets.item import CorpusError

# File extensions of the formats libsndfile reads (compared in lower case).
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
        ".rf64",
    }
)


def is_audio(path):
    """Whether the file name has an audio extension and is not hidden (dot-prefixed)."""
    path = Path(path)
    return not path.name.startswith(".") and path.suffix.lower() in AUDIO_EXTENSIONS


def audio_files(root):
    """All audio files under `root`, sorted; hidden files and folders are skipped.

    Hidden entries (names starting with "."), such as macOS `._x.wav` resource
    forks, are never corpus files. Two audio files of the same name in one folder
    with different extensions (`a.wav` and `a.flac`) raise `CorpusError`, since
    they would count one recording twice.
    """
    found = {}
    for folder, subfolders, names in os.walk(root, followlinks=True):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            path = Path(folder) / name
            if not is_audio(path):
                continue
            key = (path.parent, path.stem)
            if key in found:
                raise CorpusError(
                    f"two audio files for one recording: '{found[key]}' and '{path}'; keep only one of them"
                )
            found[key] = path
    return sorted(found.values(), key=str)


def layout_error(path, corpus, expected):
    """A `CorpusError` naming a file that does not follow the corpus's naming convention."""
    return CorpusError(
        f"'{path}' does not follow the {corpus} naming convention: expected {expected}; "
        "rename or remove the file, or check that root points at the right corpus"
    )
