"""Readers for user corpora: a folder per class, or a CSV manifest.

The label becomes `.emotion`; `.canonical` is `emotion_map[label]` when a map
is given (it must cover every label), else the vocabulary name of the label
when it is one or a common synonym ("Anger" → "angry"), else None.
"""

import csv
import re
from pathlib import Path

from keras_ser.datasets.emotions import EMOTIONS, canonical_emotion
from keras_ser.datasets.files import audio_files, is_audio
from keras_ser.datasets.item import CorpusError, Item


def _canonical(label, emotion_map, where):
    """The vocabulary label for `label`, through `emotion_map` when one is given."""
    if emotion_map is None:
        return canonical_emotion(label)
    if label not in emotion_map:
        raise CorpusError(f"{where}: label {label!r} is missing from emotion_map")
    target = emotion_map[label]
    if target is not None and target not in EMOTIONS:
        raise ValueError(f"emotion_map maps {label!r} to {target!r}, which is not in the vocabulary {EMOTIONS}")
    return target


def _speaker_getter(speaker_from, root):
    """A function path → speaker id from a callable or a regular expression (None: no speakers)."""
    if speaker_from is None:
        return lambda path: None
    if callable(speaker_from):
        getter = speaker_from
    else:
        pattern = re.compile(speaker_from)

        def getter(path):
            relative = path.relative_to(root).as_posix()
            match = pattern.search(relative)
            if match is None:
                return None
            if "speaker" in pattern.groupindex:
                return match.group("speaker")
            return match.group(1) if pattern.groups else match.group(0)

    def speaker(path):
        value = getter(path)
        if value is None or str(value) == "":
            raise CorpusError(f"speaker_from gave no speaker for '{path}'")
        return str(value)

    return speaker


def read_folder(root, speaker_from=None, emotion_map=None):
    """`root/<class>/**/*.wav`: the first folder below root is the label.

    `speaker_from` is a callable (path → speaker id) or a regular expression
    searched in the path relative to root (its `speaker` group, else group 1,
    else the whole match); without it `.speaker` is None.
    """
    root = Path(root)
    speaker = _speaker_getter(speaker_from, root)
    items = []
    for path in audio_files(root):
        parts = path.relative_to(root).parts
        if len(parts) < 2:
            raise CorpusError(f"'{path}' lies directly in '{root}'; put each file in a folder named after its class")
        label = parts[0]
        items.append(
            Item(
                path=path,
                corpus="folder",
                speaker=speaker(path),
                gender=None,
                text=None,
                emotion=label,
                canonical=_canonical(label, emotion_map, f"'{path}'"),
            )
        )
    return items


def read_csv(root, emotion_map=None):
    """A CSV manifest with columns path, label and optionally speaker (others ignored).

    `root` is the CSV file; relative paths are resolved against its folder.
    A missing column, an empty cell, a non-audio or missing file, or a path
    listed twice raises `CorpusError` naming the line.
    """
    manifest = Path(root)
    if not manifest.is_file():
        raise CorpusError(f"the csv corpus needs root= to be the CSV manifest file, got '{manifest}'")
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or ()]
        missing = [name for name in ("path", "label") if name not in columns]
        if missing:
            raise CorpusError(f"'{manifest}' lacks column(s) {missing}; found columns {columns}")
        has_speaker = "speaker" in columns
        items, seen = [], {}
        for line, raw in enumerate(reader, start=2):
            row = {(key or "").strip(): (value or "").strip() for key, value in raw.items() if key is not None}
            where = f"'{manifest}' line {line}"
            for column in ("path", "label", "speaker") if has_speaker else ("path", "label"):
                if not row.get(column):
                    raise CorpusError(f"{where}: empty {column}")
            path = Path(row["path"]).expanduser()
            if not path.is_absolute():
                path = manifest.parent / path
            if not is_audio(path):
                raise CorpusError(f"{where}: '{path}' is not an audio file (extension {path.suffix!r})")
            if not path.is_file():
                raise CorpusError(f"{where}: audio file '{path}' does not exist")
            if path in seen:
                raise CorpusError(f"{where}: '{path}' is already listed on line {seen[path]}")
            seen[path] = line
            items.append(
                Item(
                    path=path,
                    corpus="csv",
                    speaker=row["speaker"] if has_speaker else None,
                    gender=None,
                    text=None,
                    emotion=row["label"],
                    canonical=_canonical(row["label"], emotion_map, where),
                )
            )
    return items
