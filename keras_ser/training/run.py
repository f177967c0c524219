"""Running one training configuration end to end into a run directory."""

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import time
import tomllib
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None

import keras
import numpy as np

from keras_ser import models
from keras_ser.training.baseline import train_baseline
from keras_ser.training.averaging import averaged_weights, averaging_optimizer, epochs_momentum
from keras_ser.training.callbacks import ResumableEarlyStopping, ResumableReduceLROnPlateau, TimeLimit, ValidationUAR
from keras_ser.training.config import BASELINE_BUILDER, ConfigError, RunConfig, config_from_dict, dump_toml, read_toml
from keras_ser.training.data import prepare_data
from keras_ser.training.evaluation import evaluate_part
from keras_ser.training.loader import epoch_draws
from keras_ser.training.losses import accuracy, crossentropy
from keras_ser.training.plots import plot_confusion_matrix, plot_history
from keras_ser.training.strategies import MODEL_FILE, load_orthogonal, orthogonal_source, wrap_for_strategy

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.json"
CHECKPOINTS = "checkpoints"
HISTORY_CSV = "history.csv"
LOCK_FILE = ".lock"
FIRST_STAGE_DIR = "stage1"  # a dual anti-transfer run's first stage, inside its run directory
RESTART_HINT = "pass restart=True (--restart) to discard it and train this configuration, or use another run directory"


class ChangedConfigError(ValueError):
    """A run directory holds (part of) a run of another configuration."""


def check_run_dir(config, run_dir, hint=RESTART_HINT, what="a run"):
    """Raise ChangedConfigError, naming the keys that differ, if `run_dir` holds a config.toml other than `config`
    (`what`: what the folder holds, in the message).

    Parsed values are compared, so the file's formatting does not matter.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return
    try:
        changes = config_changes(read_toml(path), config)
    except ValueError as error:
        raise ChangedConfigError(f"'{run_dir}' holds a config.toml that cannot be read ({error}); {hint}") from None
    if changes:
        raise ChangedConfigError(f"'{run_dir}' holds {what} of another configuration ({'; '.join(changes)}); {hint}")


def first_stage(config):
    """The anti-transfer run that the dual anti-transfer run `config` trains first (against its first network)."""
    return _anti_transfer(config, config.strategy.orthogonal[:1])


def _anti_transfer(config, orthogonal):
    return dataclasses.replace(config, strategy=dataclasses.replace(config.strategy, kind="anti_transfer",
                                                                    orthogonal=orthogonal))


def config_changes(stored, config):
    """'key: stored -> new' for each key where the configuration table `stored` differs from `config`.

    Both are completed with the defaults, so keys added since `stored` was written count as unchanged.
    """
    stored = flat_config(config_from_dict(stored).to_dict())
    new = flat_config(config_from_dict(tomllib.loads(dump_toml(config))).to_dict())
    unset = object()
    return [f"{key}: {_shown(stored, key)} -> {_shown(new, key)}" for key in dict.fromkeys([*stored, *new])
            if stored.get(key, unset) != new.get(key, unset)]


def flat_config(table, prefix=""):
    """Nested dicts as one dict of dotted keys."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _shown(flat, key):
    return repr(flat[key]) if key in flat else "(unset)"


def _check_inputs(config):
    """Raise ConfigError unless the model files the run reads (orthogonal models, RH-emo encoder) exist."""
    for path in config.strategy.orthogonal:
        orthogonal_source(path)
    if config.data.features == "rhemo" and not Path(config.data.rhemo_model).is_file():
        raise ConfigError("data.rhemo_model", f"no file at '{config.data.rhemo_model}': give the encoder.keras "
                                              "written by `keras-ser rhemo`")


def build_network(config, input_shape, num_classes):
    """The task network of `config.model` for features of `input_shape`."""
    m = config.model
    options = {"variant": m.variant, "num_classes": num_classes, "input_shape": input_shape, **m.options}
    try:
        return getattr(models, m.builder)(**options)
    except (TypeError, ValueError) as error:
        raise ConfigError("model.options" if m.options else "model.variant", str(error)) from None


def make_optimizer(o, steps_per_epoch=None):
    """The optimizer of `o`; `steps_per_epoch` sizes an average over epochs (`o.ema_epochs`)."""
    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
               "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    kwargs = {"learning_rate": o.learning_rate}
    if o.weight_decay:
        kwargs["weight_decay"] = o.weight_decay
    if o.ema_momentum:
        return averaging_optimizer(classes[o.name], o.ema_momentum, **kwargs)
    if o.ema_epochs:
        if steps_per_epoch is None:
            raise ValueError("optimizer.ema_epochs needs the number of steps an epoch: pass steps_per_epoch")
        return averaging_optimizer(classes[o.name], epochs_momentum(o.ema_epochs, steps_per_epoch), warm_up="mean",
                                   **kwargs)
    return classes[o.name](**kwargs)


def compile_for_training(model, optimizer_config, soft_labels=False, steps_per_epoch=None):
    """Compile with cross-entropy, accuracy and `classification_loss`.

    `classification_loss` is the cross-entropy alone, without L2 penalties or the AT term:
    `training.monitor = "val_classification_loss"` stops on it, as the thesis's PyTorch runs did.
    `soft_labels`: training labels may be soft (mixup) while validation labels stay integers.
    """
    if soft_labels:
        loss, metrics = crossentropy, [keras.metrics.MeanMetricWrapper(accuracy, name="accuracy"),
                                       keras.metrics.MeanMetricWrapper(crossentropy, name="classification_loss")]
    else:
        loss, metrics = "sparse_categorical_crossentropy", [
            "accuracy", keras.metrics.SparseCategoricalCrossentropy(name="classification_loss")]
    model.compile(optimizer=make_optimizer(optimizer_config, steps_per_epoch), loss=loss, metrics=metrics)


@contextlib.contextmanager
def _distribution_scope(kind, batch_size):
    """Data-parallel training over all local devices through Keras's own distribution support."""
    if kind == "none":
        yield
        return
    backend = keras.backend.backend()
    devices = len(keras.distribution.list_devices())
    if batch_size % devices:
        raise ConfigError(
            "training.batch_size", f"data-parallel training on {devices} devices needs a multiple of {devices}"
        )
    if backend == "jax":
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        try:
            yield
        finally:
            keras.distribution.set_distribution(previous)
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.distribute.MirroredStrategy().scope():
            yield
    else:
        raise ConfigError("training.distribution", f"'data_parallel' needs the jax or tensorflow backend, not {backend}")


def _history(run_dir):
    path = run_dir / HISTORY_CSV
    if not path.exists():
        return {}
    with path.open() as handle:
        rows = list({row["epoch"]: row for row in csv.DictReader(handle)}.values())  # a resumed epoch: its last row
    return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"} if rows else {}


@contextlib.contextmanager
def _exclusive(run_dir):
    """Hold `run_dir`'s lock file: a second process training the same directory fails at once."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "a+") as lock:
        if fcntl is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                raise RuntimeError(
                    f"'{run_dir}' is being trained by another process (pid {lock.read().strip() or '?'}); "
                    "wait for it to finish, or give this run another directory") from None
            lock.seek(0)
            lock.truncate()
            lock.write(str(os.getpid()))
            lock.flush()
        yield


def train(config: RunConfig, run_dir, callbacks=(), cache_dir=None, progress=True, restart=False):
    """Train `config` into `run_dir` and return its test/validation metrics.

    The directory receives config.toml (once training starts), history.csv/json, checkpoints while it
    trains (an interrupted run continues from its last finished epoch when
    started again; they are deleted once the run is finished), model.keras
    (normaliser + network, for inference; `load_orthogonal(run_dir)` gives the
    bare network), metrics.json and PNG plots. A finished run is not trained again unless
    `restart=True`; without it, a directory whose config.toml differs from `config` is refused
    (ChangedConfigError) before anything is computed. One process at a time trains a directory
    (another one gets an error).
    """
    config.validate()
    run_dir = Path(run_dir)
    with _exclusive(run_dir):
        return _train(config, run_dir, callbacks, cache_dir, progress, restart)


def _train(config, run_dir, callbacks, cache_dir, progress, restart):
    if restart:
        for entry in run_dir.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry.name != LOCK_FILE:
                entry.unlink()
    check_run_dir(config, run_dir)
    if (run_dir / METRICS_FILE).exists():
        if progress:
            print(f"{run_dir} is already finished; pass restart=True (--restart) to train it again")
        return json.loads((run_dir / METRICS_FILE).read_text())
    if config.model.builder == BASELINE_BUILDER:
        metrics = train_baseline(config, run_dir, cache_dir=cache_dir, progress=progress)
        (run_dir / CONFIG_FILE).write_text(dump_toml(config))
        (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
        return metrics
    _check_inputs(config)
    config_text = dump_toml(config)  # a dual run's, before `config` becomes its stage 2
    keras.utils.set_random_seed(config.seed)

    init_from, earlier_s = None, 0.0  # earlier_s: stage 1's wall time, also when an earlier attempt ran it
    if config.strategy.kind == "dual_anti_transfer":
        init_from = run_dir / FIRST_STAGE_DIR
        earlier_s = train(first_stage(config), init_from, cache_dir=cache_dir, progress=progress)["wall_time_s"]
        config = _anti_transfer(config, config.strategy.orthogonal[1:])
    started = time.time()

    data = prepare_data(config.data, seed=config.seed, cache_dir=cache_dir, progress=progress, training=config.training)
    t = config.training
    with _distribution_scope(t.distribution, t.batch_size):
        network = build_network(config, data.input_shape, len(data.class_names))
        if init_from is not None:
            network.set_weights(load_orthogonal(init_from).get_weights())  # stage 2 starts from stage 1
        pretrained = (load_orthogonal(config.strategy.orthogonal[0], member=config.seed)
                      if config.strategy.orthogonal else None)
        trainee = wrap_for_strategy(network, config.strategy, pretrained)
        # Data-parallel replicas each need a non-empty share of every batch.
        parallel = t.distribution != "none"
        train_data = data.train_dataset(t.batch_size, seed=config.seed, drop_remainder=parallel)
        compile_for_training(trainee, config.optimizer, soft_labels=data.soft_labels, steps_per_epoch=len(train_data))
    if not (run_dir / CONFIG_FILE).exists():  # once the data and the model are known to work
        (run_dir / CONFIG_FILE).write_text(config_text)
    stopper = ResumableEarlyStopping(run_dir / CHECKPOINTS, monitor=t.monitor, patience=t.patience)
    validation = data.arrays("val")
    if parallel:  # uneven shares of a batch break MirroredStrategy: keep a multiple of the device count
        usable = len(validation[1]) - len(validation[1]) % len(keras.distribution.list_devices())
        validation = (validation[0][:usable], validation[1][:usable])
    trainee.fit(
        train_data,
        validation_data=validation,
        shuffle=False,  # the dataset shuffles itself, seeded; Keras would reorder its batches again, unseeded
        epochs=t.epochs,
        verbose="auto" if progress else 0,
        callbacks=[
            *averaged_weights(config.optimizer),  # first: every later callback sees the averaged weights
            *epoch_draws(train_data),
            ValidationUAR(data, t.batch_size),  # first after it: later callbacks see `val_uar` in the logs
            # Before the backup, so a reduced learning rate is in it, and before the log, which records it.
            *([ResumableReduceLROnPlateau(run_dir / CHECKPOINTS, monitor=t.monitor, factor=t.reduce_lr_factor,
                                          patience=t.reduce_lr_patience)] if t.reduce_lr_patience else []),
            # Two backups: a run killed while writing one resumes from the other.
            keras.callbacks.BackupAndRestore(str(run_dir / CHECKPOINTS / "backup"), double_checkpoint=True),
            keras.callbacks.CSVLogger(str(run_dir / HISTORY_CSV), append=True),
            stopper,
            *([TimeLimit(60 * t.minutes)] if t.minutes else []),
            *callbacks,
        ],
    )
    stopper.restore_best()

    inputs = keras.Input(data.input_shape, name="features")
    features = data.normalizer(inputs) if data.normalizer is not None else inputs
    keras.Model(inputs, network(features), name=f"{config.name}_inference").save(run_dir / MODEL_FILE)

    history = _history(run_dir)
    (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    metrics = {
        "test": evaluate_part(network, data, "test", t.batch_size),
        "val": evaluate_part(network, data, "val", t.batch_size),
        "best_epoch": stopper.state["best_epoch"],
        "epochs_run": len(next(iter(history.values()), [])),
        # This attempt's, plus earlier attempts' training up to their last finished epoch.
        "wall_time_s": round(earlier_s + stopper.elapsed_before + time.time() - started, 1),
        "backend": keras.backend.backend(),
    }
    plot_confusion_matrix(
        np.array(metrics["test"]["confusion_matrix"]), data.class_names, run_dir / "confusion_matrix.png",
        title=f"{config.name}: test (accuracy {metrics['test']['accuracy']:.3f}, UAR {metrics['test']['uar']:.3f})",
    )
    plot_history(history, run_dir / "history", kept_epoch=metrics["best_epoch"])
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)  # three copies of the weights, not needed any more
    return metrics
