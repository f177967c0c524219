"""Prediction inputs: integer PCM, channel orientation, sampling rates, file-like sources, batches with bad files."""

import io
import os
import warnings

import numpy as np
import pytest
import soundfile
from prediction_helpers import CLASSES, RATE, mixed_folder, speech_like, tiny_classifier

from keras_ser import audio
from keras_ser.audio import AudioError
from keras_ser.presets import ShortAudioWarning, SilentAudioWarning, UnvoicedAudioWarning


@pytest.fixture(scope="module")
def model():
    return tiny_classifier()


def scores(result):
    return {entry["label"]: entry["score"] for entry in result}


def test_integer_pcm_is_scaled_by_its_type_range():
    x = np.array([-1.0, -0.5, 0.0, 0.25, 0.5])
    for dtype, scale, zero in (("int8", 2**7, 0), ("uint8", 2**7, 128), ("int16", 2**15, 0), ("int32", 2**31, 0)):
        pcm = (x * scale + zero).astype(dtype)
        np.testing.assert_allclose(audio.load_array(pcm, RATE, sr=RATE), x, atol=1e-6, err_msg=dtype)
    for values in (np.zeros(400, complex), np.array([object()] * 400), np.zeros(400, bool), np.zeros(400, np.int64)):
        with pytest.raises(ValueError, match=f"audio must hold .*got dtype {values.dtype}"):
            audio.load_array(values, RATE)


def test_int16_audio_predicts_like_the_float_audio(model):
    signal = speech_like()
    pcm = np.clip(np.round(signal * 2**15), -(2**15), 2**15 - 1).astype(np.int16)  # as scipy.io.wavfile.read gives
    expected = scores(model.predict_array(signal, sampling_rate=RATE))
    assert scores(model.predict_array(pcm, sampling_rate=RATE)) == pytest.approx(expected, abs=1e-4)
    assert scores(model.predict_batch([pcm], sampling_rate=RATE)[0]) == pytest.approx(expected, abs=1e-4)


def test_two_dimensional_audio_needs_an_unambiguous_orientation(model):
    mono = speech_like()
    expected = scores(model.predict_array(mono, sampling_rate=RATE))
    stereo = np.stack([mono, mono])  # (channels, samples)
    assert scores(model.predict_array(stereo, sampling_rate=RATE)) == pytest.approx(expected, abs=1e-5)
    assert scores(model.predict_array(stereo.T, sampling_rate=RATE)) == pytest.approx(expected, abs=1e-5)
    many = np.stack([mono] * 12)  # 12 channels: more than a channel count is inferred for
    with pytest.raises(ValueError, match=r"shape \(12, 24000\).*channels_first=True"):
        model.predict_array(many, sampling_rate=RATE)
    from_many = model.predict_array(many, sampling_rate=RATE, channels_first=True)
    assert scores(from_many) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match=r"shape \(2, 100\).*channels_first=False"):
        model.predict_array(stereo[:, :100], sampling_rate=RATE)
    assert audio.load_array(stereo[:, :100], RATE, sr=RATE, channels_first=True).shape == (100,)
    assert audio.load_array(stereo[:, :100], RATE, sr=RATE, channels_first=False).shape == (2,)
    with pytest.raises(ValueError, match="channels_first must be True, False or None"):
        model.predict_array(stereo, sampling_rate=RATE, channels_first="yes")


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, None, True, "16000", float("nan")])
def test_bad_sampling_rates_name_the_argument(model, rate):
    with pytest.raises(ValueError, match=r"sampling_rate must be a positive integer sample rate in Hz"):
        model.predict_array(speech_like(0.1), sampling_rate=rate)


def test_batches_and_unsupported_objects_are_named(model):
    assert len(model.predict_array(speech_like(0.5), sampling_rate=16000.0)) == len(model.class_names)
    with pytest.raises(ValueError, match="clips is empty"):
        model.predict_batch([], sampling_rate=RATE)
    with pytest.raises(ValueError, match="clips must be a list of clips"):
        model.predict_batch(speech_like(0.5), sampling_rate=RATE)
    with pytest.raises(ValueError, match=r"clips\[1\]: audio contains NaN"):
        model.predict_batch([speech_like(0.5), np.full(800, np.nan)], sampling_rate=RATE)
    for source in (io.BytesIO(b"RIFF"), "clip.wav", b"RIFF"):
        with pytest.raises(ValueError, match=f"audio must be an array of samples, got {type(source).__name__}"):
            model.predict_array(source, sampling_rate=RATE)
    with pytest.raises(ValueError, match="path must be a file path, the file's bytes or a binary file-like object"):
        model.predict_file(12)


def test_files_load_from_paths_bytes_and_file_like_objects(model, tmp_path):
    path = tmp_path / "clip.wav"
    soundfile.write(path, speech_like(), RATE)
    expected = model.predict_file(str(path))
    with open(path, "rb") as stream:
        opened = model.predict_file(stream)
    results = [model.predict_file(path), model.predict_file(path.read_bytes()),
               model.predict_file(io.BytesIO(path.read_bytes())), opened]
    assert [r.source for r in results] == [str(path), "<bytes>", "<file-like object>", str(path)]
    for result in results:
        assert scores(result) == pytest.approx(scores(expected), abs=1e-6)


def test_unreadable_file_like_objects_fail_clearly(tmp_path):
    with pytest.raises(AudioError, match="'<file-like object>': not a readable audio file"):
        audio.load(io.BytesIO(b"no audio here" * 10))
    with pytest.raises(AudioError, match="'<bytes>': no bytes"):
        audio.load(b"")
    path = tmp_path / "clip.wav"
    soundfile.write(path, speech_like(0.1), RATE)
    with open(path) as text, pytest.raises(AudioError, match="text mode"):
        audio.load(text)
    with open(path, "rb") as closed:
        pass
    with pytest.raises(AudioError, match="closed"):
        audio.load(closed)
    reader, writer = os.pipe()  # not seekable: read into memory first
    with open(writer, "wb") as pipe:
        pipe.write(path.read_bytes())
    with open(reader, "rb") as pipe:
        assert audio.load(pipe).shape == (1600,)


def test_a_folder_with_unreadable_files_predicts_the_rest_and_lists_each_failure(model, corpus_root, tmp_path):
    good, bad = mixed_folder(tmp_path / "clips", corpus_root("emodb") / "wav")
    results = model.predict_folder(tmp_path / "clips", progress=False)
    assert [r.source for r in results] == good
    assert [f["source"] for f in results.failures] == list(bad)
    for failure in results.failures:
        assert bad[failure["source"]] in failure["error"]
    with pytest.raises(AudioError, match="empty.wav"):
        model.predict_folder(tmp_path / "clips", progress=False, on_error="fail")


def test_predictions_as_an_array_follow_the_class_order(model, corpus_root, tmp_path):
    clips = [speech_like(1.5), speech_like(3.0, seed=1)]  # one window each
    array = model.predict_batch(clips, sampling_rate=RATE).to_array()
    assert array.shape == (2, len(CLASSES)) and array.dtype == np.float32
    for row, clip in zip(array, clips):  # the window's head output, renormalised, in the model's class order
        window = np.zeros(model.preprocessor.window_samples, np.float32)
        window[: clip.size] = clip
        expected = model.score_windows(window[None])["emotion"][0]
        np.testing.assert_allclose(row, expected / expected.sum(), atol=1e-5)
    good, _ = mixed_folder(tmp_path / "clips", corpus_root("emodb") / "wav")
    results = model.predict_files([good[0], tmp_path / "missing.wav", good[1]], progress=False)
    array = results.to_array()
    assert array.shape == (2, len(CLASSES))  # the unreadable file has no row
    for row, result in zip(array, results):
        assert dict(zip(CLASSES, row.tolist())) == pytest.approx(scores(result), abs=1e-6)


def test_predict_files_takes_files_and_folders_in_order(model, corpus_root, tmp_path):
    good, bad = mixed_folder(tmp_path / "clips", corpus_root("emodb") / "wav")
    more = tmp_path / "more"
    more.mkdir()
    soundfile.write(more / "b.wav", speech_like(), RATE)
    soundfile.write(more / "a.flac", speech_like(seed=1), RATE)
    results = model.predict_files([good[1], more, tmp_path / "missing.wav", good[0]], progress=False, chunk=2)
    assert [r.source for r in results] == [good[1], str(more / "a.flac"), str(more / "b.wav"), good[0]]
    assert results.failures == [{"source": str(tmp_path / "missing.wav"), "error": "no such file"}]
    with pytest.raises(ValueError, match="paths is empty"):
        model.predict_files([])
    with pytest.raises(ValueError, match="on_error must be 'skip' or 'fail'"):
        model.predict_files(good, on_error="ignore")


def test_silent_clips_are_scored_but_marked_and_warned_about(model, corpus_root, tmp_path):
    speech = speech_like()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentAudioWarning)  # speech: no warning
        result = model.predict_array(speech, sampling_rate=RATE)
    assert not result.silent and result.to_dict()["silent"] is False
    with pytest.warns(SilentAudioWarning, match=r"1 of 1 clip\(s\) have no sound above -70 dBFS \(clip 0\)"):
        silence = model.predict_array(np.zeros(RATE), sampling_rate=RATE)
    assert silence.silent and silence.level_db == -100.0 and len(silence) == len(CLASSES)
    assert silence.to_dict()["level_db"] == -100.0 and silence.to_dict()["silent"] is True
    faint = np.random.default_rng(0).normal(0, 10 ** (-80 / 20), RATE)  # noise at -80 dBFS RMS
    with pytest.warns(SilentAudioWarning, match=r"2 of 3 clip\(s\) .*\(clip 0, clip 2\)"), \
            pytest.warns(ShortAudioWarning, match=r"1 of 3 clip\(s\) .*\(clip 2\)"):
        results = model.predict_batch([faint, speech, np.zeros(100)], sampling_rate=RATE)
    assert [r.silent for r in results] == [True, False, True]
    # the quietest clip of the shared corpora (its loudest 20 ms at -54.5 dBFS) is speech, not silence
    quietest = corpus_root("ravdess") / "Actor_09" / "03-01-04-01-02-02-09.flac"
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentAudioWarning)
        result = model.predict_file(quietest)
    assert result.level_db == pytest.approx(-54.5, abs=0.1) and not result.silent
    soundfile.write(tmp_path / "blank.wav", np.zeros(RATE), RATE)
    with pytest.warns(SilentAudioWarning, match="blank.wav"):
        (marked,) = model.predict_files([tmp_path / "blank.wav"], progress=False)
    assert marked.silent and marked.source == str(tmp_path / "blank.wav")


def test_clips_too_short_to_hold_an_emotion_are_scored_but_marked_and_warned_about(model, corpus_root):
    speech = speech_like()
    quarter = RATE // 4  # SHORT_SECONDS: 0.25 s
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortAudioWarning)
        result = model.predict_array(speech[:quarter], sampling_rate=RATE)
        shortest = model.predict_file(corpus_root("emodb") / "wav" / "12a02Ac.flac")  # EmoDB's shortest clip
    assert not result.too_short and result.seconds == 0.25 and result.to_dict()["too_short"] is False
    assert not shortest.too_short and shortest.seconds == pytest.approx(1.226, abs=1e-3)
    with pytest.warns(ShortAudioWarning, match=r"1 of 1 clip\(s\) are shorter than 0.25 s \(clip 0\): their scores "
                                               r"are a guess on too little speech .*Prediction.too_short"):
        clipped = model.predict_array(speech[: quarter - 1], sampling_rate=RATE)
    assert clipped.too_short and not clipped.silent and len(clipped) == len(CLASSES)
    assert clipped.to_dict()["seconds"] == 0.25 and clipped.to_dict()["too_short"] is True  # 0.2499375 s, rounded
    with pytest.warns(ShortAudioWarning, match=r"1 of 1 clip"):  # the duration of the audio, at any rate
        assert model.predict_array(speech[::2][: RATE // 10], sampling_rate=RATE // 2).seconds == pytest.approx(0.2)


def test_clips_without_voiced_sound_are_scored_but_marked_and_warned_about(model, corpus_root):
    noise = np.random.default_rng(0).normal(0, 0.1, 2 * RATE)  # white noise, loud and long enough
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnvoicedAudioWarning)
        speech = model.predict_array(speech_like(), sampling_rate=RATE)
        real = model.predict_file(corpus_root("nemo") / "samples" / "WR0_neutral_3.opus")  # the least voiced clip
    assert speech.voiced and not speech.unvoiced and speech.to_dict()["unvoiced"] is False
    assert real.voiced and not real.unvoiced
    with pytest.warns(UnvoicedAudioWarning, match=r"1 of 3 clip\(s\) have too little voiced sound \(under 0.1 s or 1% "
                                                  r"of it\) \(clip 1\): their scores are the model's guess on noise "
                                                  r".*Prediction.unvoiced"), \
            pytest.warns(SilentAudioWarning, match=r"\(clip 2\)"):
        results = model.predict_batch([speech_like(), noise, np.zeros(RATE)], sampling_rate=RATE)
    assert [r.voiced for r in results] == [True, False, False]
    assert [r.unvoiced for r in results] == [False, True, False]  # silence is flagged as silent only
    assert results[1].to_dict()["unvoiced"] is True and len(results[1]) == len(CLASSES)


def test_batch_sizes_and_chunks_must_be_whole_numbers_of_at_least_one(model, tmp_path):
    path = tmp_path / "speech.wav"
    soundfile.write(path, speech_like(), RATE)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=f"batch_size must be a whole number >= 1, got {bad!r}"):
            model.predict_file(path, batch_size=bad)
        with pytest.raises(ValueError, match=f"batch_size must be a whole number >= 1, got {bad!r}"):
            model.timeline(path, batch_size=bad, progress=False)
        with pytest.raises(ValueError, match=f"chunk must be a whole number of files >= 1, got {bad!r}"):
            model.predict_files([path], chunk=bad, progress=False)
    assert len(model.predict_file(path, batch_size=1)) == len(CLASSES)
