"""Fine-tuning against training from scratch, on corpora the pretrained model never saw (zoo issue, item 4).

For each corpus: the three-seed ensemble of recipe_ablation_loco with the zoo default's recipe that was
trained without it (its leave-one-corpus-out runs, made a preset) is fine-tuned as the README's snippet does
(new output layers for the corpus's class names, then `model.fine_tune(train, val)`) on the
corpus's training speakers of the zoo split; the same network (three seeds of the zoo default's recipe,
zoo/recipes/logmel-cnn-x3.toml) is trained from scratch on the same speakers, and so is the eGeMAPS baseline
(linear SVM, global standardisation); all are scored on the corpus's test speakers (the networks from the
audio). `--learning-rate`, `--batch-size`, `--epochs`, `--patience`, `--ema-epochs`, `--reduce-lr-patience`,
`--head-epochs` and `--class-weight` fine-tune with another value than the snippet's (fine_tune's defaults),
`--keep-known-classes` loads the model with `keep_known_classes=True` (the output weights of the classes it has
kept instead of all fresh), `--random-init` fine-tunes the same network from random weights instead of the
pretrained ones (a control), `--fresh-batch-norm` starts its batch normalisation afresh (scale 1, offset 0,
moving statistics 0 and 1; the conv kernels kept, as `strategy.kind = "weight_init"` does),
`--scratch-draws N` trains N ensembles from scratch (seeds 0-2, 3-5, ...), and `--seeds` fine-tunes once per seed
(each seeds Keras before the new output layers are made); each setting and seed is an entry of its own in the
corpus's results, which record the recipe and fine_tune's defaults they were measured with.
Results go to OUT/<corpus>.json and a table on stdout.

    python experiments/fine_tune_vs_scratch.py [--corpora emodb ravdess] [--runs-dir runs]
        [--out runs/fine_tune_vs_scratch] [--learning-rate 1e-4] [--head-epochs 5] [--seeds 0 1 2]
        [--epochs 20] [--patience 3] [--batch-size 16] [--ema-epochs 0] [--reduce-lr-patience 0]
        [--class-weight balanced] [--keep-known-classes] [--scratch-draws 3] [--random-init] [--fresh-batch-norm]
"""

import argparse
import dataclasses
import inspect
import json
from pathlib import Path

import keras

from keras_ser.presets import load
from keras_ser.presets.adaptation import batch_norm_layers
from keras_ser.presets.fine_tuning import fine_tune
from keras_ser.presets.from_run import preset_from_run
from keras_ser.training import config_from_dict, train
from keras_ser.training.config import (BASELINE_BUILDER, ConfigError, ModelConfig, TrainingConfig, load_config,
                                      read_toml)
from keras_ser.training.data import split_items
from keras_ser.training.experiment import expand, find_experiment, load_experiment

RECIPE = Path(__file__).resolve().parents[1] / "zoo" / "recipes" / "logmel-cnn-x3.toml"
LOCO_EXPERIMENT = "recipe_ablation_loco"  # where the recipe's leave-one-corpus-out runs are
SPLIT_KEYS = ("corpora", "root", "manifest", "split", "fractions", "split_seed", "fold", "folds", "test_speaker",
              "test_corpus", "max_items")  # data keys of the split, not of the front end
SEEDS = (0, 1, 2)
SETTINGS = ("learning_rate", "batch_size", "epochs", "patience", "ema_epochs", "reduce_lr_patience", "head_epochs",
            "class_weight")
SNIPPET = {name: inspect.signature(fine_tune).parameters[name].default for name in SETTINGS}  # fine_tune's defaults


def scratch_config(corpus, seed):
    """The zoo default's recipe, trained on one corpus's training speakers (zoo split)."""
    raw = read_toml(RECIPE, "recipe")
    raw.update(name=f"scratch-{corpus}", seed=seed)
    raw["data"]["corpora"] = [corpus]
    return config_from_dict(raw).validate()


def recipe_condition():
    """The recipe as recipe_ablation_loco names its runs (the part after "seed=N,"): the condition of the runs whose
    front end, network, optimiser and training are the recipe's; their data split is the experiment's own."""
    recipe = load_config(RECIPE)
    front_end = {key: value for key, value in dataclasses.asdict(recipe.data).items() if key not in SPLIT_KEYS}
    names = {config.name.split(f"seed={config.seed},", 1)[1]
             for _, config in expand(load_experiment(find_experiment(LOCO_EXPERIMENT)))
             if (config.model, config.optimizer, config.training) == (recipe.model, recipe.optimizer, recipe.training)
             and all(getattr(config.data, key) == value for key, value in front_end.items())}
    if len(names) != 1:
        raise SystemExit(f"{LOCO_EXPERIMENT} has {len(names)} conditions with the recipe of {RECIPE} "
                         f"({', '.join(sorted(names)) or 'none'}): it needs one")
    return names.pop()


def scores(metrics):
    return {"accuracy": metrics["accuracy"], "uar": metrics["uar"]}


def reset_batch_norm(model):
    """Start every batch normalisation layer of the model's networks afresh (real or quaternion, nested included):
    scale and offset from their initialisers, moving mean 0 and variance 1."""
    for network in model.networks:
        for _, layer in batch_norm_layers(network):
            for variable, initializer in ((layer.gamma, layer.gamma_initializer), (layer.beta, layer.beta_initializer),
                                          (layer.moving_mean, "zeros"), (layer.moving_variance, "ones")):
                if variable is not None:
                    variable.assign(keras.initializers.get(initializer)(variable.shape))


def fine_tuned_key(settings, seed=None, random_init=False, keep_known_classes=False, fresh_batch_norm=False):
    """The results key of fine-tuning with `settings` (fine_tune's arguments among SETTINGS; the snippet's where
    absent) and `seed`, from the pretrained weights or (`random_init`) from random ones, the known classes' output
    weights kept or not, batch normalisation afresh or not: "fine_tuned" with the snippet's settings, unseeded, from
    the pretrained weights."""
    key = "fine_tuned" + "".join(f"_{name}{value:g}" if isinstance(value, (int, float)) else f"_{name}-{value}"
                                 for name, value in settings.items() if value != SNIPPET[name])
    key += "_known_classes_kept" if keep_known_classes else ""
    key += "_fresh_batch_norm" if fresh_batch_norm else ""
    key += "_random_init" if random_init else ""
    return key if seed is None else f"{key}_seed{seed}"


def scratch_seeds(draw):
    """The seeds of the `draw`-th ensemble trained from scratch: 0-2, then 3-5, ..."""
    return [member + len(SEEDS) * draw for member in SEEDS]


def scratch_key(draw):
    """The results key of the `draw`-th ensemble trained from scratch."""
    seeds = scratch_seeds(draw)
    return "from_scratch" if draw == 0 else f"from_scratch_seeds{seeds[0]}-{seeds[-1]}"


def scratch_cell(result, draws):
    """Accuracy / UAR of the scratch ensembles: the first's, or with several draws their means and each one's UAR."""
    found = [result[scratch_key(draw)] for draw in range(draws)]
    mean = {name: sum(score[name] for score in found) / len(found) for name in ("accuracy", "uar")}
    cell = f"{100 * mean['accuracy']:.1f} / {100 * mean['uar']:.1f}"
    return cell if draws == 1 else cell + " (" + ", ".join(f"{100 * score['uar']:.1f}" for score in found) + ")"


def compare(corpus, runs_dir, out, settings=None, seed=None, scratch_draws=1, random_init=False,
            keep_known_classes=False, fresh_batch_norm=False):
    """The corpus's four rows, each computed once (kept in OUT/<corpus>.json); `scratch_draws` ensembles trained
    from scratch (seeds 0-2, 3-5, ...)."""
    folder, path, recipe = out / corpus, out / f"{corpus}.json", recipe_condition()
    result = json.loads(path.read_text()) if path.is_file() else {"corpus": corpus, "recipe": recipe,
                                                                   "snippet": SNIPPET}
    if result.get("recipe") != recipe:  # files before 2026-12-04 recorded the front end alone, as "front_end"
        recorded = result.get("recipe", result.get("front_end", "(not recorded)"))
        raise SystemExit(f"{path} holds results of the recipe {recorded!r}, not today's {recipe!r}: "
                         "pass another --out")
    if result.get("snippet") != SNIPPET:  # files before 2026-12-05 fine-tuned at 1e-4, batch 16, patience 3
        raise SystemExit(f"{path} holds results of fine_tune's defaults {result.get('snippet', '(not recorded)')}, "
                         f"not today's {SNIPPET}: pass another --out")
    parts = split_items(scratch_config(corpus, 0).data).parts
    result.update(test_clips=len(parts["test"]), train_clips=len(parts["train"]))
    settings = {**SNIPPET, **(settings or {})}
    fine_tuned = fine_tuned_key(settings, seed, random_init, keep_known_classes, fresh_batch_norm)
    if fine_tuned not in result:
        loco = [runs_dir / LOCO_EXPERIMENT / f"test_corpus={corpus},seed={member},{recipe}"
                for member in SEEDS]
        if not (folder / "pretrained").is_dir():
            preset_from_run(loco, folder / "pretrained", name=f"loco-without-{corpus}", half_precision=False,
                            progress=False)
        if "pretrained_without_corpus" not in result:
            result["pretrained_without_corpus"] = scores(load(str(folder / "pretrained")).evaluate_items(
                parts["test"], progress=False))
        # as the snippet does: new output layers for the corpus's classes, then fine_tune's defaults
        if seed is not None:
            keras.utils.set_random_seed(seed)
        model = load(str(folder / "pretrained"), class_names=sorted({item.canonical for item in parts["train"]}),
                     keep_known_classes=keep_known_classes)
        if random_init:  # the control: the same network and fine-tuning, without what pretraining learnt
            model = type(model).from_config(model.get_config())
        if fresh_batch_norm:
            reset_batch_norm(model)
        histories = model.fine_tune(parts["train"], parts["val"], progress=False, **settings)  # one per member
        histories = histories if isinstance(histories, list) else [histories]
        result[fine_tuned] = {**scores(model.evaluate_items(parts["test"], progress=False)),
                              "epochs": [len(history.history["loss"]) for history in histories]}
    for draw in range(scratch_draws):
        seeds, key = scratch_seeds(draw), scratch_key(draw)
        if key in result:
            continue
        runs = [folder / f"scratch-seed{member}" for member in seeds]
        for member, run in zip(seeds, runs):
            train(scratch_config(corpus, member), run, progress=False)
        preset = folder / key.replace("from_", "")
        if not preset.is_dir():
            preset_from_run(runs, preset, half_precision=False, progress=False)
        result[key] = scores(load(str(preset)).evaluate_items(parts["test"], progress=False))
    if "egemaps" not in result:
        config = scratch_config(corpus, 0)
        config.model, config.training = ModelConfig(builder=BASELINE_BUILDER), TrainingConfig()
        try:
            result["egemaps"] = scores(train(config.validate(), folder / "egemaps", progress=False)["test"])
        except ConfigError as error:  # e.g. TESS: one training speaker, too few to choose C by speaker
            result["egemaps"] = {"not_run": str(error)}
    if path.is_file():  # another run of the script may have added entries meanwhile
        result = {**json.loads(path.read_text()), **result}
    path.write_text(json.dumps(result, indent=1))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=["emodb", "ravdess", "tess", "nemo"])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("runs/fine_tune_vs_scratch"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[None],
                        help="fine-tune once per seed (default: once, unseeded, as the snippet does)")
    for name, default in SNIPPET.items():
        if name != "class_weight":
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default,
                                help=f"fine_tune's {name} (default: the snippet's, {default:g})")
    parser.add_argument("--class-weight", choices=["balanced"], default=SNIPPET["class_weight"],
                        help="fine_tune's class_weight (default: the snippet's, None)")
    parser.add_argument("--keep-known-classes", action="store_true",
                        help="load with keep_known_classes=True: the classes the model has keep their output weights")
    parser.add_argument("--random-init", action="store_true",
                        help="fine-tune the pretrained model's network from random weights instead (a control)")
    parser.add_argument("--fresh-batch-norm", action="store_true",
                        help="start the pretrained networks' batch normalisation afresh, keeping their conv kernels")
    parser.add_argument("--scratch-draws", type=int, default=1,
                        help="ensembles trained from scratch, each of three new seeds (default: 1, seeds 0-2)")
    args = parser.parse_args()
    settings = {name: getattr(args, name) for name in SNIPPET}
    draws = f" (mean of {args.scratch_draws} ensembles; each UAR)" if args.scratch_draws > 1 else ""
    print(f"| corpus | pretrained without it | fine-tuned | from scratch{draws} | "
          "eGeMAPS, same speakers |")
    print("|---|---|---|---|---|")
    for corpus in args.corpora:
        for seed in args.seeds:
            r = compare(corpus, args.runs_dir, args.out, settings, seed, args.scratch_draws, args.random_init,
                        args.keep_known_classes, args.fresh_batch_norm)
            cells = [f"{100 * r[key]['accuracy']:.1f} / {100 * r[key]['uar']:.1f}" if "uar" in r[key] else "not run"
                     for key in ("pretrained_without_corpus",
                                 fine_tuned_key(settings, seed, args.random_init, args.keep_known_classes,
                                                args.fresh_batch_norm),
                                 "egemaps")]
            cells.insert(2, scratch_cell(r, args.scratch_draws))
            print(f"| {corpus}{'' if seed is None else f' (seed {seed})'} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
