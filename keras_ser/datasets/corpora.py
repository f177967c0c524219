"""Readers for the named emotional speech corpora (and FSDD): file names → `Item`s.

Each reader takes the corpus folder and returns its items in no particular
order (`load_corpus` sorts them). Any audio file whose name breaks the corpus's
convention raises `CorpusError` naming the file: a silently skipped file would
change the corpus's counts and splits without notice. Non-audio files
(README, MANIFEST.tsv, metadata) and hidden files are ignored.
"""

import csv
import re
from pathlib import Path

from keras_ser.datasets.emotions import CORPUS_EMOTIONS
from keras_ser.datasets.files import audio_files, is_audio, layout_error
from keras_ser.datasets.item import CorpusError, Item


def _check(path, corpus, field, value, allowed):
    """Return `value` if it is in `allowed`, else raise naming the file and the field."""
    if value not in allowed:
        raise CorpusError(
            f"'{path}': {corpus} {field} {value!r} is not one of {sorted(allowed)}; "
            "rename or remove the file"
        )
    return value


# RAVDESS: MM-VV-EE-II-SS-RR-AA = modality, vocal channel, emotion, intensity,
# statement, repetition, actor.
_RAVDESS_NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")
_RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
_RAVDESS_INTENSITIES = {"01": "normal", "02": "strong"}
_RAVDESS_ACTORS = {f"{n:02d}" for n in range(1, 25)}


def read_ravdess(root):
    """RAVDESS speech: `Actor_NN/03-01-EE-II-SS-RR-AA.*`; actor = speaker, odd actors male."""
    items = []
    for path in audio_files(root):
        match = _RAVDESS_NAME.fullmatch(path.stem)
        if match is None:
            raise layout_error(path, "RAVDESS", "MM-VV-EE-II-SS-RR-AA such as 03-01-05-01-02-01-12")
        modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
        if modality != "03":
            raise CorpusError(
                f"'{path}' has RAVDESS modality {modality}, not 03 (audio-only); "
                "only the audio-only speech files are read: remove the video files"
            )
        if channel != "01":
            raise CorpusError(
                f"'{path}' has RAVDESS vocal channel {channel} (02 = song); the ravdess reader "
                "reads the speech set (channel 01): keep the song files out of this tree"
            )
        _check(path, "RAVDESS", "emotion", emotion, CORPUS_EMOTIONS["ravdess"])
        _check(path, "RAVDESS", "intensity", intensity, _RAVDESS_INTENSITIES)
        _check(path, "RAVDESS", "statement", statement, _RAVDESS_STATEMENTS)
        _check(path, "RAVDESS", "repetition", repetition, {"01", "02"})
        _check(path, "RAVDESS", "actor", actor, _RAVDESS_ACTORS)
        folder = path.parent.name
        if folder.startswith("Actor_") and folder != f"Actor_{actor}":
            raise CorpusError(f"'{path}' names actor {actor} but lies in folder {folder}; move or rename it")
        items.append(
            Item(
                path=path,
                corpus="ravdess",
                speaker=actor,
                gender="male" if int(actor) % 2 else "female",
                text=_RAVDESS_STATEMENTS[statement],
                emotion=emotion,
                canonical=CORPUS_EMOTIONS["ravdess"][emotion],
                intensity=_RAVDESS_INTENSITIES[intensity],
            )
        )
    return items


# EmoDB: SSTTTEV = speaker, text code, emotion letter (German initial), version.
_EMODB_NAME = re.compile(r"(\d\d)([ab]\d\d)([A-Z])([a-z])")
_EMODB_GENDERS = {
    "03": "male",
    "08": "female",
    "09": "female",
    "10": "male",
    "11": "male",
    "12": "male",
    "13": "female",
    "14": "female",
    "15": "male",
    "16": "female",
}
_EMODB_TEXTS = {"a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10"}


def read_emodb(root):
    """EmoDB: `wav/03a01Fa.*` = speaker 03, text a01, emotion letter F, version a."""
    items = []
    for path in audio_files(root):
        match = _EMODB_NAME.fullmatch(path.stem)
        if match is None:
            raise layout_error(path, "EmoDB", "SSTTTEV such as 03a01Fa (speaker, text, emotion letter, version)")
        speaker, text, emotion, _ = match.groups()
        _check(path, "EmoDB", "speaker", speaker, _EMODB_GENDERS)
        _check(path, "EmoDB", "text", text, _EMODB_TEXTS)
        _check(path, "EmoDB", "emotion", emotion, CORPUS_EMOTIONS["emodb"])
        items.append(
            Item(
                path=path,
                corpus="emodb",
                speaker=speaker,
                gender=_EMODB_GENDERS[speaker],
                text=text,
                emotion=emotion,
                canonical=CORPUS_EMOTIONS["emodb"][emotion],
            )
        )
    return items


# TESS: {OAF,YAF}_<emotion>/<speaker>_<word>_<emotion>.*
_TESS_NAME = re.compile(r"([A-Za-z]+)_([A-Za-z]+)_(\w+)")
_TESS_FOLDER = re.compile(r"([A-Za-z]+)_(\w+)")
_TESS_SPEAKERS = {"OAF", "YAF"}
# The official file OA_bite_neutral belongs to speaker OAF.
_TESS_SPEAKER_ALIASES = {"OA": "OAF"}


def read_tess(root):
    """TESS: `{OAF,YAF}_<emotion>/OAF_back_angry.*`; both speakers female, word = text.

    The speaker comes from the folder when there is one (so the official file
    `OA_bite_neutral` is OAF's); a flat copy without the folders also works.
    """
    emotions = CORPUS_EMOTIONS["tess"]
    items = []
    for path in audio_files(root):
        match = _TESS_NAME.fullmatch(path.stem)
        if match is None:
            raise layout_error(path, "TESS", "SPEAKER_word_emotion such as OAF_back_angry")
        prefix, word, emotion = match.groups()
        speaker = _TESS_SPEAKER_ALIASES.get(prefix.upper(), prefix.upper())
        emotion = emotion.lower()
        _check(path, "TESS", "speaker", speaker, _TESS_SPEAKERS)
        _check(path, "TESS", "emotion", emotion, emotions)
        folder = _TESS_FOLDER.fullmatch(path.parent.name)
        if folder is not None and folder.group(1).upper() in _TESS_SPEAKERS:
            folder_speaker, folder_emotion = folder.group(1).upper(), folder.group(2).lower()
            if folder_speaker != speaker or emotions.get(folder_emotion) != emotions[emotion]:
                raise CorpusError(
                    f"'{path}' (speaker {speaker}, emotion {emotion}) lies in folder "
                    f"'{path.parent.name}' of another speaker or emotion; move or rename it"
                )
        items.append(
            Item(
                path=path,
                corpus="tess",
                speaker=speaker,
                gender="female",
                text=word.lower(),
                emotion=emotion,
                canonical=emotions[emotion],
            )
        )
    return items


# FSDD: <digit>_<speaker>_<take>.*; all six speakers are male per the corpus's metadata.py.
_FSDD_NAME = re.compile(r"(\d)_([A-Za-z]+)_(\d+)")
_FSDD_GENDERS = {name: "male" for name in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")}


def read_fsdd(root):
    """FSDD: `recordings/7_jackson_32.*` = digit 7 (the text), speaker jackson, take 32; no emotion."""
    items = []
    for path in audio_files(root):
        match = _FSDD_NAME.fullmatch(path.stem)
        if match is None:
            raise layout_error(path, "FSDD", "digit_speaker_take such as 7_jackson_32")
        digit, speaker, _ = match.groups()
        items.append(
            Item(
                path=path,
                corpus="fsdd",
                speaker=speaker,
                gender=_FSDD_GENDERS.get(speaker),
                text=digit,
                emotion=None,
                canonical=None,
            )
        )
    return items


# SAVEE: DC_a01.* (flat copies) or DC/a01.* (the original AudioData/ tree).
_SAVEE_NAME = re.compile(r"(?:([A-Za-z]{2})_)?(sa|su|a|d|f|h|n)(\d\d)")
_SAVEE_SPEAKERS = {"DC", "JE", "JK", "KL"}


def read_savee(root):
    """SAVEE: `DC_a01.*` or `DC/a01.*`; four male speakers; text = the sentence code (a01).

    SAVEE numbers its sentences within each emotion (a01 and n01 are different
    sentences), so the code including the emotion prefix is kept as the text.
    """
    items = []
    for path in audio_files(root):
        match = _SAVEE_NAME.fullmatch(path.stem)
        if match is None:
            raise layout_error(path, "SAVEE", "SP_eNN such as DC_a01, or SP/eNN such as DC/sa03")
        prefix, emotion, number = match.groups()
        speaker = (prefix or path.parent.name).upper()
        _check(path, "SAVEE", "speaker", speaker, _SAVEE_SPEAKERS)
        if prefix and path.parent.name.upper() in _SAVEE_SPEAKERS and path.parent.name.upper() != speaker:
            raise CorpusError(f"'{path}' names speaker {speaker} but lies in folder {path.parent.name}")
        items.append(
            Item(
                path=path,
                corpus="savee",
                speaker=speaker,
                gender="male",
                text=f"{emotion}{number}",
                emotion=emotion,
                canonical=CORPUS_EMOTIONS["savee"][emotion],
            )
        )
    return items


# EMOVO: <emotion>-<speaker>-<sentence>.*, e.g. rab-f1-b1.
_EMOVO_NAME = re.compile(r"([a-z]{3})-([fm][1-3])-([a-z]\d+)")


def read_emovo(root):
    """EMOVO: `dis-f1-b1.*` = emotion, speaker (f1-f3, m1-m3), sentence code (the text)."""
    items = []
    for path in audio_files(root):
        match = _EMOVO_NAME.fullmatch(path.stem)
        if match is None:
            raise layout_error(path, "EMOVO", "emotion-speaker-sentence such as rab-f1-b1")
        emotion, speaker, sentence = match.groups()
        _check(path, "EMOVO", "emotion", emotion, CORPUS_EMOTIONS["emovo"])
        items.append(
            Item(
                path=path,
                corpus="emovo",
                speaker=speaker,
                gender="female" if speaker[0] == "f" else "male",
                text=sentence,
                emotion=emotion,
                canonical=CORPUS_EMOTIONS["emovo"][emotion],
            )
        )
    return items


# CREMA-D: <actor>_<sentence>_<emotion>_<level>.*, e.g. 1001_DFA_ANG_XX.
_CREMA_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})")
_CREMA_SENTENCES = {"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"}
_CREMA_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
_CREMA_DEMOGRAPHICS = "VideoDemographics.csv"


def _crema_genders(root):
    """Actor id → gender from VideoDemographics.csv (the one nearest `root`), or None if absent."""
    found = sorted(Path(root).rglob(_CREMA_DEMOGRAPHICS), key=lambda p: (len(p.parts), str(p)))
    if not found:
        return None
    source = found[0]
    with open(source, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"ActorID", "Sex"} - set(reader.fieldnames or ())
        if missing:
            raise CorpusError(
                f"'{source}' lacks column(s) {sorted(missing)}; found {reader.fieldnames}"
            )
        genders = {}
        for line, row in enumerate(reader, start=2):
            sex = (row["Sex"] or "").strip().lower()
            if sex not in ("male", "female"):
                raise CorpusError(f"'{source}' line {line}: Sex {row['Sex']!r} is neither Male nor Female")
            genders[row["ActorID"].strip()] = sex
    return genders


def read_crema_d(root):
    """CREMA-D: `AudioWAV/1001_DFA_ANG_XX.*`; gender from VideoDemographics.csv when present."""
    genders = _crema_genders(root)
    items = []
    for path in audio_files(root):
        match = _CREMA_NAME.fullmatch(path.stem)
        if match is None:
            raise layout_error(path, "CREMA-D", "actor_sentence_emotion_level such as 1001_DFA_ANG_XX")
        speaker, sentence, emotion, level = match.groups()
        _check(path, "CREMA-D", "sentence", sentence, _CREMA_SENTENCES)
        _check(path, "CREMA-D", "emotion", emotion, CORPUS_EMOTIONS["crema_d"])
        _check(path, "CREMA-D", "level", level, _CREMA_LEVELS)
        if genders is not None and speaker not in genders:
            raise CorpusError(
                f"'{path}': actor {speaker} is missing from {_CREMA_DEMOGRAPHICS}; "
                "use the demographics file that ships with this copy of CREMA-D"
            )
        items.append(
            Item(
                path=path,
                corpus="crema_d",
                speaker=speaker,
                gender=None if genders is None else genders[speaker],
                text=sentence,
                emotion=emotion,
                canonical=CORPUS_EMOTIONS["crema_d"][emotion],
                intensity=_CREMA_LEVELS[level],
            )
        )
    return items


# nEMO: samples/<speaker>_<emotion>_<n>.*; data.tsv, keyed by the original .wav name, gives the
# text, gender and age (its speaker column has leading spaces).
_NEMO_NAME = re.compile(r"([A-Z]{2}\d)_([a-z]+)_(\d+)")
_NEMO_SPEAKERS = {"EB0", "IC0", "KD0", "KS0", "MK0", "MP0", "SM0", "TP0", "WR0"}
_NEMO_METADATA = "data.tsv"
_NEMO_COLUMNS = ("file_id", "emotion", "raw_text", "speaker_id", "gender", "age")


def _nemo_metadata(root):
    """file_id → (speaker, emotion, text, gender, age) from `root`/data.tsv."""
    source = Path(root) / _NEMO_METADATA
    if not source.is_file():
        raise CorpusError(f"'{source}' is missing; nEMO's texts, genders and ages come from it")
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE, restval="")
        missing = set(_NEMO_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise CorpusError(f"'{source}' lacks column(s) {sorted(missing)}; found {reader.fieldnames}")
        rows = {}
        for line, row in enumerate(reader, start=2):
            gender, age = row["gender"].strip().lower(), row["age"].strip()
            if gender not in ("male", "female") or not age.isdigit():
                raise CorpusError(
                    f"'{source}' line {line}: gender {row['gender']!r} and age {row['age']!r} "
                    "must be male or female and a whole number"
                )
            rows[row["file_id"].strip()] = (
                row["speaker_id"].strip(), row["emotion"].strip(), row["raw_text"].strip(), gender, int(age)
            )
    return rows


def read_nemo(root):
    """nEMO: `samples/EB0_anger_12.*` = speaker EB0, emotion anger, index 12; text, gender, age from data.tsv.

    Every audio file needs its data.tsv row (keyed `EB0_anger_12.wav`, whatever
    the file's own extension), agreeing on speaker and emotion; rows without
    audio are ignored, so a partial copy of the corpus reads.
    """
    emotions = CORPUS_EMOTIONS["nemo"]
    metadata = _nemo_metadata(root)
    items = []
    for path in audio_files(root):
        match = _NEMO_NAME.fullmatch(path.stem)
        if match is None:
            raise layout_error(path, "nEMO", "speaker_emotion_index such as EB0_anger_12")
        speaker, emotion, _ = match.groups()
        _check(path, "nEMO", "speaker", speaker, _NEMO_SPEAKERS)
        _check(path, "nEMO", "emotion", emotion, emotions)
        file_id = f"{path.stem}.wav"
        if file_id not in metadata:
            raise CorpusError(
                f"'{path}': {file_id} is missing from {_NEMO_METADATA}; remove the file or restore its row"
            )
        listed_speaker, listed_emotion, text, gender, age = metadata[file_id]
        if (listed_speaker, listed_emotion) != (speaker, emotion):
            raise CorpusError(
                f"'{path}' names speaker {speaker}, emotion {emotion}, but {_NEMO_METADATA} gives "
                f"{listed_speaker!r}, {listed_emotion!r} for {file_id}; rename the file or correct its row"
            )
        items.append(
            Item(
                path=path,
                corpus="nemo",
                speaker=speaker,
                gender=gender,
                text=text,
                emotion=emotion,
                canonical=emotions[emotion],
                age=age,
            )
        )
    return items


# IEMOCAP: Session*/dialog/EmoEvaluation/<dialog>.txt summary lines:
# [start - end]<TAB>utterance<TAB>label<TAB>[valence, activation, dominance]
_IEMOCAP_LINE = re.compile(
    r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(\S+)\s+(\S+)\s+\[\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)\s*\]\s*"
)
_IEMOCAP_UTTERANCE = re.compile(r"(Ses\d\d)[FM]_(\w+)_([FM])\w*")
_IEMOCAP_TRANSCRIPT = re.compile(r"(Ses\S+) \[[\d.]+-[\d.]+\]: ?(.*)")


def _iemocap_transcripts(session, dialog):
    """Utterance → transcript from Session*/dialog/transcriptions/<dialog>.txt, if present."""
    source = session / "dialog" / "transcriptions" / f"{dialog}.txt"
    if not source.is_file():
        return {}
    texts = {}
    for line in source.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _IEMOCAP_TRANSCRIPT.fullmatch(line.strip())
        if match:
            texts[match.group(1)] = match.group(2).strip()
    return texts


def _iemocap_audio(folder):
    """Stem → audio file in one Session*/sentences/wav/<dialog>/ folder."""
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in folder.iterdir() if is_audio(path)}


def read_iemocap(root):
    """IEMOCAP from its EmoEvaluation summaries: label, V/A/D ratings, speaker = session + gender.

    Every labelled utterance must have its audio at
    `Session*/sentences/wav/<dialog>/<utterance>.*`; transcripts are read from
    `Session*/dialog/transcriptions/` when present (text None otherwise).
    """
    emotions = CORPUS_EMOTIONS["iemocap"]
    items = []
    for source in sorted(Path(root).glob("Session*/dialog/EmoEvaluation/*.txt"), key=str):
        if source.name.startswith("."):
            continue
        session = source.parents[2]
        dialog = source.stem
        audio = _iemocap_audio(session / "sentences" / "wav" / dialog)
        texts = _iemocap_transcripts(session, dialog)
        lines = source.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.startswith("["):
                continue
            match = _IEMOCAP_LINE.fullmatch(line)
            if match is None:
                raise CorpusError(
                    f"'{source}' line {number}: cannot parse {line!r}; expected "
                    "'[start - end]<TAB>utterance<TAB>label<TAB>[V, A, D]'"
                )
            utterance, emotion, valence, arousal, dominance = match.groups()
            name = _IEMOCAP_UTTERANCE.fullmatch(utterance)
            if name is None:
                raise CorpusError(
                    f"'{source}' line {number}: utterance {utterance!r} is not named like Ses01F_impro01_F000"
                )
            if emotion not in emotions:
                raise CorpusError(
                    f"'{source}' line {number}: label {emotion!r} is not one of {sorted(emotions)}"
                )
            if utterance not in audio:
                raise CorpusError(
                    f"'{source}' line {number}: no audio for {utterance} in "
                    f"'{session / 'sentences' / 'wav' / dialog}'"
                )
            gender = name.group(3)
            items.append(
                Item(
                    path=audio[utterance],
                    corpus="iemocap",
                    speaker=name.group(1) + gender,
                    gender="female" if gender == "F" else "male",
                    text=texts.get(utterance),
                    emotion=emotion,
                    canonical=emotions[emotion],
                    valence=float(valence),
                    arousal=float(arousal),
                    dominance=float(dominance),
                )
            )
    return items
