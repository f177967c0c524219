"""Running a search: the tuner, its resumable project directory and KerasTuner's chief/worker mode."""

import os
from pathlib import Path

import keras_tuner

from keras_ser.datasets.cache import CACHE_ENV
from keras_ser.training.config import dump_toml
from keras_ser.training.data import prepare_data
from keras_ser.training.processes import isolate_by_default
from keras_ser.training.run import CONFIG_FILE, check_run_dir
from keras_ser.tuning.hypermodel import SERHyperModel, objective
from keras_ser.tuning.isolation import isolated
from keras_ser.tuning.report import write_report
from keras_ser.tuning.space import load_tuning

TUNERS = ("random", "bayesian", "hyperband")
CONTINUE_HINT = ("a search continues only with the [base] it started with: pass the same file and --set options, "
                 "another --directory, or --set name=<new name> for a project of its own")


def distributed_environment(role, worker=0, ip="127.0.0.1", port=8000):
    """The KERASTUNER_* variables of a chief (serves the oracle) or worker `worker` (runs trials)."""
    if role not in ("chief", "worker"):
        raise ValueError(f"role must be 'chief' or 'worker', got {role!r}")
    tuner_id = "chief" if role == "chief" else f"tuner{worker}"
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": ip, "KERASTUNER_ORACLE_PORT": str(port)}


def make_tuner(kind, hypermodel, max_trials, directory, project_name, seed=0, isolate=False):
    """A KerasTuner tuner over `hypermodel` that resumes from `directory/project_name` when it exists.

    Hyperband has no trial count: it brackets up to the base config's epochs.
    Every tuner clears the Keras session and collects garbage before each build
    (`keras_tuner.Tuner._try_build`); `isolate` runs each trial in a child
    process instead (random and bayesian tuners), for a flat memory on TensorFlow.
    """
    classes = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
               "hyperband": keras_tuner.Hyperband}
    if kind not in classes:
        raise ValueError(f"unknown tuner {kind!r}; choose one of {', '.join(TUNERS)}")
    tuner_class = isolated(classes[kind]) if isolate else classes[kind]
    common = {"objective": objective(), "directory": str(directory), "project_name": project_name,
              "overwrite": False, "seed": seed}
    if kind == "hyperband":
        return tuner_class(hypermodel, max_epochs=hypermodel.base.training.epochs, **common)
    return tuner_class(hypermodel, max_trials=max_trials, **common)


def tune(path, max_trials, tuner="random", directory="runs/tuning", cache_dir=None, progress=True, callbacks=(),
         isolate=None, overrides=()):
    """Search the space of the tuning TOML `path`, its base changed by `overrides` ("section.key=value"); returns
    the tuner.

    The project lives in `directory/<base name>`, with the base in its config.toml: running the same command again
    continues an interrupted search (and runs more trials when `max_trials` grew); another base is refused
    (ChangedConfigError naming the keys). In KerasTuner's distributed mode (KERASTUNER_* variables, see
    `distributed_environment`) the chief serves the oracle and writes the
    report; workers only run trials. The report (results.csv/.md, the per-layer
    plot, best_config.toml) goes to the project folder.
    """
    base, space = load_tuning(path, overrides)
    project = Path(directory) / base.name
    check_run_dir(base, project, hint=CONTINUE_HINT, what="a search")
    project.mkdir(parents=True, exist_ok=True)
    (project / CONFIG_FILE).write_text(dump_toml(base))
    data = prepare_data(base.data, seed=base.seed, cache_dir=cache_dir, progress=progress, training=base.training)
    hypermodel = SERHyperModel(base, space, data)
    if isolate is None:
        isolate = isolate_by_default() and tuner != "hyperband"
    if isolate and cache_dir is not None:
        os.environ[CACHE_ENV] = str(cache_dir)  # the trials' processes read the same feature cache
    searcher = make_tuner(tuner, hypermodel, max_trials, directory, base.name, seed=base.seed, isolate=isolate)
    searcher.search(callbacks=list(callbacks), verbose=1 if progress else 0)
    if role() != "worker":
        write_report(searcher.oracle, hypermodel, Path(directory) / base.name)
    return searcher


def role():
    """This process's part in a search: "single", or "chief"/"worker" in KerasTuner's distributed mode."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"
