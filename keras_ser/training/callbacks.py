"""Training callbacks: early stopping and a plateau schedule that keep their state on disk (an interrupted run
resumes where it stopped), the clip-level validation UAR and a wall-clock limit."""

import json
import os
import time
from pathlib import Path

import keras
import numpy as np

from keras_ser.training.evaluation import evaluate_part
from keras_ser.training.metrics import mean_uar

VAL_UAR = "val_uar"
VAL_CORPUS_UAR = "val_corpus_uar"


def monitor_mode(monitor):
    """'min' for losses, 'max' for the rest (accuracy, UAR)."""
    return "min" if "loss" in monitor else "max"


class ResumableEarlyStopping(keras.callbacks.Callback):
    """Early stopping that keeps the best weights and its own state in `folder`.

    Unlike `keras.callbacks.EarlyStopping`, the best value, its epoch and the
    patience count survive a restart (together with `BackupAndRestore`), and so
    does `elapsed_before`: the training time of earlier attempts, up to their
    last finished epoch.
    """

    def __init__(self, folder, monitor="val_loss", patience=5, mode="auto"):
        super().__init__()
        self.folder = Path(folder)
        self.monitor = monitor
        self.patience = patience
        if mode == "auto":
            mode = monitor_mode(monitor)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.sign = 1.0 if mode == "min" else -1.0
        self.state_path = self.folder / "early_stopping.json"
        self.weights_path = self.folder / "best.weights.h5"
        self.state = {"best": None, "best_epoch": None, "wait": 0, "stopped_epoch": None, "elapsed_s": 0.0}
        self.elapsed_before = 0.0

    def on_train_begin(self, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.state_path.exists():
            self.state = {**self.state, **json.loads(self.state_path.read_text())}
        self.elapsed_before = self.state["elapsed_s"]
        self._attempt_started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"early stopping monitors '{self.monitor}', which is not in the logs "
                f"({', '.join(sorted(logs or {}))}); set training.monitor to one of them"
            )
        value = float(value)
        best = self.state["best"]
        if np.isfinite(value) and (best is None or self.sign * value < self.sign * best):
            self.state.update(best=value, best_epoch=epoch, wait=0)
            partial = self.folder / "best.partial.weights.h5"  # a kill while writing leaves the last best intact
            self.model.save_weights(partial)
            os.replace(partial, self.weights_path)
        else:
            self.state["wait"] += 1
            if self.state["wait"] >= self.patience:
                self.state["stopped_epoch"] = epoch
                self.model.stop_training = True
        self.state["elapsed_s"] = self.elapsed_before + time.time() - self._attempt_started
        self.state_path.write_text(json.dumps(self.state))

    def restore_best(self):
        """Load the best weights seen (no-op when none were saved)."""
        if self.weights_path.exists():
            self.model.load_weights(self.weights_path)


class ValidationUAR(keras.callbacks.Callback):
    """Adds the clip-level validation UAR to the epoch logs as `val_uar`, and its mean over the validation
    corpora as `val_corpus_uar` (equal to `val_uar` for one corpus), both seen by later callbacks.

    Subclasses holding other validation data override `metrics`.
    """

    def __init__(self, data, batch_size):
        super().__init__()
        self.data = data
        self.batch_size = batch_size

    def metrics(self):
        """The model's clip-level metrics on the validation data, with `per_corpus` ones for several corpora."""
        return evaluate_part(self.model, self.data, "val", self.batch_size)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            metrics = self.metrics()
            logs[VAL_UAR] = metrics["uar"]
            corpus_uar = mean_uar(metrics.get("per_corpus", {}))
            logs[VAL_CORPUS_UAR] = metrics["uar"] if corpus_uar is None else corpus_uar


class TimeLimit(keras.callbacks.Callback):
    """Stops training after the epoch past which one more epoch would overrun `seconds` of wall-clock time.

    The next epoch is assumed to last as long as the longest so far, leaving out the first once there are
    others (it includes compilation). An early-stopping callback that restores the best weights still does
    so when training ends here. `stopped_epoch` is the last epoch trained (0-based), or None when the limit
    was not reached.
    """

    def __init__(self, seconds, clock=time.monotonic):
        super().__init__()
        if not seconds > 0:
            raise ValueError(f"TimeLimit needs a positive number of seconds, got {seconds!r}")
        self.seconds = seconds
        self.clock = clock
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.started = self.epoch_started = self.clock()
        self.durations, self.stopped_epoch = [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        self.durations.append(now - self.epoch_started)
        if now - self.started + max(self.durations[1:] or self.durations) > self.seconds:
            self.stopped_epoch = epoch
            self.model.stop_training = True


class ResumableReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """`keras.callbacks.ReduceLROnPlateau` whose plateau count survives a restart.

    The reduced learning rate itself is an optimizer variable, restored by
    `BackupAndRestore`; the best value, wait and cooldown counts are kept in
    `folder`.
    """

    def __init__(self, folder, monitor="val_loss", **kwargs):
        super().__init__(monitor=monitor, mode=monitor_mode(monitor), **kwargs)
        self.state_path = Path(folder) / "reduce_lr.json"

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.state_path.exists():
            state = json.loads(self.state_path.read_text())
            self.best, self.wait, self.cooldown_counter = state["best"], state["wait"], state["cooldown_counter"]

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        state = {"best": None if self.best is None else float(self.best), "wait": self.wait,
                 "cooldown_counter": self.cooldown_counter}
        self.state_path.write_text(json.dumps(state))
