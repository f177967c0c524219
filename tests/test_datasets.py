"""Corpus readers, the emotion vocabulary and the splits of keras_ser.datasets."""

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from keras_ser.datasets import (
    CORPUS_EMOTIONS,
    EMOTIONS,
    FOUR_CLASS,
    VAD_TABLE,
    CorpusError,
    Item,
    binary_vad,
    canonical_emotion,
    corpus_classes,
    held_out_speaker_split,
    leave_corpus_out,
    load_corpus,
    select_classes,
    speaker_folds,
    split,
    split_per_corpus,
)


def touch(root, *names):
    """Create empty files (and their folders) under root; return root."""
    for name in names:
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return Path(root)


def speakers_of(items):
    return {(item.corpus, item.speaker) for item in items}


def assert_partition(items, parts):
    """The parts are disjoint and together hold every item exactly once."""
    paths = [item.path for part in parts for item in part]
    assert len(paths) == len(set(paths)) == len(items)
    assert set(paths) == {item.path for item in items}


def assert_speaker_independent(parts):
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            assert not speakers_of(parts[a]) & speakers_of(parts[b])


# ---------------------------------------------------------------- real corpora


@pytest.fixture(scope="module")
def real(corpus_root):
    """load_corpus on the shared copy, once per corpus."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_corpus(name, root=corpus_root(name))
        return cache[name]

    return get


def manifest_paths(root):
    with open(root / "MANIFEST.tsv", newline="") as handle:
        return {row["path"] for row in csv.DictReader(handle, delimiter="\t")}


@pytest.mark.parametrize(
    "name, files, speakers, emotions, texts",
    [
        ("ravdess", 1440, 24, 8, 2),
        ("emodb", 535, 10, 7, 10),
        ("tess", 2800, 2, 7, 200),
        ("fsdd", 3000, 6, 0, 10),
        ("nemo", 4481, 9, 6, 90),
    ],
)
def test_published_counts(real, corpus_root, name, files, speakers, emotions, texts):
    items = real(name)
    assert len(items) == files
    assert len({item.speaker for item in items}) == speakers
    assert len({item.canonical for item in items} - {None}) == emotions
    assert len({item.emotion for item in items} - {None}) == emotions
    assert len({item.text for item in items}) == texts
    assert all(item.corpus == name for item in items)
    # Every file listed in the corpus's manifest, and nothing else.
    root = corpus_root(name)
    assert {item.path.relative_to(root).as_posix() for item in items} == manifest_paths(root)
    assert [str(item.path) for item in items] == sorted(str(item.path) for item in items)


def test_ravdess_labels(real):
    items = real("ravdess")
    assert Counter(item.speaker for item in items) == {f"{n:02d}": 60 for n in range(1, 25)}
    for item in items:
        assert item.gender == ("male" if int(item.speaker) % 2 else "female")
        assert item.path.parent.name == f"Actor_{item.speaker}"
        fields = item.path.stem.split("-")
        assert item.emotion == fields[2]
        assert item.intensity == {"01": "normal", "02": "strong"}[fields[3]]
    assert {item.text for item in items} == {"Kids are talking by the door", "Dogs are sitting by the door"}
    by_code = {item.emotion: item.canonical for item in items}
    assert by_code == {
        "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
        "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
    }
    # RAVDESS has no strong-intensity neutral.
    assert {item.intensity for item in items if item.emotion == "01"} == {"normal"}
    odd = sorted(item.path.name for item in items if item.path.suffix == ".wav")
    assert odd == [
        "03-01-02-01-01-02-01.wav", "03-01-02-01-02-02-05.wav", "03-01-03-01-02-01-20.wav",
        "03-01-06-01-01-02-20.wav", "03-01-08-01-02-02-01.wav",
    ]


def test_emodb_labels(real):
    items = real("emodb")
    genders = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
               "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"}
    assert {item.speaker: item.gender for item in items} == genders
    assert {item.emotion: item.canonical for item in items} == {
        "W": "angry", "L": "boredom", "E": "disgust", "A": "fearful",
        "F": "happy", "T": "sad", "N": "neutral",
    }
    assert {item.text for item in items} == {"a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10"}
    first = items[0]
    assert (first.path.name, first.speaker, first.text, first.emotion) == ("03a01Fa.flac", "03", "a01", "F")


def test_tess_labels_and_odd_files(real, corpus_root):
    items = real("tess")
    assert Counter(item.speaker for item in items) == {"OAF": 1400, "YAF": 1400}
    assert {item.gender for item in items} == {"female"}
    assert Counter(item.canonical for item in items) == {
        name: 400 for name in ("angry", "disgust", "fearful", "happy", "neutral", "surprised", "sad")
    }
    assert Counter(Counter(item.text for item in items).values()) == {14: 200}
    by_name = {item.path.name: item for item in items}
    odd = by_name["OA_bite_neutral.flac"]
    assert (odd.speaker, odd.text, odd.emotion, odd.canonical) == ("OAF", "bite", "neutral", "neutral")
    surprise = by_name["OAF_back_ps.flac"]
    assert (surprise.emotion, surprise.canonical, surprise.text) == ("ps", "surprised", "back")
    for name in ("OAF_back_angry.wav", "YAF_beg_sad.wav", "OAF_food_fear.wav"):
        assert name in by_name
    # AIFF files named .wav are listed like any other recording.
    for name, speaker, emotion in (("YAF_germ_angry.wav", "YAF", "angry"), ("YAF_neat_fear.wav", "YAF", "fear")):
        item = by_name[name]
        with open(item.path, "rb") as handle:
            header = handle.read(12)
        assert header[:4] == b"FORM" and header[8:12] in (b"AIFF", b"AIFC")
        assert (item.speaker, item.emotion) == (speaker, emotion)


def test_fsdd_labels(real):
    items = real("fsdd")
    assert Counter(item.speaker for item in items) == {
        name: 500 for name in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
    }
    assert Counter(item.text for item in items) == {str(d): 300 for d in range(10)}
    assert {item.gender for item in items} == {"male"}
    assert {item.emotion for item in items} == {item.canonical for item in items} == {None}


NEMO_SPEAKERS = {"EB0": ("female", 27), "IC0": ("female", 28), "KD0": ("female", 28), "KS0": ("male", 23),
                 "MK0": ("female", 23), "MP0": ("male", 24), "SM0": ("male", 24), "TP0": ("male", 26), "WR0": ("male", 23)}


def test_nemo_labels_and_audio(real):
    import soundfile

    from keras_ser.audio import load

    items = real("nemo")
    assert Counter(item.emotion for item in items) == {
        "anger": 749, "fear": 736, "happiness": 749, "neutral": 809, "sadness": 769, "surprised": 669,
    }
    assert {item.emotion: item.canonical for item in items} == {
        "anger": "angry", "fear": "fearful", "happiness": "happy", "neutral": "neutral", "sadness": "sad",
        "surprised": "surprised",
    }
    assert {item.speaker: (item.gender, item.age) for item in items} == NEMO_SPEAKERS
    first = items[0]
    assert (first.path.name, first.speaker, first.text) == ("EB0_anger_1.opus", "EB0", "Lubię czytać przed snem.")
    _, labels = select_classes(items)
    assert set(FOUR_CLASS) <= set(corpus_classes("nemo"))
    assert Counter(FOUR_CLASS[label] for label in labels) == {"neutral": 809, "angry": 749, "happy": 749, "sad": 769}
    # libsndfile decodes the Ogg Opus files: 16 kHz mono, 0.87-5.66 s in this copy.
    info = soundfile.info(first.path)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", 16000, 1)
    signal = load(first.path)
    assert signal.shape == (info.frames,) and 0.8 < len(signal) / 16000 < 6
    assert np.isfinite(signal).all() and 0.01 < np.abs(signal).max() <= 1


def test_default_root_uses_data_env(monkeypatch, data_root):
    monkeypatch.setenv("KERAS_SER_DATA", str(data_root))
    items = load_corpus("emodb")
    assert len(items) == 535 and items[0].path.is_relative_to(data_root / "emodb")


# -------------------------------------------------------------- synthetic trees


def test_savee_flat_and_original_layouts(tmp_path):
    names = ["a01", "d02", "f03", "h04", "n30", "sa05", "su15"]
    flat = touch(tmp_path / "flat", *(f"{spk}_{code}.wav" for spk in ("DC", "JE", "JK", "KL") for code in names))
    tree = touch(tmp_path / "tree", *(f"AudioData/{spk}/{code}.wav" for spk in ("DC", "JE", "JK", "KL") for code in names))
    touch(tree, "AudioData/Info.txt")
    for root in (flat, tree):
        items = load_corpus("savee", root=root)
        assert len(items) == 28
        assert {item.speaker for item in items} == {"DC", "JE", "JK", "KL"}
        assert {item.gender for item in items} == {"male"}
        assert {item.text for item in items} == set(names)
        assert {item.emotion: item.canonical for item in items} == {
            "a": "angry", "d": "disgust", "f": "fearful", "h": "happy",
            "n": "neutral", "sa": "sad", "su": "surprised",
        }
    touch(tmp_path / "bad", "XY_a01.wav")
    with pytest.raises(CorpusError, match=r"XY_a01\.wav.*speaker 'XY'"):
        load_corpus("savee", root=tmp_path / "bad")
    touch(tmp_path / "bad2", "DC_b01.wav")
    with pytest.raises(CorpusError, match=r"DC_b01\.wav' does not follow the SAVEE naming"):
        load_corpus("savee", root=tmp_path / "bad2")


def test_emovo(tmp_path):
    codes = ("dis", "gio", "neu", "pau", "rab", "sor", "tri")
    speakers = ("f1", "f2", "f3", "m1", "m2", "m3")
    root = touch(tmp_path, *(f"{s}/{e}-{s}-{t}.wav" for s in speakers for e in codes for t in ("b1", "n5")))
    items = load_corpus("emovo", root=root)
    assert len(items) == 6 * 7 * 2
    assert {item.speaker: item.gender for item in items} == {
        "f1": "female", "f2": "female", "f3": "female", "m1": "male", "m2": "male", "m3": "male",
    }
    assert {item.emotion: item.canonical for item in items} == {
        "dis": "disgust", "gio": "happy", "neu": "neutral", "pau": "fearful",
        "rab": "angry", "sor": "surprised", "tri": "sad",
    }
    assert {item.text for item in items} == {"b1", "n5"}
    assert corpus_classes("emovo") == ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")
    touch(root, "f1/xyz-f1-b1.wav")
    with pytest.raises(CorpusError, match=r"xyz-f1-b1\.wav.*emotion 'xyz'"):
        load_corpus("emovo", root=root)


def make_nemo(root, names, rows):
    """Empty samples/<name>.opus files and a data.tsv with a row per (name, emotion, speaker)."""
    touch(root, *(f"samples/{name}.opus" for name in names))
    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    lines += [f"{name}.wav\t{emotion}\tTekst {name}.\ttekst {name}\t        {speaker}\tfemale\t27"
              for name, emotion, speaker in rows]
    (root / "data.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_nemo_synthetic(tmp_path):
    root = make_nemo(tmp_path, ["EB0_anger_1", "WR0_surprised_64"], rows=[
        ("EB0_anger_1", "anger", "EB0"), ("WR0_surprised_64", "surprised", "WR0"), ("KS0_fear_3", "fear", "KS0")])
    items = load_corpus("nemo", root=root)  # a data.tsv row without audio is ignored
    assert [(i.speaker, i.gender, i.age, i.text, i.emotion, i.canonical) for i in items] == [
        ("EB0", "female", 27, "Tekst EB0_anger_1.", "anger", "angry"),
        ("WR0", "female", 27, "Tekst WR0_surprised_64.", "surprised", "surprised"),
    ]


@pytest.mark.parametrize(
    "name, rows, message",
    [
        ("EB0-anger-1", [], r"EB0-anger-1\.opus' does not follow the nEMO naming convention"),
        ("XY0_anger_1", [], r"XY0_anger_1\.opus': nEMO speaker 'XY0' is not one of"),
        ("EB0_joy_1", [], r"EB0_joy_1\.opus': nEMO emotion 'joy' is not one of"),
        ("EB0_anger_2", [("EB0_anger_1", "anger", "EB0")], r"EB0_anger_2\.opus': EB0_anger_2\.wav is missing from data\.tsv"),
        ("EB0_anger_1", [("EB0_anger_1", "fear", "EB0")], r"EB0_anger_1\.opus' names speaker EB0, emotion anger, but data\.tsv gives 'EB0', 'fear'"),
        ("EB0_anger_1", [("EB0_anger_1", "anger", "IC0")], r"EB0_anger_1\.opus' names speaker EB0.*gives 'IC0', 'anger'"),
    ],
)
def test_nemo_errors_name_the_file(tmp_path, name, rows, message):
    root = make_nemo(tmp_path, [name], rows)
    with pytest.raises(CorpusError, match=message):
        load_corpus("nemo", root=root)


def test_nemo_needs_its_data_tsv(tmp_path):
    root = make_nemo(tmp_path, ["EB0_anger_1"], [("EB0_anger_1", "anger", "EB0")])
    (root / "data.tsv").write_text((root / "data.tsv").read_text().replace("\tfemale\t27", "\tfemale\t"))
    with pytest.raises(CorpusError, match=r"data\.tsv' line 2: gender 'female' and age ''"):
        load_corpus("nemo", root=root)
    (root / "data.tsv").unlink()
    with pytest.raises(CorpusError, match=r"data\.tsv' is missing"):
        load_corpus("nemo", root=root)


def write_demographics(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ActorID", "Age", "Sex", "Race", "Ethnicity"])
        writer.writerows(rows)


def test_crema_d(tmp_path):
    files = ["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1001_IEO_HAP_HI.wav",
             "AudioWAV/1002_TIE_SAD_LO.wav", "AudioWAV/1003_WSI_NEU_MD.wav", "AudioWAV/1091_ITS_FEA_XX.wav"]
    root = touch(tmp_path / "crema", *files)
    items = load_corpus("crema_d", root=root)
    assert [item.speaker for item in items] == ["1001", "1001", "1002", "1003", "1091"]
    assert {item.gender for item in items} == {None}
    assert [(item.text, item.emotion, item.canonical, item.intensity) for item in items] == [
        ("DFA", "ANG", "angry", "unspecified"), ("IEO", "HAP", "happy", "high"),
        ("TIE", "SAD", "sad", "low"), ("WSI", "NEU", "neutral", "medium"), ("ITS", "FEA", "fearful", "unspecified"),
    ]
    write_demographics(root / "VideoDemographics.csv", [
        [1001, 51, "Male", "Caucasian", "Not Hispanic"], [1002, 21, "Female", "Caucasian", "Not Hispanic"],
        [1003, 21, "Female", "Caucasian", "Not Hispanic"], [1091, 29, "Female", "Asian", "Not Hispanic"],
    ])
    items = load_corpus("crema_d", root=root)
    assert [item.gender for item in items] == ["male", "male", "female", "female", "female"]
    touch(root, "AudioWAV/1050_DFA_DIS_XX.wav")
    with pytest.raises(CorpusError, match=r"1050_DFA_DIS_XX\.wav.*actor 1050 is missing from VideoDemographics"):
        load_corpus("crema_d", root=root)
    bad = touch(tmp_path / "bad", "AudioWAV/1001_DFA_ANG_ZZ.wav")
    with pytest.raises(CorpusError, match=r"1001_DFA_ANG_ZZ\.wav.*level 'ZZ'"):
        load_corpus("crema_d", root=bad)


IEMOCAP_EVALUATION = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\t{d}_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[10.0100 - 11.3925]\t{d}_M000\texc\t[4.0000, 3.5000, 1.5000]
C-E2:\tExcited;\t()

[14.8872 - 18.0175]\t{d}_F001\tang\t[1.5000, 4.5000, 3.0000]

[19.2900 - 20.7875]\t{d}_M001\txxx\t[2.0000, 3.0000, 2.5000]

[21.3212 - 24.7625]\t{d}_F002\tfru\t[2.0000, 3.5000, 3.5000]
"""


def make_iemocap(root, sessions=(1, 2, 3)):
    """Sessions with one dialog each: five labelled utterances, wavs and transcripts."""
    for number in sessions:
        session = root / f"Session{number}"
        dialog = f"Ses{number:02d}F_impro01"
        evaluation = session / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
        evaluation.parent.mkdir(parents=True)
        evaluation.write_text(IEMOCAP_EVALUATION.format(d=dialog))
        touch(session / "dialog" / "EmoEvaluation" / "Categorical", f"{dialog}_e1_cat.txt")
        transcript = session / "dialog" / "transcriptions" / f"{dialog}.txt"
        transcript.parent.mkdir(parents=True)
        transcript.write_text(f"{dialog}_F000 [006.2901-008.2357]: Excuse me.\n{dialog}_M000 [010.0100-011.3925]: Do you have your forms?\n")
        touch(session / "sentences" / "wav" / dialog,
              *(f"{dialog}_{u}.wav" for u in ("F000", "M000", "F001", "M001", "F002")), f"._{dialog}_F000.wav")
    return root


def test_iemocap_labels_and_vad(tmp_path):
    root = make_iemocap(tmp_path)
    items = load_corpus("iemocap", root=root)
    assert len(items) == 15
    first = items[0]
    assert first.path == root / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
    assert (first.speaker, first.gender, first.emotion, first.canonical, first.text) == (
        "Ses01F", "female", "neu", "neutral", "Excuse me.")
    by_name = {item.path.stem: item for item in items if item.speaker.startswith("Ses01")}
    excited = by_name["Ses01F_impro01_M000"]
    assert (excited.speaker, excited.gender, excited.canonical, excited.text) == (
        "Ses01M", "male", "excited", "Do you have your forms?")
    assert (excited.valence, excited.arousal, excited.dominance) == (4.0, 3.5, 1.5)
    assert by_name["Ses01F_impro01_F001"].text is None
    # Ratings binarised at > 2.5: 2.5 is low, 3.0 is high.
    expected = {"F000": (0, 0, 0), "M000": (1, 1, 0), "F001": (0, 1, 1), "M001": (0, 1, 0), "F002": (0, 1, 1)}
    for utterance, vad in expected.items():
        assert binary_vad(by_name[f"Ses01F_impro01_{utterance}"]) == vad
    assert by_name["Ses01F_impro01_M001"].canonical is None
    assert {item.speaker for item in items} == {"Ses01F", "Ses01M", "Ses02F", "Ses02M", "Ses03F", "Ses03M"}
    # 4-class subset: excited joins happy, frustrated and xxx are dropped.
    kept, labels = select_classes(items)
    assert [item.path.stem[-4:] for item in kept[:3]] == ["F000", "F001", "M000"]
    assert labels[:3].tolist() == [FOUR_CLASS.index("neutral"), FOUR_CLASS.index("angry"), FOUR_CLASS.index("happy")]
    assert len(kept) == 9 and labels.dtype == np.int64


def test_iemocap_failures(tmp_path):
    root = make_iemocap(tmp_path / "a", sessions=(1,))
    (root / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F001.wav").unlink()
    with pytest.raises(CorpusError, match=r"Ses01F_impro01\.txt' line 10: no audio for Ses01F_impro01_F001"):
        load_corpus("iemocap", root=root)
    root = make_iemocap(tmp_path / "b", sessions=(1,))
    evaluation = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    evaluation.write_text(evaluation.read_text().replace("\tang\t", "\tangry\t"))
    with pytest.raises(CorpusError, match=r"line 10: label 'angry' is not one of"):
        load_corpus("iemocap", root=root)
    with pytest.raises(CorpusError, match=r"no iemocap recordings found under .*EmoEvaluation"):
        load_corpus("iemocap", root=touch(tmp_path / "c", "Session1/readme.txt"))


def test_folder_corpus(tmp_path):
    root = touch(tmp_path, "angry/spk1_a.wav", "angry/spk2_b.flac", "Happiness/spk1_c.wav",
                 "Happiness/spk3_d.wav", "calm/spk2_e.wav", "digits/spk3_f.wav", "angry/notes.txt", "angry/.DS_Store")
    items = load_corpus("folder", root=root)
    assert [(item.emotion, item.canonical, item.speaker) for item in items] == [
        ("Happiness", "happy", None), ("Happiness", "happy", None), ("angry", "angry", None),
        ("angry", "angry", None), ("calm", "calm", None), ("digits", None, None),
    ]
    by_regex = load_corpus("folder", root=root, speaker_from=r"/(?P<speaker>spk\d)_")
    assert [item.speaker for item in by_regex] == ["spk1", "spk3", "spk1", "spk2", "spk2", "spk3"]
    by_callable = load_corpus("folder", root=root, speaker_from=lambda path: path.stem.split("_")[0])
    assert [item.speaker for item in by_callable] == [item.speaker for item in by_regex]
    mapped = load_corpus("folder", root=root, emotion_map={"angry": "angry", "Happiness": "happy", "calm": "calm", "digits": None})
    assert [item.canonical for item in mapped] == [item.canonical for item in items]
    with pytest.raises(CorpusError, match="label 'digits' is missing from emotion_map"):
        load_corpus("folder", root=root, emotion_map={"angry": "angry", "Happiness": "happy", "calm": "calm"})
    with pytest.raises(CorpusError, match=r"speaker_from gave no speaker for .*Happiness/spk1_c\.wav"):
        load_corpus("folder", root=root, speaker_from=r"speaker(\d+)")
    touch(root, "loose.wav")
    with pytest.raises(CorpusError, match=r"loose\.wav' lies directly in"):
        load_corpus("folder", root=root)


def write_manifest(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_corpus(tmp_path):
    touch(tmp_path, "audio/a.wav", "audio/b.flac", "audio/c.wav")
    absolute = tmp_path / "audio" / "c.wav"
    manifest = write_manifest(tmp_path / "list.csv", ["path", "label", "speaker", "extra"], [
        ["audio/b.flac", "sadness", "s2", "x"], ["audio/a.wav", "ang", "s1", "y"], [str(absolute), "neutral", "s1", "z"],
    ])
    items = load_corpus("csv", root=manifest)
    assert [(item.path.name, item.emotion, item.canonical, item.speaker) for item in items] == [
        ("a.wav", "ang", None, "s1"), ("b.flac", "sadness", "sad", "s2"), ("c.wav", "neutral", "neutral", "s1"),
    ]
    assert items[0].path == tmp_path / "audio" / "a.wav"
    mapped = load_corpus("csv", root=manifest, emotion_map={"ang": "angry", "sadness": "sad", "neutral": "neutral"})
    assert [item.canonical for item in mapped] == ["angry", "sad", "neutral"]
    without_speaker = write_manifest(tmp_path / "nospk.csv", ["label", "path"], [["sad", "audio/a.wav"]])
    assert load_corpus("csv", root=without_speaker)[0].speaker is None


@pytest.mark.parametrize(
    "header, rows, message",
    [
        (["path", "emotion"], [["audio/a.wav", "sad"]], r"lacks column\(s\) \['label'\]"),
        (["path", "label"], [["audio/a.wav", "sad"], ["audio/missing.wav", "sad"]], r"line 3: audio file .*missing\.wav' does not exist"),
        (["path", "label"], [["audio/a.wav", ""]], r"line 2: empty label"),
        (["path", "label", "speaker"], [["audio/a.wav", "sad", ""]], r"line 2: empty speaker"),
        (["path", "label"], [["audio/notes.txt", "sad"]], r"line 2: .*notes\.txt' is not an audio file"),
        (["path", "label"], [["audio/a.wav", "sad"], ["audio/a.wav", "happy"]], r"line 3: .*a\.wav' is already listed on line 2"),
    ],
)
def test_csv_errors(tmp_path, header, rows, message):
    touch(tmp_path, "audio/a.wav", "audio/notes.txt")
    manifest = write_manifest(tmp_path / "bad.csv", header, rows)
    with pytest.raises(CorpusError, match=message):
        load_corpus("csv", root=manifest)


# ---------------------------------------------------------------- load errors


def test_load_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown corpus 'emodbb'; known corpora: crema_d, csv, emodb, emovo, folder, fsdd, iemocap, nemo, ravdess, savee, tess"):
        load_corpus("emodbb")
    with pytest.raises(FileNotFoundError, match=r"emodb corpus not found: '.*nowhere' does not exist"):
        load_corpus("emodb", root=tmp_path / "nowhere")
    monkeypatch.setenv("KERAS_SER_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"ravdess corpus not found at '.*ravdess' \(looked in \$KERAS_SER_DATA="):
        load_corpus("ravdess")
    with pytest.raises(ValueError, match="corpus 'folder' has no default location: pass root="):
        load_corpus("folder")
    touch(tmp_path, "emodb/README.txt", "emodb/wav/._03a01Fa.wav")
    with pytest.raises(CorpusError, match=r"no emodb recordings found under .*expected files laid out like wav/03a01Fa\.wav"):
        load_corpus("emodb")
    touch(tmp_path, "emodb/wav/03-01-05-01-02-01-12.wav")
    with pytest.raises(CorpusError, match=r"03-01-05-01-02-01-12\.wav' does not follow the EmoDB naming convention"):
        load_corpus("emodb")
    touch(tmp_path, "ravdess/Actor_01/03-02-05-01-02-01-01.wav")
    with pytest.raises(CorpusError, match=r"03-02-05-01-02-01-01\.wav' has RAVDESS vocal channel 02 \(02 = song\)"):
        load_corpus("ravdess")
    touch(tmp_path, "fsdd/recordings/0_theo_1.wav", "fsdd/recordings/0_theo_1.flac")
    with pytest.raises(CorpusError, match=r"two audio files for one recording: .*0_theo_1"):
        load_corpus("fsdd")
    touch(tmp_path, "tess/YAF_fear/YAF_back_angry.wav")
    with pytest.raises(CorpusError, match=r"YAF_back_angry\.wav' .* lies in folder 'YAF_fear'"):
        load_corpus("tess")


# -------------------------------------------------------------- vocabulary


def test_vocabulary_and_vad_table():
    for name, mapping in CORPUS_EMOTIONS.items():
        assert set(mapping.values()) <= set(EMOTIONS) | {None}, name
    assert set(VAD_TABLE) == set(EMOTIONS) - {"other"}
    assert VAD_TABLE["angry"] == (0, 1, 1) and VAD_TABLE["sad"] == (0, 0, 0) and VAD_TABLE["happy"] == (1, 1, 1)
    item = Item(path=Path("x.wav"), corpus="emodb", speaker="03", gender="male", text="a01", emotion="W", canonical="angry")
    assert binary_vad(item) == (0, 1, 1)
    assert binary_vad(Item(path=Path("y.wav"), corpus="fsdd", speaker="theo", gender="male", text="1", emotion=None, canonical=None)) is None
    assert canonical_emotion("Anger") == "angry" and canonical_emotion("pleasant surprise") is None
    assert corpus_classes("emodb") == ("neutral", "happy", "sad", "angry", "fearful", "disgust", "boredom")
    with pytest.raises(ValueError, match=r"unknown class name\(s\) \['joy'\]"):
        select_classes([item], classes=("neutral", "joy"))
    with pytest.raises(ValueError, match="no emotion labels known for corpus 'fsdd'"):
        corpus_classes("fsdd")


def test_select_classes_on_emodb(real):
    items, labels = select_classes(real("emodb"))
    letters = Counter(item.emotion for item in real("emodb"))
    assert len(items) == letters["N"] + letters["W"] + letters["F"] + letters["T"]
    assert [FOUR_CLASS[label] for label in labels] == [item.canonical for item in items]
    emotions = {"N": "neutral", "W": "angry", "F": "happy", "T": "sad"}
    assert all(emotions[item.emotion] == FOUR_CLASS[label] for item, label in zip(items, labels))


# -------------------------------------------------------------------- splits


def synthetic_corpora(tmp_path):
    """Items of every synthetic corpus that has speakers."""
    savee = touch(tmp_path / "savee", *(f"{s}_{c}.wav" for s in ("DC", "JE", "JK", "KL") for c in ("a01", "n02", "sa03")))
    emovo = touch(tmp_path / "emovo", *(f"{e}-{s}-b1.wav" for s in ("f1", "f2", "f3", "m1", "m2", "m3") for e in ("dis", "neu")))
    crema = touch(tmp_path / "crema", *(f"AudioWAV/{1001 + s}_DFA_{e}_XX.wav" for s in range(8) for e in ("ANG", "SAD")))
    folder = touch(tmp_path / "folder", *(f"{c}/spk{s}_{c}.wav" for s in range(5) for c in ("angry", "sad")))
    touch(tmp_path / "audio", *(f"{s}_{n}.wav" for s in range(4) for n in range(3)))
    manifest = write_manifest(tmp_path / "list.csv", ["path", "label", "speaker"],
                              [[f"audio/{s}_{n}.wav", "sad", f"p{s}"] for s in range(4) for n in range(3)])
    return {
        "savee": load_corpus("savee", root=savee),
        "emovo": load_corpus("emovo", root=emovo),
        "crema_d": load_corpus("crema_d", root=crema),
        "iemocap": load_corpus("iemocap", root=make_iemocap(tmp_path / "iemocap")),
        "folder": load_corpus("folder", root=folder, speaker_from=r"spk\d"),
        "csv": load_corpus("csv", root=manifest),
    }


def check_no_leakage(corpora):
    """Speaker splits and folds of every corpus partition its items with no shared speaker."""
    for name, items in corpora.items():
        for seed in (0, 1, 2):
            parts = split(items, by="speaker", seed=seed)
            assert_partition(items, parts)
            assert_speaker_independent(parts)
            assert all(parts), name
        folds = speaker_folds(items, k=3, seed=0)
        tested = [key for _, _, test in folds for key in speakers_of(test)]
        assert sorted(tested) == sorted(speakers_of(items)), name
        for fold in folds:
            assert_partition(items, fold)
            assert_speaker_independent(fold)


def test_speaker_split_no_leakage_real(real):
    check_no_leakage({name: real(name) for name in ("ravdess", "emodb", "fsdd")})


def test_per_corpus_split_gives_every_corpus_test_speakers(real):
    from keras_ser.datasets import split_per_corpus

    items = real("ravdess") + real("emodb") + real("tess")
    parts = split_per_corpus(items, seed=0, fractions=(0.6, 0.2, 0.2))
    assert_partition(items, parts)
    # TESS validation files share their training speaker (OAF); every other part is speaker-independent.
    assert_speaker_independent((parts[0], [item for item in parts[1] if item.corpus != "tess"], parts[2]))
    test_speakers = {(item.corpus, item.speaker) for item in parts[2]}
    assert {corpus for corpus, _ in test_speakers} == {"ravdess", "emodb", "tess"}
    assert ("tess", "YAF") in test_speakers and ("tess", "OAF") not in test_speakers
    # Per corpus it is the corpus's own split: 24 actors -> 14/5/5, 10 speakers -> 6/2/2.
    count = lambda part, corpus: len({item.speaker for item in part if item.corpus == corpus})  # noqa: E731
    assert [count(part, "ravdess") for part in parts] == [14, 5, 5]
    assert [count(part, "emodb") for part in parts] == [6, 2, 2]
    tess_validation = [item for item in parts[1] if item.corpus == "tess"]
    assert len(tess_validation) == 280  # 20 % of OAF's 1400 files


def test_nemo_speaker_splits_folds_and_per_corpus(real):
    items = real("nemo")
    check_no_leakage({"nemo": items})
    assert [len(speakers_of(part)) for part in split(items, by="speaker", seed=0)] == [6, 2, 1]
    both = real("emodb") + items
    parts = split_per_corpus(both, seed=0, fractions=(0.6, 0.2, 0.2))
    assert_partition(both, parts)
    assert_speaker_independent(parts)
    # 9 speakers x (0.6, 0.2, 0.2) = (5.4, 1.8, 1.8) -> 5 / 2 / 2.
    assert [len({i.speaker for i in part if i.corpus == "nemo"}) for part in parts] == [5, 2, 2]


def test_leave_corpus_out(real):
    items = real("emodb") + real("tess") + real("nemo")
    train, val, test = leave_corpus_out(items, "nemo", seed=0, fractions=(0.6, 0.2, 0.2))
    assert_partition(items, (train, val, test))
    assert test == real("nemo")
    assert {item.corpus for item in train} == {item.corpus for item in val} == {"emodb", "tess"}
    assert_speaker_independent((train, val))
    # Train and val shares renormalised to (0.75, 0.25), corpus by corpus: EmoDB 10 -> 8 / 2, two-speaker TESS 1 / 1.
    count = lambda part, corpus: len({item.speaker for item in part if item.corpus == corpus})  # noqa: E731
    assert [(count(part, "emodb"), count(part, "tess")) for part in (train, val)] == [(8, 1), (2, 1)]
    assert leave_corpus_out(items, "nemo", seed=0, fractions=(0.6, 0.2, 0.2)) == (train, val, test)
    assert leave_corpus_out(items, "nemo", seed=1, fractions=(0.6, 0.2, 0.2))[1] != val
    train, val, test = leave_corpus_out(items, "tess", seed=0)
    assert speakers_of(test) == {("tess", "OAF"), ("tess", "YAF")}
    assert {item.corpus for item in train + val} == {"emodb", "nemo"}
    with pytest.raises(ValueError, match=r"test_corpus 'ravdess' must be one of the corpora \['emodb', 'nemo', 'tess'\]"):
        leave_corpus_out(items, "ravdess")
    with pytest.raises(ValueError, match="at least one other corpus is needed"):
        leave_corpus_out(real("nemo"), "nemo")


def test_speaker_split_no_leakage_synthetic(tmp_path):
    check_no_leakage(synthetic_corpora(tmp_path))


@pytest.mark.parametrize("name, sizes", [("emodb", (7, 2, 1)), ("ravdess", (17, 5, 2)), ("fsdd", (4, 1, 1))])
def test_speaker_split_proportions(real, name, sizes):
    parts = split(real(name), by="speaker", seed=0)
    assert tuple(len(speakers_of(part)) for part in parts) == sizes


def test_three_speakers_give_one_each(tmp_path):
    items = load_corpus("savee", root=touch(tmp_path, *(f"{s}_a0{n}.wav" for s in ("DC", "JE", "KL") for n in (1, 2))))
    parts = split(items, by="speaker")
    assert [len(speakers_of(part)) for part in parts] == [1, 1, 1]
    train, val, test = split(items, by="speaker", fractions=(0.5, 0.0, 0.5))
    assert val == [] and len(speakers_of(train)) + len(speakers_of(test)) == 3


def test_random_split_proportions(real):
    items = real("emodb")
    parts = split(items, by="random", seed=0)
    assert_partition(items, parts)
    # 535 x (0.7, 0.2, 0.1) = (374.5, 107, 53.5): the tied remainder goes to train.
    assert [len(part) for part in parts] == [375, 107, 53]
    assert len(speakers_of(parts[2])) > 1
    for part in parts:
        order = [items.index(item) for item in part]
        assert order == sorted(order)


def test_splits_are_deterministic(real):
    items = real("ravdess")
    for by in ("speaker", "random"):
        assert split(items, by=by, seed=5) == split(items, by=by, seed=5)
        assert split(list(reversed(items)), by=by, seed=5)[2] == list(reversed(split(items, by=by, seed=5)[2]))
        assert split(items, by=by, seed=5)[2] != split(items, by=by, seed=6)[2]
    assert speaker_folds(items, 4, seed=3) == speaker_folds(items, 4, seed=3)
    assert speaker_folds(items, 4, seed=3)[0][2] != speaker_folds(items, 4, seed=4)[0][2]


def test_speaker_folds_cover_each_speaker_once(real):
    items = real("emodb")
    folds = speaker_folds(items, k=4, seed=0)
    assert len(folds) == 4
    counts = Counter(key for _, _, test in folds for key in speakers_of(test))
    assert set(counts) == speakers_of(items) and set(counts.values()) == {1}
    assert sorted(len(speakers_of(test)) for _, _, test in folds) == [2, 2, 3, 3]
    # val_fraction 0.2 of the 7 or 8 remaining speakers rounds to 1 or 2.
    assert [len(speakers_of(val)) for _, val, test in folds] == [1 if len(speakers_of(test)) == 3 else 2 for _, _, test in folds]
    no_val = speaker_folds(items, k=5, val_fraction=0)
    assert all(val == [] for _, val, _ in no_val)
    with pytest.raises(ValueError, match=r"k must be an integer from 2 to the number of speakers \(10\), got 11"):
        speaker_folds(items, k=11)


def test_tess_protocol(real):
    items = real("tess")
    with pytest.raises(ValueError, match=r"needs at least 3 speakers, got 2 \(OAF, YAF\).*held_out_speaker_split"):
        split(items, by="speaker")
    train, val, test = held_out_speaker_split(items, test_speaker="YAF", val_fraction=0.2, seed=0)
    assert_partition(items, (train, val, test))
    assert {item.speaker for item in test} == {"YAF"} and len(test) == 1400
    assert {item.speaker for item in train + val} == {"OAF"}
    assert (len(train), len(val)) == (1120, 280)
    assert held_out_speaker_split(items, "YAF", seed=1)[1] != val
    folds = speaker_folds(items, k=2, val_fraction=0)
    assert sorted(next(iter(speakers_of(test)))[1] for _, _, test in folds) == ["OAF", "YAF"]
    assert all(speakers_of(train) != speakers_of(test) for train, _, test in folds)
    with pytest.raises(ValueError, match=r"leaves 1 other speaker.*val_fraction=0 or held_out_speaker_split"):
        speaker_folds(items, k=2)
    with pytest.raises(ValueError, match=r"test_speaker 'OA' is not among the speakers \['OAF', 'YAF'\]"):
        held_out_speaker_split(items, test_speaker="OA")


def test_split_failures(tmp_path):
    items = load_corpus("folder", root=touch(tmp_path, *(f"{c}/{n}.wav" for c in ("angry", "sad") for n in range(5))))
    with pytest.raises(ValueError, match=r"angry/0\.wav' \(folder\) has no speaker.*speaker_from="):
        split(items, by="speaker")
    with pytest.raises(ValueError, match=r"has no speaker"):
        speaker_folds(items, k=2)
    assert [len(part) for part in split(items, by="random")] == [7, 2, 1]
    with pytest.raises(ValueError, match=r"by must be one of \('speaker', 'random'\), got 'actor'"):
        split(items, by="actor")
    with pytest.raises(ValueError, match=r"fractions must be .* summing to 1, got \(0.7, 0.2, 0.2\)"):
        split(items, by="random", fractions=(0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match=r"needs at least 3 items, got 2"):
        split(items[:2], by="random")
