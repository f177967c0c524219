"""The training configuration: one TOML file mirrored by dataclasses, validated key by key."""

import dataclasses
import inspect
import math
import tomllib
from pathlib import Path

from keras_ser import models
from keras_ser.audio.spectrogram import STFTSettings, STFTSettingsError
from keras_ser.baselines.linear import LinearBaseline
from keras_ser.datasets.load import CORPORA
from keras_ser.layers.anti_transfer_loss import AGGREGATIONS, SIMILARITIES
from keras_ser.training.augmentation import Augmentation, AugmentationError
from keras_ser.training.averaging import is_momentum
from keras_ser.training.sampling import BALANCES, BATCHES

SPLITS = ("speaker", "random", "fold", "held_out", "per_corpus", "leave_corpus_out")
TASKS = ("emotion", "speaker", "text")
FEATURES = ("spectrogram", "rhemo")
NORMALIZATIONS = ("auto", "zscore", "max", "utterance", "utterance_global", "none")
CROPS = ("fixed", "random")  # training examples: the fixed windows, or a random crop of each utterance per epoch
STRATEGIES = ("baseline", "weight_init", "weight_init_frozen", "anti_transfer", "dual_anti_transfer")
AT_STRATEGIES = ("anti_transfer", "dual_anti_transfer")  # trained with an AT term
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
DISTRIBUTIONS = ("none", "data_parallel")
# What early stopping can monitor: the epoch logs of every run, and the AT term's of an anti-transfer run.
MONITORS = ("val_loss", "val_classification_loss", "val_accuracy", "val_uar", "val_corpus_uar", "loss",
            "classification_loss", "accuracy")
AT_MONITORS = ("at_loss",)
BUILDER_ARGUMENTS = ("variant", "num_classes", "input_shape")  # set by the run, not by model.options
BASELINE_BUILDER = "egemaps"  # model.builder of the eGeMAPS + linear reference (keras_ser.baselines)


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names its key."""

    def __init__(self, key, message):
        self.key = key
        self.message = message
        super().__init__(f"config key '{key}': {message}")


@dataclasses.dataclass
class DataConfig:
    """Which audio, labels and split a run uses."""

    corpora: list = dataclasses.field(default_factory=lambda: ["emodb"])
    root: str = ""
    manifest: str = ""  # corpus "csv": the CSV file listing its recordings (columns path, label, speaker)
    task: str = "emotion"
    classes: list = dataclasses.field(default_factory=lambda: ["neutral", "angry", "happy", "sad"])
    split: str = "speaker"
    fractions: list = dataclasses.field(default_factory=lambda: [0.7, 0.2, 0.1])
    split_seed: int = -1  # seeds the split (and data.max_items); -1 follows the run's seed
    fold: int = 0
    folds: int = 4
    test_speaker: str = ""
    test_corpus: str = ""  # split "leave_corpus_out": the corpus tested on, one of `corpora`
    segment_seconds: float = 4.0
    # The STFT (samples at 16 kHz, output size); METHODS.md §1's by default. Ch. 4: 320, 160.
    frame_length: int = STFTSettings.frame_length
    hop_length: int = STFTSettings.hop_length
    time_steps: int = STFTSettings.time_steps
    frequency_bins: int = STFTSettings.frequency_bins
    # > 0: that many mel bands instead of frequency_bins; "log": log(magnitude + floor), see STFTSettings.
    mel_bins: int = 0
    compression: str = "none"
    features: str = "spectrogram"
    rhemo_model: str = ""
    normalization: str = "auto"  # "utterance": each window's own mean and std per frequency bin, over time;
    # "utterance_global": one mean and std over all its bins (keeps the spectrum's shape)
    max_items: int = 0
    crops: str = "fixed"  # "random": training takes one random crop (or shift) of each utterance per epoch

    def stft(self):
        return STFTSettings(self.frame_length, self.hop_length, self.time_steps, self.frequency_bins, self.mel_bins,
                            self.compression)


@dataclasses.dataclass
class ModelConfig:
    """The network: a builder of `keras_ser.models` and its variant, or "egemaps" for the reference baseline.

    The baseline's `options` are `keras_ser.baselines.LinearBaseline`'s (classifier, standardization,
    c_grid, cv_folds); it ignores the variant, the strategy, the optimiser and the training section.
    """

    builder: str = "alexnet"
    variant: str = "real"
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class StrategyConfig:
    """How orthogonal-task knowledge is used (Fig. 5.2)."""

    kind: str = "baseline"
    orthogonal: list = dataclasses.field(default_factory=list)
    at_layers: list = dataclasses.field(default_factory=lambda: [1])
    beta: float = 1.0
    aggregation: str = "gram"
    similarity: str = "cos_squared"


@dataclasses.dataclass
class OptimizerConfig:
    name: str = "adam"
    learning_rate: float = 5e-4
    weight_decay: float = 0.0
    ema_momentum: float = 0.0  # > 0: validate, keep and save the weights' moving average (per step, warmed up)
    ema_epochs: float = 0.0  # > 0: the same, with the average spanning about this many epochs (mean at first)


@dataclasses.dataclass
class TrainingConfig:
    batch_size: int = 13
    epochs: int = 50
    patience: int = 5
    monitor: str = "val_loss"
    reduce_lr_patience: int = 0  # > 0: multiply the learning rate by reduce_lr_factor after that many epochs
    reduce_lr_factor: float = 0.1  # without improvement of `monitor`
    minutes: float = 0.0  # > 0: a wall-clock budget; training ends before an epoch would overrun it
    distribution: str = "none"
    augment: dict = dataclasses.field(default_factory=dict)  # keras_ser.training.augmentation; absent keys: off
    balance: str = "none"  # "class", "corpus_class(_sqrt)": see training/sampling.py
    balance_from_epoch: int = 0  # > 0: the epochs before this one (counted from 0) shuffle instead of balancing
    batches: str = "mixed"  # "per_corpus": no batch mixes corpora (training/sampling.py)


@dataclasses.dataclass
class RunConfig:
    """Everything a run needs; `keras-ser train CONFIG` reads it from TOML."""

    name: str = "run"
    seed: int = 0
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)

    def to_dict(self):
        return dataclasses.asdict(self)

    def validate(self):
        """Raise ConfigError naming the first bad key; return self."""
        d, m, s, o, t = self.data, self.model, self.strategy, self.optimizer, self.training
        _choice("data.task", d.task, TASKS)
        _choice("data.split", d.split, SPLITS)
        _choice("data.features", d.features, FEATURES)
        _choice("model.builder", m.builder, (*models.NETWORK_BUILDERS, BASELINE_BUILDER))
        _choice("model.variant", m.variant, models.VARIANTS)
        _choice("data.normalization", d.normalization, NORMALIZATIONS)
        _choice("strategy.kind", s.kind, STRATEGIES)
        _choice("strategy.aggregation", s.aggregation, AGGREGATIONS)
        _choice("strategy.similarity", s.similarity, SIMILARITIES)
        _choice("optimizer.name", o.name, OPTIMIZERS)
        _choice("training.distribution", t.distribution, DISTRIBUTIONS)
        _choice("data.crops", d.crops, CROPS)
        _choice("training.balance", t.balance, BALANCES)
        _choice("training.batches", t.batches, BATCHES)
        _choice("training.monitor", t.monitor, MONITORS + AT_MONITORS if s.kind in AT_STRATEGIES else MONITORS)
        if not d.corpora or not all(isinstance(c, str) and c for c in d.corpora):
            raise ConfigError("data.corpora", f"give one or more corpus names, got {d.corpora!r}")
        for corpus in d.corpora:
            _choice("data.corpora", corpus, CORPORA)
        if "folder" in d.corpora:
            raise ConfigError("data.corpora", "the folder corpus needs to be told where each file's speaker is, which a "
                                              "run configuration cannot: list the files in a CSV (columns path, label, "
                                              "speaker) and give corpus \"csv\" with data.manifest = its path")
        if ("csv" in d.corpora) != bool(d.manifest):
            raise ConfigError("data.manifest", "corpus \"csv\" reads the CSV file data.manifest names (columns path, "
                                               "label, speaker): give both or neither")
        distinct = len(d.classes) >= 2 and len(set(d.classes)) == len(d.classes)
        if d.task == "emotion" and d.classes != ["all"] and not distinct:
            raise ConfigError("data.classes", f"give two or more distinct class names, or \"all\", got {d.classes!r}")
        if d.task == "speaker" and d.split != "random":
            raise ConfigError("data.split", "speaker recognition needs the same speakers in every part: use 'random'")
        if not (isinstance(d.fractions, list) and len(d.fractions) == 3
                and all(isinstance(f, (int, float)) and f >= 0 for f in d.fractions)
                and d.fractions[0] > 0 and math.isclose(sum(d.fractions), 1.0)):
            raise ConfigError("data.fractions", f"give [train, val, test] shares >= 0 summing to 1, got {d.fractions!r}")
        if d.split_seed < -1:
            raise ConfigError("data.split_seed", f"must be -1 (follow the run's seed) or a seed >= 0, got {d.split_seed}")
        if d.split == "fold" and not 0 <= d.fold < d.folds:
            raise ConfigError("data.fold", f"must be in [0, data.folds={d.folds}), got {d.fold}")
        if d.split == "held_out" and not d.test_speaker:
            raise ConfigError("data.test_speaker", "split 'held_out' needs the speaker to test on (TESS: OAF or YAF)")
        if d.split == "leave_corpus_out" and d.test_corpus not in d.corpora:
            raise ConfigError("data.test_corpus", f"split 'leave_corpus_out' tests on one of data.corpora {d.corpora}, "
                                                  f"got {d.test_corpus!r}")
        if d.split == "leave_corpus_out" and len(set(d.corpora)) < 2:
            raise ConfigError("data.test_corpus", f"split 'leave_corpus_out' trains on the corpora other than "
                                                  f"{d.test_corpus!r}: add at least one to data.corpora")
        if d.features == "rhemo" and not d.rhemo_model:
            raise ConfigError("data.rhemo_model", "features 'rhemo' need the path of a trained RH-emo model")
        for key, linear in (("mel_bins", 0), ("compression", "none")):
            if d.features == "rhemo" and getattr(d, key) != linear:
                raise ConfigError(f"data.{key}", f"RH-emo encoders take linear magnitude spectrograms: "
                                                 f"leave data.{key} at {linear!r} with features 'rhemo'")
        _positive("data.segment_seconds", d.segment_seconds)
        try:
            d.stft().check_segment(d.segment_seconds)
        except STFTSettingsError as error:
            raise ConfigError(f"data.{error.field}", str(error)) from None
        _positive("optimizer.learning_rate", o.learning_rate)
        if not is_momentum(o.ema_momentum):
            raise ConfigError("optimizer.ema_momentum", f"must be 0 (off) or a momentum in (0, 1) such as 0.99, "
                                                        f"got {o.ema_momentum!r}")
        if not _is_non_negative(o.ema_epochs):
            raise ConfigError("optimizer.ema_epochs", f"must be 0 (off) or a number of epochs such as 2, "
                                                      f"got {o.ema_epochs!r}")
        if o.ema_momentum and o.ema_epochs:
            raise ConfigError("optimizer.ema_epochs", "give the average's span either per step "
                                                      "(optimizer.ema_momentum) or in epochs, not both")
        _positive("training.batch_size", t.batch_size, integer=True)
        _positive("training.epochs", t.epochs, integer=True)
        _positive("training.patience", t.patience, integer=True)
        if not (isinstance(t.reduce_lr_patience, int) and t.reduce_lr_patience >= 0):
            raise ConfigError("training.reduce_lr_patience", f"must be 0 (off) or more, got {t.reduce_lr_patience!r}")
        if isinstance(t.balance_from_epoch, bool) or not isinstance(t.balance_from_epoch, int) \
                or t.balance_from_epoch < 0:
            raise ConfigError("training.balance_from_epoch",
                              f"must be a whole number of epochs >= 0 (0: balanced from the first), got "
                              f"{t.balance_from_epoch!r}")
        if t.balance_from_epoch and t.balance == "none":
            raise ConfigError("training.balance_from_epoch", "says when balanced draws start, but training.balance is "
                                                             "\"none\": set training.balance too, or leave this at 0")
        if not 0 < t.reduce_lr_factor < 1:
            raise ConfigError("training.reduce_lr_factor", f"must be between 0 and 1, exclusive, got {t.reduce_lr_factor!r}")
        if not _is_non_negative(t.minutes):
            raise ConfigError("training.minutes", f"must be 0 (no limit) or a positive number of minutes, "
                                                  f"got {t.minutes!r}")
        if not isinstance(m.options, dict):
            raise ConfigError("model.options", f"must be a table of builder arguments, got {m.options!r}")
        _check_options(m.builder, m.options)
        _check_augmentation(d, t)
        if m.builder == BASELINE_BUILDER:
            _check_baseline(self)
        if m.variant == "quaternion" and d.features != "rhemo":
            raise ConfigError("model.variant", "quaternion networks need 4-channel input: RH-emo embeddings "
                                               "(data.features = \"rhemo\"), not 1-channel spectrograms")
        needed = {"weight_init": 1, "weight_init_frozen": 1, "anti_transfer": 1, "dual_anti_transfer": 2}
        if s.kind in needed and len(s.orthogonal) != needed[s.kind]:
            raise ConfigError(
                "strategy.orthogonal",
                f"strategy '{s.kind}' needs {needed[s.kind]} orthogonal model path(s), got {len(s.orthogonal)}",
            )
        if s.kind != "baseline" and (not s.at_layers or not all(isinstance(x, (int, str)) for x in s.at_layers)):
            raise ConfigError("strategy.at_layers", f"give conv layers by 1-based number or name, got {s.at_layers!r}")
        if not isinstance(s.beta, (int, float)) or not math.isfinite(s.beta):
            raise ConfigError("strategy.beta", f"must be a finite number, got {s.beta!r}")
        return self


def _choice(key, value, choices):
    if value not in choices:
        raise ConfigError(key, f"{value!r} is not one of {', '.join(choices)}")


def _check_augmentation(d, t):
    """Raise ConfigError for a crop or augmentation setting that the features cannot take."""
    try:
        augmentation = Augmentation.from_table(t.augment)
    except AugmentationError as error:
        raise ConfigError(f"training.augment.{error.key}", error.message) from None
    if d.features == "rhemo":
        if d.crops != "fixed":
            raise ConfigError("data.crops", "RH-emo embeddings are computed from the fixed windows: leave data.crops "
                                            "at \"fixed\" with features 'rhemo'")
        for key in ("gain_db", "noise_snr_db", "time_masks", "frequency_masks", "speed"):
            if key in t.augment:
                raise ConfigError(f"training.augment.{key}", "acts on spectrograms, not on RH-emo embeddings "
                                                             "(data.features = \"rhemo\"): leave it out")
    if augmentation.speed != (1.0,) and d.crops != "random":
        raise ConfigError("training.augment.speed", "speed perturbation changes how many fixed windows a clip has: "
                                                    "set data.crops = \"random\" (one crop per utterance and epoch)")
    for kind, size in (("time", d.time_steps), ("frequency", d.stft().bins)):
        width = getattr(augmentation, f"{kind}_mask_width")
        if width > size:
            raise ConfigError(f"training.augment.{kind}_mask_width",
                              f"{width} is wider than the features' {size} {kind} steps; give at most {size}")


def _check_baseline(config):
    """Raise ConfigError for a setting the eGeMAPS baseline cannot honour."""
    if config.data.features != "spectrogram":
        raise ConfigError("data.features", "the eGeMAPS baseline computes its own features from the audio; "
                                           "leave data.features at \"spectrogram\"")
    if config.model.variant != "real":
        raise ConfigError("model.variant", "the eGeMAPS baseline has no variants; leave model.variant at \"real\"")
    if config.strategy.kind != "baseline":
        raise ConfigError("strategy.kind", "the eGeMAPS baseline uses no orthogonal-task strategy; "
                                           "leave strategy.kind at \"baseline\"")
    if config.data.task != "emotion":
        raise ConfigError("data.task", "the eGeMAPS baseline classifies emotions only")
    try:
        LinearBaseline(**config.model.options)
    except ValueError as error:
        raise ConfigError("model.options", f"eGeMAPS baseline: {error}") from None


def _check_options(builder, options):
    """Raise ConfigError for an option that `models.<builder>` (or the baseline) does not take."""
    target = LinearBaseline if builder == BASELINE_BUILDER else getattr(models, builder)
    parameters = inspect.signature(target).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    known = [name for name in parameters if name not in BUILDER_ARGUMENTS]
    for key in options:
        if key in BUILDER_ARGUMENTS or not (takes_any or key in known):
            raise ConfigError("model.options", f"{builder}() takes no option {key!r}; its options: {', '.join(known)}")


def _is_non_negative(value):
    """Whether `value` is a number (not a bool) >= 0, as keys whose 0 means "off" take."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0


def _positive(key, value, integer=False):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        raise ConfigError(key, f"must be a positive {'integer' if integer else 'number'}, got {value!r}")


_SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "strategy": StrategyConfig,
    "optimizer": OptimizerConfig,
    "training": TrainingConfig,
}


def config_from_dict(raw):
    """A validated RunConfig from nested dicts, refusing unknown keys and wrong types."""
    if not isinstance(raw, dict):
        raise ConfigError("<root>", "the configuration must be a table")
    top = {}
    for key, value in raw.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(key, "must be a table ([section] in TOML)")
            top[key] = _section(key, _SECTIONS[key], value)
        elif key in ("name", "seed"):
            top[key] = value
        else:
            raise ConfigError(key, f"unknown key; known: name, seed, {', '.join(_SECTIONS)}")
    config = RunConfig(**top)
    _check_type("name", config.name, str)
    _check_type("seed", config.seed, int)
    return config.validate()


def _section(name, cls, values):
    defaults = cls()
    known = [f.name for f in dataclasses.fields(cls)]
    parsed = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}", f"unknown key; known: {', '.join(known)}")
        default = getattr(defaults, key)
        if isinstance(default, list) and not isinstance(value, list):
            value = [value]  # a single corpus, layer or path may be given without brackets
        _check_type(f"{name}.{key}", value, type(default))
        parsed[key] = value
    return cls(**parsed)


def _check_type(key, value, expected):
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
        raise ConfigError(key, f"must be of type {expected.__name__}, got {value!r}")


def read_toml(path, what="configuration"):
    """The top-level table of a TOML file, with clear errors for a missing file or invalid TOML."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} file at '{path}'")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("<file>", f"'{path}' is not valid TOML: {error}") from None


def load_config(path, overrides=()):
    """Read and validate a TOML run configuration, with `overrides` ("section.key=value" strings) applied."""
    return config_from_dict(with_overrides(read_toml(path), overrides))


def set_key(raw, dotted, value):
    """Set a dotted key ("training.epochs", "model.options.pooling") of a configuration's nested dicts."""
    *parents, leaf = dotted.split(".")
    node = raw
    for depth, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(".".join(parents[: depth + 1]), f"is {node!r}, not a table: '{dotted}' cannot be set")
    node[leaf] = value


def override_parts(override):
    """The dotted key and the value text of a "section.key=value" override; ConfigError when it is not one."""
    key, equals, text = override.partition("=")
    key = key.strip()
    if not equals or not key or any(not part for part in key.split(".")):
        raise ConfigError(override, "an override is KEY=VALUE, e.g. training.epochs=5 or "
                                    "model.options.pooling=audio_statistics")
    return key, text


def with_overrides(raw, overrides):
    """`raw` with each "section.key=value" of `overrides` set: the value read as a TOML value (5, 1e-3, true,
    ["emodb", "tess"], "text"), or as text when it is not one (corpus_class)."""
    for override in overrides:
        key, text = override_parts(override)
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        set_key(raw, key, value)
    return raw


def dump_toml(config):
    """The configuration as TOML text (round-trips through `config_from_dict`)."""
    data = config.to_dict()
    lines = [f"{key} = {_toml_value(data[key])}" for key in ("name", "seed")]
    for section in _SECTIONS:
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in data[section].items()]
    return "\n".join(lines) + "\n"


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")
