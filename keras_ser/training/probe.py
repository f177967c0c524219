"""A linear speaker probe: how well a trained network's penultimate features tell speakers apart.

For a finished run, the clips of one training corpus's validation speakers (speakers the run
never trained on) go through the run's model; each clip's penultimate features (the input of
the network's last layer, averaged over the clip's windows) feed a logistic regression fit on
a share of every speaker's clips and scored on the rest. Anti-transfer against a speaker
network should make these features worse at telling speakers apart.

Needs scikit-learn (the `[baselines]` extra).
"""

import json
from pathlib import Path

import keras
import numpy as np

from keras_ser.datasets import FrontEnd, cached_features
from keras_ser.datasets.load import CORPORA
from keras_ser.training.config import ConfigError, load_config
from keras_ser.training.data import split_items
from keras_ser.training.metrics import aggregate_windows
from keras_ser.training.strategies import MODEL_FILE, network_of

PROBE_FILE = "probe.json"
PROBE_KEYS = ("corpora", "fit_share", "seed")
INSTALL_HINT = 'the speaker probe needs scikit-learn, in the baselines extra: pip install "keras-ser[baselines]"'


def check_probe(table):
    """Raise ConfigError naming the `[probe]` key that cannot be used; returns the table with defaults."""
    if not isinstance(table, dict):
        raise ConfigError("probe", "must be a table: corpora = [...], and optionally fit_share and seed")
    for key in table:
        if key not in PROBE_KEYS:
            raise ConfigError(f"probe.{key}", f"unknown key; known: {', '.join(PROBE_KEYS)}")
    corpora = table.get("corpora")
    if not isinstance(corpora, list) or not corpora or not all(c in CORPORA for c in corpora):
        raise ConfigError("probe.corpora", f"give the corpora to probe, in order of preference, from "
                                           f"{', '.join(CORPORA)}; got {corpora!r}")
    fit_share = table.get("fit_share", 0.5)
    if isinstance(fit_share, bool) or not isinstance(fit_share, (int, float)) or not 0 < fit_share < 1:
        raise ConfigError("probe.fit_share", f"must be between 0 and 1, exclusive, got {fit_share!r}")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("probe.seed", f"must be an integer >= 0, got {seed!r}")
    return {"corpora": corpora, "fit_share": float(fit_share), "seed": seed}


def penultimate_features(model, x, batch_size=64):
    """The input of the network's last layer for inputs `x` (raw features: a run's normaliser is applied)."""
    network = network_of(model)
    inputs = keras.Input(tuple(model.inputs[0].shape[1:]))
    features = inputs
    for layer in model.layers[1:-1] if network is not model else []:  # a run's normaliser, between input and network
        features = layer(features)
    embed = keras.Model(network.inputs, network.layers[-1].input)
    penultimate = keras.Model(inputs, embed(features), name="penultimate")
    return np.asarray(penultimate.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0),
                      np.float64).reshape(len(x), -1)


def _fit_and_score(features, speakers, fit_share, seed):
    """Accuracy of a logistic regression fit on `fit_share` of each speaker's clips, scored on the rest."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from None
    rng = np.random.default_rng(seed)
    fit, score = [], []
    for speaker in sorted(set(speakers)):
        clips = rng.permutation(np.flatnonzero(speakers == speaker))
        cut = min(max(1, int(round(fit_share * len(clips)))), len(clips) - 1)
        fit += clips[:cut].tolist()
        score += clips[cut:].tolist()
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    classifier.fit(features[fit], speakers[fit])
    return float(np.mean(classifier.predict(features[score]) == speakers[score])), len(fit), len(score)


def speaker_probe(run_dir, corpora, fit_share=0.5, seed=0, cache_dir=None, progress=False):
    """Probe a finished run: {"corpus", "speakers", "fit_clips", "scored_clips", "accuracy", "chance"}.

    The corpus is the first of `corpora` that the run trains on (not its held-out test
    corpus); its validation speakers with two or more clips are probed. `chance` is
    1 / speakers.
    """
    run_dir = Path(run_dir)
    if not (run_dir / MODEL_FILE).is_file():
        raise FileNotFoundError(f"no {MODEL_FILE} in '{run_dir}': the probe needs a finished run whose model was kept")
    config = load_config(run_dir / "config.toml")
    data = config.data
    if data.features != "spectrogram":
        raise ConfigError("probe", f"run '{config.name}' takes data.features = {data.features!r}; "
                                   "the probe computes spectrograms only")
    chosen = split_items(data, config.seed)
    trained_on = {item.corpus for item in chosen.parts["train"]}
    corpus = next((c for c in corpora if c in trained_on), None)
    if corpus is None:
        raise ConfigError("probe.corpora", f"run '{config.name}' trains on none of {corpora} (it trains on "
                                           f"{sorted(trained_on)}); add one of those")
    items = [item for item in chosen.parts["val"] if item.corpus == corpus]
    counts = {}
    for item in items:
        counts[item.speaker] = counts.get(item.speaker, 0) + 1
    items = [item for item in items if counts[item.speaker] >= 2]
    speakers = sorted({item.speaker for item in items})
    if len(speakers) < 2:
        raise ConfigError("probe.corpora", f"run '{config.name}': {corpus} has {len(speakers)} validation speaker(s) "
                                           "with 2 or more clips, and the probe needs 2; list a corpus with more "
                                           "speakers first, or give validation a larger share (data.fractions)")
    front_end = FrontEnd(segment_seconds=data.segment_seconds, stft=data.stft())
    features = cached_features(chosen.all_items, "+".join(data.corpora), front_end, cache_dir=cache_dir,
                               progress=progress).subset(items)
    model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
    windows = penultimate_features(model, features.features[features.rows])
    del model
    keras.backend.clear_session()  # an experiment probes hundreds of runs in one process
    clips, pooled = aggregate_windows(windows, features.item_index[features.rows], method="mean")
    labels = np.array([features.items[clip].speaker for clip in clips])
    accuracy, fitted, scored = _fit_and_score(pooled, labels, fit_share, seed)
    return {"corpus": corpus, "speakers": len(speakers), "fit_clips": fitted, "scored_clips": scored,
            "accuracy": accuracy, "chance": 1 / len(speakers)}


def probe_run(run_dir, probe, cache_dir=None, progress=False):
    """The run's probe result for `probe` (a checked `[probe]` table), from its probe.json or computed and written there.

    None when it has not been computed with these settings and the run's model is gone (--discard-models).
    """
    path = Path(run_dir) / PROBE_FILE
    stored = json.loads(path.read_text()) if path.exists() else None
    if stored is not None and stored.get("settings") == probe:
        return stored
    if not (Path(run_dir) / MODEL_FILE).is_file():
        return None
    result = {**speaker_probe(run_dir, probe["corpora"], probe["fit_share"], probe["seed"], cache_dir, progress),
              "settings": probe}
    path.write_text(json.dumps(result, indent=1))
    return result
