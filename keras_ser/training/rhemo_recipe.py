"""Training RH-emo on corpora, with speaker-independent splits, into a run directory."""

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_ser.audio import NORMALIZERS, LogCompression
from keras_ser.datasets import (
    FOUR_CLASS,
    FrontEnd,
    binary_vad,
    cached_features,
    load_corpus,
    select_classes,
    split_per_corpus,
)
from keras_ser.models import fit_rhemo, rhemo
from keras_ser.models.rhemo import STAGE1, STAGE2, check_front_end, rhemo_input
from keras_ser.models.rhemo.front_end import THESIS_FRONT_END
from keras_ser.training.metrics import classification_metrics

ENCODER_FILE = "encoder.keras"
# What a run continued from (`init`) must share with the new one: its split, its network and its input.
CONTINUED_KEYS = ("corpora", "max_items", "fractions", "seed", "variant", "head_units", "compression", "normalization")
# Settings that runs from before they were recorded in metrics.json used.
UNRECORDED_DEFAULTS = {**THESIS_FRONT_END, "max_items": 0}


def _initial_weights(init, settings):
    """The weights and metrics of the `keras-ser rhemo` run in `init`, after checking it shares `settings`."""
    init = Path(init)
    if not (init / "rhemo.keras").is_file() or not (init / "metrics.json").is_file():
        raise FileNotFoundError(f"'{init}' holds no rhemo.keras and metrics.json: init takes the run directory of an "
                                "earlier keras-ser rhemo")
    earlier = {**UNRECORDED_DEFAULTS, **json.loads((init / "metrics.json").read_text())}
    for key in CONTINUED_KEYS:
        if earlier.get(key) != settings[key]:
            raise ValueError(f"the run '{init}' was trained with {key} = {earlier.get(key)!r}, not {settings[key]!r}: "
                             "a run continued from it must keep its corpora, split, network and input")
    weights = keras.saving.load_model(init / "rhemo.keras", compile=False).get_weights()
    earlier = {key: value for key, value in earlier.items() if not key.endswith("_emotion_head")}
    return weights, {"run_dir": str(init), **earlier}


def rhemo_items(corpora, max_items=0, seed=0):
    """The files of `corpora` an RH-emo run uses: all, or `max_items` per corpus drawn with `seed`."""
    items = []
    for name in corpora:
        corpus = load_corpus(name)
        if max_items and max_items < len(corpus):
            rng = np.random.default_rng(seed)
            corpus = [corpus[i] for i in np.sort(rng.choice(len(corpus), max_items, replace=False))]
        items += corpus
    return items


def _scaled(features, scaling, rows=256):
    """`scaling` (a model) applied to a FeatureSet's spectrograms, `rows` at a time, as numpy."""
    array = features.array()
    return np.concatenate([keras.ops.convert_to_numpy(scaling(array[start : start + rows]))
                           for start in range(0, max(len(array), 1), rows)])


def train_rhemo(corpora, run_dir, variant="full", seed=0, stage1=STAGE1, stage2=STAGE2, max_items=0,
                fractions=(0.7, 0.2, 0.1), head_units=4096, cache_dir=None, progress=True, compression="linear",
                normalization="max", init=None):
    """Fit RH-emo (both stages) on the training speakers of `corpora` and save it in `run_dir`.

    RH-emo's input must lie in [0, 1] (sigmoid decoder, binary cross-entropy). The thesis divides the
    linear STFT magnitudes by the training set's maximum (`compression` "linear", `normalization` "max",
    the defaults). Our adaptation: `compression` "log" is the front end's log(magnitude + floor), the
    floor `STFTSettings.log_floor`; `normalization` "utterance" z-scores each segment per frequency bin
    over its time axis (`keras_ser.audio.UtteranceNormalizer`) and maps the result into (0, 1) by the
    logistic function. "log" needs "utterance".

    Writes rhemo.keras (the whole model, on that input), encoder.keras (linear magnitude spectrogram →
    that compression and scaling → encoder → (64, 64, 4) embedding, ready for `data.features = "rhemo"`),
    split.json (the speakers of each part), history.json and metrics.json (the two options, the training
    maximum and validation/test emotion-head metrics on the 4-class subset). Stage 1 uses every training
    segment, stage 2 the 4-class ones.

    `init`, the run directory of an earlier `train_rhemo` with the same corpora, max_items, fractions, seed, variant,
    head units and input, starts from its weights (e.g. its stage 2 again at another learning rate, with
    `stage1=None`); metrics.json then records that run's settings under "init", and a wall time that
    includes its own.
    """
    check_front_end(compression, normalization)
    settings = {"corpora": list(corpora), "max_items": max_items, "variant": variant, "seed": seed,
                "head_units": head_units, "fractions": list(fractions), "compression": compression,
                "normalization": normalization}
    initial, earlier = _initial_weights(init, settings) if init else (None, None)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    keras.utils.set_random_seed(seed)
    items = rhemo_items(corpora, max_items, seed)
    parts = dict(zip(("train", "val", "test"), split_per_corpus(items, seed=seed, fractions=fractions)))
    front_end = FrontEnd()
    features = cached_features(items, "+".join(corpora), front_end, cache_dir=cache_dir, progress=progress)
    subsets = {part: features.subset(chosen) for part, chosen in parts.items()}
    normalizer = NORMALIZERS[normalization](name=f"{normalization}_scaling").adapt(subsets["train"].array())
    inputs = keras.Input(features.features.shape[1:], name="spectrogram")
    magnitudes = inputs
    if compression == "log":
        magnitudes = LogCompression(front_end.stft.log_floor, name="log_compression")(inputs)
    scaling = keras.Model(inputs, rhemo_input(magnitudes, normalizer), name="rhemo_scaling")
    x = {part: _scaled(subset, scaling) for part, subset in subsets.items()}

    labelled = {}
    for part, subset in subsets.items():
        segments = subset.segment_items()
        kept, emotions = select_classes(segments, FOUR_CLASS)
        kept_ids = {id(item) for item in kept}
        rows = [i for i, item in enumerate(segments) if id(item) in kept_ids]  # same order as `kept`
        vad = np.array([binary_vad(item) for item in kept], dtype=np.float32).reshape(-1, 3)
        labelled[part] = (x[part][rows], emotions, vad)

    model = rhemo(variant=variant, num_classes=len(FOUR_CLASS), head_units=head_units)
    if initial is not None:
        model.set_weights(initial)
    histories = fit_rhemo(
        model, x["train"], x["val"], labelled=labelled["train"], validation_labelled=labelled["val"],
        stage1=stage1, stage2=stage2, verbose="auto" if progress else 0,
    )
    model.save(run_dir / "rhemo.keras")
    encoder = keras.Model(inputs, model.get_layer("encoder")(scaling.output), name="rhemo_encoder")
    encoder.save(run_dir / ENCODER_FILE)

    metrics = {**settings,
               "stage1": dataclasses.asdict(stage1) if stage1 else None,
               "stage2": dataclasses.asdict(stage2) if stage2 else None,
               "training_maximum": normalizer.statistics.get("maximum"),
               "epochs_trained": {stage: len(history.history["loss"]) if history is not None else 0
                                  for stage, history in histories.items()}}
    if earlier is not None:
        metrics["init"] = earlier
    if "emotion" in model.output:
        for part in ("val", "test"):
            spectrograms, emotions, _ = labelled[part]
            if len(emotions):
                predicted = model.predict(spectrograms, verbose=0)["emotion"]
                metrics[f"{part}_emotion_head"] = classification_metrics(emotions, predicted, list(FOUR_CLASS))
    metrics["wall_time_s"] = round(time.time() - started + (earlier or {}).get("wall_time_s", 0), 1)
    (run_dir / "split.json").write_text(json.dumps(
        {part: sorted({f"{item.corpus}:{item.speaker}" for item in chosen}) for part, chosen in parts.items()},
        indent=1))
    (run_dir / "history.json").write_text(json.dumps(
        {stage: (history.history if history is not None else None) for stage, history in histories.items()},
        indent=1, default=float))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
