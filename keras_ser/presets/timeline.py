"""Timelines of long recordings: speech regions found by their energy, each scored window by window, streamed."""

import csv
import math

import keras
import numpy as np

from keras_ser.audio.io import AudioStream, is_file_source, source_name
from keras_ser.audio.segmentation import window_starts
from keras_ser.audio.vad import FRAME_SECONDS, MIN_PAUSE, MIN_SPEECH, LevelMeter, check_seconds, speech_regions
from keras_ser.presets.fine_tuning import check_whole_number


class Timeline(list):
    """Segments `{"start", "end", "speech", "label", "scores"}` (seconds) covering a recording, in order.

    Speech segments carry the top label and `scores` ({class: probability}) of their window; pauses have
    speech False, label and scores None. `.envelope` is the recording's RMS amplitude every `.frame_seconds`.
    """

    def __init__(self, segments, class_names, duration, envelope, frame_seconds, source=None):
        super().__init__(segments)
        self.class_names = list(class_names)
        self.duration = duration
        self.envelope = envelope
        self.frame_seconds = frame_seconds
        self.source = source

    def to_dict(self):
        return {"source": self.source, "duration": self.duration, "segments": list(self)}

    def to_csv(self, path):
        """Write one row per segment: start, end, speech, label and one probability column per class."""
        with open(path, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["start", "end", "speech", "label", *self.class_names])
            for segment in self:
                scores = segment["scores"] or {}
                writer.writerow([segment["start"], segment["end"], int(segment["speech"]), segment["label"] or "",
                                 *(f"{scores[name]:.4f}" if scores else "" for name in self.class_names)])
        return path


def _hop(hop_seconds, preprocessor):
    if hop_seconds is None:
        return preprocessor.hop_seconds or preprocessor.segment_seconds
    window = preprocessor.segment_seconds
    number = isinstance(hop_seconds, (int, float, np.integer, np.floating)) and not isinstance(hop_seconds, bool)
    if not (number and math.isfinite(hop_seconds) and 0 < hop_seconds <= window):
        raise ValueError(f"hop_seconds must be a number of seconds in (0, {window:g}] (the model's window, "
                         f"segment_seconds; windows further apart would leave speech unscored), got {hop_seconds!r}")
    return float(hop_seconds)


def _cut(blocks, spans, width, batch_size):
    """Batches of (n, width) windows holding the samples [start, stop) of each span of a block-wise signal.

    Windows are zero-padded past `stop`. Only the samples of pending spans are kept between blocks, and every
    batch is the same buffer refilled: use each one before asking for the next.
    """
    spans = iter(spans)
    span = next(spans, None)
    batch, count = np.zeros((batch_size, width), dtype=np.float32), 0
    buffer, offset = np.zeros(0, dtype=np.float32), 0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while span is not None and span[1] <= offset + len(buffer):
            batch[count] = 0.0
            batch[count, : span[1] - span[0]] = buffer[span[0] - offset : span[1] - offset]
            count += 1
            span = next(spans, None)
            if count == batch_size:
                yield batch
                count = 0
        if span is None:
            break
        drop = min(len(buffer), span[0] - offset)
        buffer, offset = buffer[drop:], offset + drop
    if span is not None:
        raise RuntimeError("the audio ended earlier on its second reading than on its first; was the file changed?")
    if count:
        yield batch[:count]


def timeline(classifier, source, sampling_rate=None, hop_seconds=None, min_speech=MIN_SPEECH, min_pause=MIN_PAUSE,
             batch_size=32, progress=True, channels_first=None):
    """The `Timeline` of a recording, for `SERClassifier.timeline` (see there)."""
    preprocessor = classifier.preprocessor
    hop = _hop(hop_seconds, preprocessor)
    min_speech, min_pause = check_seconds(min_speech, "min_speech"), check_seconds(min_pause, "min_pause")
    check_whole_number("batch_size", batch_size)
    if is_file_source(source):
        if sampling_rate is not None:
            raise ValueError("sampling_rate is for arrays of samples; a file's sample rate is read from the file")
        with AudioStream(source, preprocessor.sample_rate) as stream:
            return _timeline(classifier, stream, source_name(source), hop, min_speech, min_pause, batch_size, progress)
    if sampling_rate is None:
        raise ValueError("sampling_rate is required with an array of samples: pass the rate it was recorded at, in Hz")
    signal = preprocessor.resample(source, sampling_rate, channels_first)
    return _timeline(classifier, [signal], None, hop, min_speech, min_pause, batch_size, progress)


def _timeline(classifier, blocks, source, hop, min_speech, min_pause, batch_size, progress):
    """Two passes over `blocks` (re-iterable): frame levels and speech regions, then the regions' windows scored."""
    preprocessor = classifier.preprocessor
    rate, width = preprocessor.sample_rate, preprocessor.window_samples
    frame = round(FRAME_SECONDS * rate)
    meter = LevelMeter(frame)
    for block in blocks:
        meter.add(block)
    levels = meter.levels()
    regions = np.minimum(speech_regions(levels, frame / rate, min_speech, min_pause) * frame, meter.samples)
    starts = [start + window_starts(stop - start, width, round(hop * rate), preprocessor.min_tail)
              for start, stop in regions]
    spans = [(first, min(first + width, stop)) for (_, stop), firsts in zip(regions, starts) for first in firsts]
    bar = keras.utils.Progbar(len(spans), unit_name="window") if progress and len(spans) > batch_size else None
    scores = []
    for windows in _cut(blocks, spans, width, batch_size):
        scores.append(classifier.score_windows(windows, batch_size=batch_size)["emotion"])
        if bar is not None:
            bar.add(len(windows))
    probabilities = iter(np.concatenate(scores) if scores else [])

    def seconds(sample):
        return round(sample / rate, 3)

    segments, cursor = [], 0
    for (start, stop), firsts in zip(regions, starts):
        if start > cursor:
            segments.append({"start": seconds(cursor), "end": seconds(start), "speech": False, "label": None,
                             "scores": None})
        for i, first in enumerate(firsts):
            window = next(probabilities)
            end = stop if i == len(firsts) - 1 else min(first + width, stop)
            segments.append({"start": seconds(first), "end": seconds(end), "speech": True,
                             "label": classifier.class_names[int(np.argmax(window))],
                             "scores": dict(zip(classifier.class_names, map(float, window)))})
        cursor = stop
    if cursor < meter.samples:
        segments.append({"start": seconds(cursor), "end": seconds(meter.samples), "speech": False, "label": None,
                         "scores": None})
    envelope = (10.0 ** (levels / 20.0)).astype(np.float32)
    return Timeline(segments, classifier.class_names, seconds(meter.samples), envelope, frame / rate, source)
