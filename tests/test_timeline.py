"""Timelines of long recordings: speech found by energy, scored window by window, streamed; the CLI's --timeline."""

import csv
import json
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile

from keras_ser.audio import AudioError, load
from keras_ser.audio.io import AudioStream
from keras_ser.audio.vad import SILENCE_DB, peak_level
from keras_ser.audio.vad import speech_regions as vad_regions
from keras_ser.cli import main
from keras_ser.presets.preprocessor import AudioPreprocessor
from keras_ser.presets.timeline import timeline

RATE = 16000
TOLERANCE = 0.3  # seconds
# Real EmoDB clips and the pauses of low noise (seconds) before each: a 0.2-s pause is bridged, not a pause.
LAYOUT = [(1.0, "03a01Wa.flac"), (0.2, "03a02Fc.flac"), (0.2, "03a07Fb.flac"), (3.0, "15a01Wa.flac"), (1.5, None)]


def _noise(seconds, rng):
    return rng.normal(0, 1e-3, round(seconds * RATE)).astype(np.float32)  # about -60 dBFS


@pytest.fixture(scope="module")
def recording(corpus_root, tmp_path_factory):
    """A 14-s FLAC of four clips with pauses between them; returns (path, its speech regions in seconds)."""
    rng = np.random.default_rng(0)
    parts, regions, now = [], [], 0.0
    for pause, name in LAYOUT:
        parts.append(_noise(pause, rng))
        now += pause
        if name is None:
            break
        clip = load(corpus_root("emodb") / "wav" / name)
        parts.append(clip)
        if pause < 0.5:
            regions[-1][1] = now + len(clip) / RATE
        else:
            regions.append([now, now + len(clip) / RATE])
        now += len(clip) / RATE
    path = tmp_path_factory.mktemp("timeline") / "recording.flac"
    soundfile.write(path, np.concatenate(parts), RATE)
    return path, regions


@pytest.fixture(scope="module")
def model():
    from keras_ser.presets import load as load_preset

    return load_preset("rhemo-qvgg16")


def stand_in(class_names=("calm", "upset")):
    """What `timeline` needs of a classifier, scoring every window alike: for tests of streaming, not of labels."""
    scores = np.full(len(class_names), 1 / len(class_names), dtype=np.float32)
    return SimpleNamespace(preprocessor=AudioPreprocessor(), class_names=list(class_names),
                           score_windows=lambda windows, batch_size: {"emotion": np.tile(scores, (len(windows), 1))})


def speech_regions(segments):
    """[start, end] of each run of speech segments."""
    regions = []
    for segment in segments:
        if segment["speech"] and regions and regions[-1][1] >= segment["start"]:
            regions[-1][1] = max(regions[-1][1], segment["end"])
        elif segment["speech"]:
            regions.append([segment["start"], segment["end"]])
    return regions


def _levels(*runs):
    """Frame levels (dBFS) from (frames, level) runs."""
    return np.concatenate([np.full(frames, level, dtype=np.float32) for frames, level in runs])


def test_energy_detection_has_hysteresis_bridges_short_pauses_and_drops_short_bursts():
    # Noise at -60 dBFS: speech starts 15 dB above it (-45) and lasts while 9 dB above it (-51); 20-ms frames.
    levels = _levels((50, -60), (10, -48), (40, -30), (10, -48), (10, -60), (30, -30), (50, -60),
                     (10, -48), (50, -60), (10, -30), (130, -60))
    assert vad_regions(levels).tolist() == [[50, 150]]  # the -48 frames never rising to -45 alone are no speech
    assert vad_regions(levels, min_speech=0.1).tolist() == [[50, 150], [260, 270]]  # a 0.2-s burst
    assert vad_regions(levels, min_pause=0.1).tolist() == [[50, 110], [120, 150]]  # the 0.2-s pause splits
    quiet = _levels((200, -100), (200, -75), (30, -40), (100, -75))  # digital silence, then faint noise
    assert vad_regions(quiet).tolist() == [[400, 430]]


def test_peak_level_is_the_rms_of_the_loudest_frame_in_dbfs():
    rate = 16000
    t = np.arange(rate) / rate
    sine = 0.5 * np.sin(2 * np.pi * 400 * t)  # RMS 0.5 / sqrt(2): -9.03 dBFS in every 20-ms frame (8 periods)
    assert peak_level(sine, rate) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
    quiet = 0.001 * sine  # 60 dB lower, with one 20-ms frame (samples 3200-3519) at the sine's full level
    quiet[3200:3520] = sine[3200:3520]
    assert peak_level(quiet, rate) == pytest.approx(-9.03, abs=0.01)
    assert peak_level(np.zeros(rate), rate) == SILENCE_DB  # digital silence: the floor, not -inf
    assert peak_level(np.full(10, 0.1), rate) == pytest.approx(-20.0, abs=1e-4)  # shorter than a frame: one frame
    with pytest.raises(ValueError, match=r"non-empty mono signal, got shape \(0,\)"):
        peak_level(np.zeros(0), rate)


def test_speech_is_found_at_the_right_times_and_scored_as_predict_scores_it(model, recording):
    path, truth = recording
    result = model.timeline(path)
    assert result.source == str(path) and result.duration == pytest.approx(14.07, abs=0.01)
    assert [(s["start"], s["end"]) for s in result] == list(zip([0.0] + [s["end"] for s in result[:-1]],
                                                                [s["end"] for s in result]))  # tiles the file
    assert result[0]["start"] == 0.0 and result[-1]["end"] == result.duration
    found = speech_regions(result)
    assert np.allclose(found, truth, atol=TOLERANCE), (found, truth)
    assert [s["speech"] for s in result] == [False, True, True, False, True, False]  # 6.7 s: two windows
    signal = load(path)
    for segment in result:
        if not segment["speech"]:
            assert segment["label"] is None and segment["scores"] is None
    for start, end in found:
        windows = model.predict_array(signal[round(start * RATE) : round(end * RATE)], RATE).windows
        mine = [s for s in result if s["speech"] and start <= s["start"] < end]
        assert len(mine) == len(windows)
        for segment, window in zip(mine, windows):
            assert segment["label"] == window["labels"][0]["label"] == max(segment["scores"], key=segment["scores"].get)
            for entry in window["labels"]:
                assert segment["scores"][entry["label"]] == pytest.approx(entry["score"], abs=1e-5)

    assert model.timeline(signal, sampling_rate=RATE, progress=False) == result  # an array is used as it is


def test_windows_overlap_with_a_short_hop_and_stay_inside_their_region(recording):
    path, truth = recording
    result = timeline(stand_in(), path, hop_seconds=1.5, progress=False)
    speech = [s for s in result if s["speech"]]
    regions = speech_regions(result)
    first = [s for s in speech if regions[0][0] <= s["start"] < regions[0][1]]
    # 6.7 s of speech: windows at 0 and 1.5 s, then one at 3 s for the 1.2 s after the second (at least
    # min_tail × hop, as predict_array cuts a clip), zero-padded past the end of the speech where it ends.
    assert [s["start"] - regions[0][0] for s in first] == pytest.approx([0.0, 1.5, 3.0])
    assert [s["end"] - s["start"] for s in first[:2]] == pytest.approx([4.0, 4.0]) and first[2]["end"] == regions[0][1]
    for segment in speech:
        assert any(start <= segment["start"] and segment["end"] <= end for start, end in regions)
        assert segment["scores"] == {"calm": 0.5, "upset": 0.5}
    quiet = timeline(stand_in(), np.zeros(RATE * 3), sampling_rate=RATE, progress=False)
    assert quiet == [{"start": 0.0, "end": 3.0, "speech": False, "label": None, "scores": None}]


def _long_file(path, minutes, clip):
    """`minutes` of a 22.05-kHz stereo WAV: `clip` then 2 s of low noise, over and over, written block by block."""
    block = np.concatenate([clip, _noise(2.0, np.random.default_rng(1))])
    block = np.stack([block, 0.5 * block], axis=1)
    with soundfile.SoundFile(path, "w", samplerate=22050, channels=2, subtype="PCM_16") as file:
        for _ in range(round(minutes * 60 * 22050 / len(block))):
            file.write(block)  # frames of 16 kHz audio written at 22.05 kHz: a faster voice, still speech
    return round(minutes * 60 * 22050 / len(block)), len(block) / 22050


def test_a_ten_minute_file_is_streamed_not_loaded(corpus_root, tmp_path):
    clip = load(corpus_root("emodb") / "wav" / "03a01Wa.flac")
    peaks = {}
    for minutes in (1, 10):
        path = tmp_path / f"{minutes}min.wav"
        repeats, period = _long_file(path, minutes, clip)
        tracemalloc.start()
        result = timeline(stand_in(), path, progress=False)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.duration == pytest.approx(repeats * period, abs=0.01)
        assert len(speech_regions(result)) == repeats  # every clip, none merged across its 2-s pause
    assert peaks[10] < peaks[1] + 2**20, peaks  # flat: ten times the audio, the same memory
    decoded = 10 * 60 * 22050 * 2 * 4  # bytes of the whole file decoded as float32, as loading it would hold
    assert peaks[10] < decoded / 5, peaks  # one batch of 32 windows (8 MB) and a few blocks


def test_audio_stream_reads_what_load_reads(corpus_root):
    path = corpus_root("ravdess") / "Actor_01" / "03-01-02-01-01-02-01.wav"  # 48-kHz stereo
    with AudioStream(path) as stream:
        blocks = list(stream)
        assert np.array_equal(np.concatenate(list(stream)), np.concatenate(blocks))  # each pass from the start
    assert np.allclose(np.concatenate(blocks), load(path), atol=1e-6)


@pytest.mark.parametrize("options, culprit", [
    ({"hop_seconds": 0}, "hop_seconds must be a number of seconds in (0, 4]"),
    ({"hop_seconds": 5.0}, "hop_seconds must be a number of seconds in (0, 4]"),
    ({"hop_seconds": float("nan")}, "hop_seconds"),
    ({"hop_seconds": "2"}, "hop_seconds"),
    ({"min_speech": -0.1}, "min_speech must be a number of seconds >= 0, got -0.1"),
    ({"min_speech": float("inf")}, "min_speech"),
    ({"min_pause": None}, "min_pause must be a number of seconds >= 0, got None"),
    ({"sampling_rate": 16000}, "sampling_rate is for arrays"),
])
def test_bad_options_are_refused_naming_the_option(recording, options, culprit):
    with pytest.raises(ValueError) as error:
        timeline(stand_in(), recording[0], **options)
    assert culprit in str(error.value)


def test_unreadable_input_is_refused_naming_the_file(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio\n" * 10)
    for source, reason in ((text, "not a readable audio file"), (tmp_path / "gone.wav", "no such file")):
        with pytest.raises(AudioError, match=reason) as error:
            timeline(stand_in(), source)
        assert error.value.path == str(source)
    with pytest.raises(ValueError, match="sampling_rate is required with an array"):
        timeline(stand_in(), np.zeros(RATE))


def test_command_line_prints_json_and_writes_csv_and_a_plot(recording, tmp_path, capsys):
    path, truth = recording
    plot, table = tmp_path / "timeline.png", tmp_path / "timeline.csv"
    assert main(["predict", str(path), "--timeline", "--json", "--plot", str(plot), "--model", "rhemo"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["source"] == str(path) and np.allclose(speech_regions(printed["segments"]), truth, atol=TOLERANCE)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000

    assert main(["predict", str(path), "--timeline", "--csv", str(table), "--model", "rhemo"]) == 0
    assert capsys.readouterr().out.strip() == f"timeline of {path} written to {table}"
    with open(table, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["start", "end", "speech", "label", "neutral", "angry", "happy", "sad"]
    assert [(float(row["start"]), float(row["end"]), row["speech"] == "1") for row in rows] == \
        [(s["start"], s["end"], s["speech"]) for s in printed["segments"]]
    assert all(row["label"] == "" and row["sad"] == "" for row in rows if row["speech"] == "0")


@pytest.mark.parametrize("arguments, message", [
    (["--csv", "out.csv"], "--csv needs --timeline"),
    (["--timeline", "--csv", "out.csv", "--json"], "--csv and --json are alternatives"),
    (["--timeline", "--windows"], "--windows and --timeline are alternatives"),
    (["second.wav", "--timeline"], "--timeline takes one audio file, got 2 targets"),
    (["--timeline", "--hop", "-1"], "hop_seconds must be a number of seconds in (0, 4]"),
])
def test_command_line_refuses_options_that_do_not_go_together(recording, arguments, message, capsys):
    assert main(["predict", str(recording[0]), *arguments, "--model", "rhemo"]) == 2
    assert message in capsys.readouterr().err


def test_command_line_names_an_unreadable_file(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "gone.flac"), "--timeline", "--model", "rhemo"]) == 2
    assert f"cannot load audio file '{tmp_path / 'gone.flac'}': no such file" in capsys.readouterr().err
