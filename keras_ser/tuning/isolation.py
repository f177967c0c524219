"""Running each trial in its own process (see `keras_ser.training.processes`).

`python -m keras_ser.tuning.isolation CONFIG RESULT` trains one trial's resolved run
configuration and writes its per-epoch logs as JSON.
"""

import argparse
import json
from pathlib import Path

import keras_tuner

from keras_ser.training.config import dump_toml, load_config
from keras_ser.training.processes import run_child
from keras_ser.tuning.hypermodel import OBJECTIVE, build_trial_model, fit_trial_model

TRIAL_CONFIG = "trial_config.toml"
TRIAL_RESULT = "trial_result.json"


class IsolatedTrials:
    """A mixin for KerasTuner tuners: each trial trains in a child process (no shared Keras state).

    Callbacks given to `search` do not reach the child, and trials keep no model
    checkpoint (`get_best_models` is unavailable; use the report's best_config.toml).
    """

    def run_trial(self, trial, *args, **kwargs):
        config = self.hypermodel.config_for(trial.hyperparameters)
        folder = Path(self.get_trial_dir(trial.trial_id))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / TRIAL_CONFIG).write_text(dump_toml(config))
        run_child(["-m", "keras_ser.tuning.isolation", str(folder / TRIAL_CONFIG), str(folder / TRIAL_RESULT),
                   "--verbose", str(kwargs.get("verbose", 0))], f"trial {trial.trial_id}")
        logs = json.loads((folder / TRIAL_RESULT).read_text())
        return {OBJECTIVE: max(logs[OBJECTIVE])}


def isolated(tuner_class):
    """`tuner_class` (e.g. keras_tuner.RandomSearch) running its trials in child processes."""
    if issubclass(tuner_class, keras_tuner.Hyperband):
        raise ValueError("isolated trials need the random or bayesian tuner: Hyperband resumes models across brackets")
    return type(f"Isolated{tuner_class.__name__}", (IsolatedTrials, tuner_class), {})


def main(argv=None):
    parser = argparse.ArgumentParser(description="train one tuning trial (used by isolated searches)")
    parser.add_argument("config")
    parser.add_argument("result")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    from keras_ser.training.data import prepare_data

    config = load_config(args.config)
    data = prepare_data(config.data, seed=config.seed, progress=False, training=config.training)
    history = fit_trial_model(config, build_trial_model(config, data), data, verbose=args.verbose)
    Path(args.result).write_text(json.dumps({key: [float(v) for v in values] for key, values in history.history.items()}))


if __name__ == "__main__":
    main()
