"""The `keras-ser` command line."""

import argparse
import dataclasses
import json
import os
import re
import sys
import tempfile
import warnings

from keras_ser.version import __version__

DEFAULT_MODEL = "logmel-cnn-x3"
# Commands that never import Keras, so they start without TensorFlow.
KERAS_FREE_COMMANDS = frozenset({"models", "download", "publish", "model-cards", "compare"})
# What TensorFlow's C++ libraries log through absl at import time, whatever TF_CPP_MIN_LOG_LEVEL says.
IMPORT_NOTICES = re.compile(r"absl::InitializeLog\(\)|oneDNN custom operations are on")


def _train(args):
    from keras_ser.training import load_config, train
    from keras_ser.training.config import override_parts

    config = load_config(args.config, args.set)
    if args.epochs is not None:
        config.training.epochs = args.epochs
    if args.seed is not None:
        config.seed = args.seed
    # each seed given (--seed or --set seed=) its own folder by default: an ensemble's runs must not find each other's
    seeded = args.seed is not None or any(override_parts(override)[0] == "seed" for override in args.set)
    run_dir = args.run_dir or f"runs/{config.name}" + (f"-seed{config.seed}" if seeded else "")
    metrics = train(config, run_dir, restart=args.restart)
    test = metrics["test"]
    print(f"{config.name}: test accuracy {test['accuracy']:.4f}, UAR {test['uar']:.4f} -> {run_dir}")


def _baseline(args):
    from keras_ser.training import load_config, train
    from keras_ser.training.config import BASELINE_BUILDER, ModelConfig, TrainingConfig

    config = load_config(args.config, args.set)
    options = config.model.options if config.model.builder == BASELINE_BUILDER else {}
    options.update({key: value for key, value in (("classifier", args.classifier),
                                                  ("standardization", args.standardization)) if value})
    # The data section and the split as given; the network's sections do not apply.
    config.model, config.training = ModelConfig(builder=BASELINE_BUILDER, options=options), TrainingConfig()
    run_dir = args.run_dir or f"runs/{config.name}-egemaps"
    metrics = train(config.validate(), run_dir, restart=args.restart)
    test, chosen = metrics["test"], metrics["baseline"]["chosen_c"]
    print(f"{config.name} (eGeMAPS, C={chosen:g}): test accuracy {test['accuracy']:.4f}, UAR {test['uar']:.4f} "
          f"-> {run_dir}")


def _evaluate(args):
    from pathlib import Path

    from keras_ser.presets import load
    from keras_ser.presets.fine_tuning import evaluate_items
    from keras_ser.training import load_config
    from keras_ser.training.data import split_items

    config = load_config(args.config, args.set)
    items = split_items(config.data, config.seed).parts[args.part]
    models = [load(name) for name in args.model]
    metrics = evaluate_items(models, items)
    for corpus, scores in metrics["per_corpus"].items():
        print(f"{corpus}: {scores['num_examples']} clips, accuracy {scores['accuracy']:.4f}, UAR {scores['uar']:.4f}")
    print(f"all: {metrics['num_examples']} clips, accuracy {metrics['accuracy']:.4f}, UAR {metrics['uar']:.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps(metrics, indent=1))


def _experiment(args):
    from keras_ser.training.experiment import plan_experiment, run_experiment

    if args.plan:
        name, runs = plan_experiment(args.name, runs_dir=args.runs_dir, recorded=args.recorded)
        for number, (run, status) in enumerate(runs, 1):
            print(f"[{number}/{len(runs)}] {status:8} {run}")
        done = sum(status == "finished" for _, status in runs)
        recorded = sum(status == "recorded" for _, status in runs)
        print(f"{name}: {done} of {len(runs)} runs finished in {args.runs_dir}/{name}"
              + (f", {recorded} recorded in {args.recorded}" if args.recorded else ""))
        return
    summary = run_experiment(args.name, runs_dir=args.runs_dir, keep_models=not args.discard_models,
                             isolate=args.isolate, summary_only=args.summary_only, workers=args.workers,
                             recorded=args.recorded, only=args.only)
    print(f"summary written to {args.runs_dir}/{summary['name']}/summary.md")


def _rhemo(args):
    from keras_ser.models.rhemo import STAGE1, STAGE2
    from keras_ser.training.rhemo_recipe import train_rhemo

    metrics = train_rhemo(
        args.corpora, args.run_dir, variant=args.variant, seed=args.seed,
        stage1=dataclasses.replace(STAGE1, epochs=args.stage1_epochs, learning_rate=args.stage1_lr,
                                   minutes=args.stage1_minutes) if args.stage1_epochs else None,
        stage2=dataclasses.replace(STAGE2, epochs=args.stage2_epochs, learning_rate=args.stage2_lr,
                                   minutes=args.stage2_minutes) if args.stage2_epochs else None,
        max_items=args.max_items, fractions=tuple(args.fractions), head_units=args.head_units,
        compression=args.compression, normalization=args.normalization, init=args.init,
    )
    head = metrics.get("test_emotion_head")
    summary = f"test emotion head UAR {head['uar']:.4f}" if head else "no emotion head"
    print(f"RH-emo ({args.variant}) on {', '.join(args.corpora)}: {summary} -> {args.run_dir}/encoder.keras")


def _cost(args):
    from keras_ser.models import print_cost_table
    from keras_ser.models.cost import ENTRY_NAMES

    print_cost_table(args.models or ENTRY_NAMES, timing=not args.no_timing, batch_size=args.batch_size)


def _tune(args):
    import os

    from keras_ser.tuning import distributed_environment, tune
    from keras_ser.tuning.search import role

    if args.chief or args.worker is not None:
        os.environ.update(distributed_environment(
            "chief" if args.chief else "worker", args.worker or 0, args.oracle_ip, args.oracle_port))
    tuner = tune(args.config, args.max_trials, tuner=args.tuner, directory=args.directory, isolate=args.isolate,
                 overrides=args.set)
    if role() == "worker":
        print(f"worker {os.environ['KERASTUNER_TUNER_ID']}: no trials left")
    else:
        print(f"{len(tuner.oracle.trials)} trials; results in {args.directory}/{tuner.hypermodel.name}")


def _check_timeline_options(args):
    """Refuse option combinations of `predict` that do not go together, before the model loads."""
    given = [flag for flag, value in (("--csv", args.csv), ("--plot", args.plot), ("--min-speech", args.min_speech),
                                      ("--min-pause", args.min_pause)) if value is not None]
    if not args.timeline:
        if given:
            raise ValueError(f"{' and '.join(given)} {'needs' if len(given) == 1 else 'need'} --timeline")
        return
    if len(args.targets) != 1:
        raise ValueError(f"--timeline takes one audio file, got {len(args.targets)} targets")
    if args.csv is not None and args.json:
        raise ValueError("--csv and --json are alternatives: --csv OUT writes the timeline to OUT, --json prints it")
    if args.windows:
        raise ValueError("--windows and --timeline are alternatives: the timeline already lists every window")


def _timeline(args, model):
    given = {name: value for name, value in (("min_speech", args.min_speech), ("min_pause", args.min_pause))
             if value is not None}
    timeline = model.timeline(args.targets[0], hop_seconds=args.hop, progress=not args.json and sys.stdout.isatty(),
                              **given)
    if args.plot:
        from keras_ser.presets.timeline_plot import plot_timeline

        plot_timeline(timeline, args.plot)
    if args.json:
        print(json.dumps(timeline.to_dict(), indent=1))
        return
    if args.csv:
        timeline.to_csv(args.csv)
        print(f"timeline of {timeline.source} written to {args.csv}")
    else:
        print(f"{timeline.source}: {timeline.duration:.2f} s, {sum(s['speech'] for s in timeline)} speech windows")
        for segment in timeline:
            label = segment["label"]
            what = f"{label} {segment['scores'][label]:.3f}" if segment["speech"] else "(no speech)"
            print(f"  {segment['start']:8.2f}-{segment['end']:8.2f} s: {what}")
    if args.plot:
        print(f"plot written to {args.plot}")


def _predict(args):
    from keras_ser.presets import ShortAudioWarning, SilentAudioWarning, UnvoicedAudioWarning, load

    _check_timeline_options(args)
    model = load(args.model)
    if args.timeline:
        return _timeline(args, model)
    with warnings.catch_warnings():
        for marked in (SilentAudioWarning, ShortAudioWarning, UnvoicedAudioWarning):  # marked below instead
            warnings.simplefilter("ignore", marked)
        results = model.predict_files(args.targets, aggregate=args.aggregate, hop_seconds=args.hop,
                                      progress=not args.json and sys.stdout.isatty(), on_error=args.on_error)
    if args.json:
        print(json.dumps([result.to_dict() for result in results] + results.failures, indent=1))
    else:
        for result in results:
            labels = " | ".join(f"{entry['label']} {entry['score']:.3f}" for entry in result)
            dimensions = ", ".join(f"{name} {value:.2f}" for name, value in result.dimensions.items())
            marks = ""
            if result.silent:
                marks += f"  [silent: loudest 20 ms at {result.level_db:.1f} dBFS, nothing to score]"
            if result.too_short:
                marks += f"  [too short: {result.seconds:.3f} s of audio, too little to hold an emotion]"
            if result.unvoiced:
                marks += "  [unvoiced: too little voiced sound, likely noise, not speech]"
            print(f"{result.source}: {labels}" + (f"  ({dimensions})" if dimensions else "") + marks)
            if args.windows:
                for window in result.windows:
                    top = window["labels"][0]
                    print(f"  {window['start']:7.2f}-{window['end']:7.2f} s: {top['label']} {top['score']:.3f}")
    for failure in results.failures:
        print(f"keras-ser predict: skipped '{failure['source']}': {failure['error']}", file=sys.stderr)
    return 1 if results.failures else 0


def _explain(args):
    from keras_ser.explain import grad_cam, plot_grad_cam
    from keras_ser.presets import load

    cam = grad_cam(load(args.model), args.file, layer=args.layer, class_name=args.class_name)
    plot_grad_cam(cam, args.out)
    print(f"{args.file}: {cam.class_name} {cam.probability:.3f}; Grad-CAM at {cam.layer} written to {args.out}")


def _models(args):
    from keras_ser.presets import list_models, model_info
    from keras_ser.training.metrics import mean_uar

    rows = [("name", "architecture", "params", "test UAR (mean over corpora)")]
    for name in list_models(args.pattern):
        info = model_info(name)
        test = info.get("metrics", {}).get("test", {})
        uar = mean_uar(test)
        rows.append((name, info.get("architecture", ""), f"{info.get('parameters', {}).get('total', 0):,}",
                     "-" if uar is None else f"{uar:.3f}"))
    if len(rows) == 1:
        print(f"no zoo models match {args.pattern!r}")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _download(args):
    from keras_ser.presets import resolve
    from keras_ser.presets.registry import zoo_dir

    folder = resolve(args.name, force_download=args.force)
    where = "installed with keras-ser" if zoo_dir() in folder.parents else "cached"
    print(f"{args.name}: {where} at {folder}")


def _publish(args):
    from keras_ser.hub.publish import publish

    print(publish(args.folder, args.repo, token=args.token, private=args.private))


def _export(args):
    from pathlib import Path

    from keras_ser.presets import load
    from keras_ser.presets.export import export_model

    output = args.output or f"{Path(args.name).name}-{args.format}"  # export_model adds .tflite / .onnx
    path = export_model(load(args.name), output, format=args.format, overwrite=args.overwrite)
    print(f"{args.name} exported as {args.format} to {path}")


def _preset(args):
    from pathlib import Path

    from keras_ser.presets.from_run import preset_from_run, rhemo_preset_from_run

    options = {"description": args.description, "half_precision": not args.full_precision, "overwrite": args.overwrite,
               "dimension_heads": args.dimension_heads}
    rhemo_runs = [run_dir for run_dir in args.run_dir if (Path(run_dir) / "rhemo.keras").is_file()]
    if rhemo_runs and len(args.run_dir) > 1:
        raise ValueError(f"'{rhemo_runs[0]}' is a keras-ser rhemo run, which makes a preset on its own; an ensemble "
                         "is made of keras-ser train runs")
    if rhemo_runs:
        metadata = rhemo_preset_from_run(rhemo_runs[0], args.folder, name=args.name or "rhemo", **options)
    else:
        metadata = preset_from_run(args.run_dir, args.folder, name=args.name, recipe=args.recipe, **options)
    for corpus, values in metadata["metrics"]["test"].items():
        print(f"{metadata['name']} test {corpus}: accuracy {values['accuracy']:.4f}, UAR {values['uar']:.4f}")
    print(f"preset written to {args.folder}")


def _adapt(args):
    from pathlib import Path

    from keras_ser.presets import load, save_preset

    if Path(args.out).exists() and any(Path(args.out).iterdir()) and not args.overwrite:
        raise FileExistsError(f"'{args.out}' exists and is not empty; pass --overwrite to replace it")
    model = load(args.model)
    model.adapt(args.audio, normalizer=args.normalizer, batch_norm=args.batch_norm, inplace=True,
                min_windows=args.min_windows, on_error=args.on_error, progress=sys.stdout.isatty())
    record = model.metadata["adaptations"][-1]
    save_preset(model, args.out, half_precision=not args.full_precision, overwrite=args.overwrite)
    if "normalizer" in record:
        before, after = record["normalizer"]["before"], record["normalizer"]["after"]
        print(f"{record['normalizer']['kind']} normaliser: "
              + ", ".join(f"{key} {before[key]:.4g} -> {after[key]:.4g}" for key in after))
    if "batch_norm_layers" in record:
        print(f"batch-norm statistics of {len(record['batch_norm_layers'])} layers recomputed")
    print(f"{args.model} adapted on {record['clips']} clips ({record['windows']} windows) -> {args.out}")


def _model_cards(args):
    from pathlib import Path

    from keras_ser.hub.card import zoo_model_cards
    from keras_ser.presets.registry import zoo_dir

    text = zoo_model_cards(args.zoo or zoo_dir())
    if args.write:
        Path(args.write).write_text(text)
        print(f"written to {args.write}")
    else:
        print(text)


def _comparison_row(text):
    """The comparison row of `--row LABEL=FILE[,FILE...]`: the files' per-corpus scores, later files winning."""
    from keras_ser.hub.comparison import scores_from_json

    label, equals, files = text.partition("=")
    if not equals or not label.strip() or not files:
        raise ValueError(f"--row {text!r}: expected LABEL=FILE[,FILE...]")
    scores = {}
    for path in re.split(r"(?<=\.json),", files):  # run folders' names hold commas too
        try:
            scores.update(scores_from_json(path.strip()))
        except (ValueError, OSError) as error:
            raise ValueError(f"--row {text!r}: {error}") from None
    return {"label": label.strip(), "scores": scores}


def _compare(args):
    from keras_ser.hub.card import comparison_table
    from keras_ser.hub.comparison import add_comparison

    table = add_comparison(args.preset, args.title, [_comparison_row(text) for text in args.row], note=args.note)
    print(f"{table['title']} (accuracy / UAR in %), written to the card of {args.preset}:\n")
    print(comparison_table(table))


def _add_set_option(command):
    command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override a key of the configuration, e.g. --set training.balance=corpus_class "
                              "--set model.options.pooling=statistics (values read as TOML, else as text; repeatable)")


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-ser", description="Speech emotion recognition with Keras 3.")
    parser.add_argument("--version", action="version", version=f"keras-ser {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a run configuration (TOML) into a run directory")
    train.add_argument("config", help="path of the TOML run configuration")
    train.add_argument("--run-dir", help="where the run is written (default: runs/<name>, runs/<name>-seed<N> with "
                                         "--seed N or --set seed=N)")
    train.add_argument("--epochs", type=int, help="override training.epochs")
    train.add_argument("--seed", type=int, help="override seed (runs of one recipe with several seeds make an ensemble "
                                                "preset: keras-ser preset RUN RUN ... OUT)")
    train.add_argument("--restart", action="store_true", help="discard an existing run directory and start over")
    _add_set_option(train)
    train.set_defaults(handler=_train)
    baseline = commands.add_parser(
        "baseline", help="the eGeMAPS + linear reference on a run configuration's data and split (needs [baselines])")
    baseline.add_argument("config", help="path of the TOML run configuration (its data section is used)")
    baseline.add_argument("--run-dir", help="where the run is written (default: runs/<name>-egemaps)")
    baseline.add_argument("--classifier", choices=("svm", "logistic"), help="linear SVM (default) or logistic regression")
    baseline.add_argument("--standardization", choices=("global", "corpus", "speaker"),
                          help="feature statistics of the training speakers (global, default), or of each corpus "
                               "or speaker itself")
    baseline.add_argument("--restart", action="store_true", help="discard an existing run directory and start over")
    _add_set_option(baseline)
    baseline.set_defaults(handler=_baseline)
    evaluate = commands.add_parser(
        "evaluate", help="measure a model from the audio files of one part of a run configuration's split")
    evaluate.add_argument("model", nargs="+", help="zoo name, preset folder or hf://org/name; several are scored as an "
                          "ensemble, by the mean of their clip probabilities")
    evaluate.add_argument("config", help="a TOML run configuration: its data section and seed give the split")
    evaluate.add_argument("--part", choices=("test", "val", "train"), default="test", help="which part (default: test)")
    evaluate.add_argument("--out", help="also write the metrics (overall and per corpus) to this JSON file")
    _add_set_option(evaluate)
    evaluate.set_defaults(handler=_evaluate)
    experiment = commands.add_parser("experiment", help="run every configuration of an experiment and summarise it")
    experiment.add_argument("name", help="an experiment in experiments/ (e.g. table4_1_emodb) or a .toml path")
    experiment.add_argument("--runs-dir", default="runs", help="where runs and the summary go (default: runs)")
    experiment.add_argument("--discard-models", action="store_true",
                            help="delete each run's model.keras once its metrics are written (a grid of large "
                                 "networks otherwise fills the disk: a real VGG16 run keeps 650 MB)")
    experiment.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                            help="train each run in its own process (default: on TensorFlow, whose fit keeps "
                                 "every trained model's memory)")
    experiment.add_argument("--workers", type=int, default=1, metavar="N",
                            help="train N runs at once, each in its own process, the pretrainings first (default: 1)")
    experiment.add_argument("--recorded", metavar="SUMMARY_JSON",
                            help="an earlier summary.json of this experiment (e.g. from experiments/results/): the "
                                 "runs it records count as finished, so a --runs-dir without them continues the "
                                 "experiment instead of training them again")
    only = experiment.add_mutually_exclusive_group()
    only.add_argument("--summary-only", action="store_true",
                      help="train nothing: summarise the runs finished so far (also while the experiment "
                           "still runs in another process)")
    only.add_argument("--only", metavar="REGEX",
                      help="train only the runs whose names match (e.g. 'seed=0,'), and summarise them with the "
                           "runs finished so far")
    only.add_argument("--plan", action="store_true",
                      help="train nothing: list the runs in the order they train, each finished or pending")
    experiment.set_defaults(handler=_experiment)
    rhemo = commands.add_parser("rhemo", help="train RH-emo on corpora and save its encoder for data.features='rhemo'")
    rhemo.add_argument("corpora", nargs="+", help="corpus names, e.g. ravdess tess")
    rhemo.add_argument("--run-dir", default="runs/rhemo", help="where it is written (default: runs/rhemo)")
    rhemo.add_argument("--variant", default="full", help="RH-emo variant (full or an ablation of Fig. 6.3)")
    rhemo.add_argument("--stage1-epochs", type=int, default=500, help="stage 1 epoch limit (0 skips the stage)")
    rhemo.add_argument("--stage2-epochs", type=int, default=500, help="stage 2 epoch limit (0 skips the stage)")
    rhemo.add_argument("--stage1-lr", type=float, default=1e-3, help="stage 1 learning rate (default: 1e-3)")
    rhemo.add_argument("--stage2-lr", type=float, default=1e-6, help="stage 2 learning rate (default: 1e-6, the thesis)")
    for stage in (1, 2):
        rhemo.add_argument(f"--stage{stage}-minutes", type=float, metavar="MINUTES",
                           help=f"end stage {stage} before an epoch would take it past this wall-clock time "
                                "(default: no limit); the best epoch's weights are kept")
    rhemo.add_argument("--head-units", type=int, default=4096, help="width of the heads' hidden layers (default: 4096)")
    rhemo.add_argument("--max-items", type=int, default=0, help="use at most this many files per corpus")
    rhemo.add_argument("--fractions", type=float, nargs=3, default=(0.7, 0.2, 0.1), metavar=("TRAIN", "VAL", "TEST"),
                       help="speaker shares of each corpus's parts (default: 0.7 0.2 0.1; two-speaker corpora "
                       "hold their last speaker out)")
    rhemo.add_argument("--compression", choices=("linear", "log"), default="linear",
                       help="linear STFT magnitudes (default, the thesis) or log(magnitude + floor)")
    rhemo.add_argument("--normalization", choices=("max", "utterance"), default="max",
                       help="into [0, 1] by the training maximum (default, the thesis), or each segment's z-score per "
                            "frequency bin through the logistic function (needed with --compression log)")
    rhemo.add_argument("--init", metavar="RUN_DIR",
                       help="start from the weights of an earlier keras-ser rhemo run with the same corpora, fractions, "
                            "seed, variant, head units and input (e.g. stage 2 again: --stage1-epochs 0)")
    rhemo.add_argument("--seed", type=int, default=0)
    rhemo.set_defaults(handler=_rhemo)
    cost = commands.add_parser("cost", help="parameters, FLOPs and CPU step times of the zoo's architectures")
    cost.add_argument("models", nargs="*", help="rows to measure (default: all), e.g. vgg16 'vgg16 quaternion'")
    cost.add_argument("--no-timing", action="store_true", help="only parameters and FLOPs (fast)")
    cost.add_argument("--batch-size", type=int, default=4, help="batch size of the timed steps (default: 4)")
    cost.set_defaults(handler=_cost)
    tune = commands.add_parser("tune", help="search hyperparameters of a tuning TOML ([base] config + [space])")
    tune.add_argument("config", help="path of the tuning TOML, e.g. tuning/anti_transfer_emodb.toml")
    tune.add_argument(
        "--max-trials", type=int, required=True, help="trials in all; a rerun continues up to it (hyperband: unused)"
    )
    tune.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="random")
    tune.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                      help="train each trial in its own process (default: on with TensorFlow, whose fit keeps "
                      "memory of every trained model; not for hyperband)")
    tune.add_argument("--directory", default="runs/tuning", help="project folder parent (default: runs/tuning)")
    roles = tune.add_mutually_exclusive_group()
    roles.add_argument("--chief", action="store_true", help="serve the oracle to workers (distributed search)")
    roles.add_argument("--worker", type=int, metavar="N", help="run trials as worker N of a chief")
    tune.add_argument("--oracle-ip", default="127.0.0.1", help="the chief's address (default: 127.0.0.1)")
    tune.add_argument("--oracle-port", type=int, default=8000, help="the chief's port (default: 8000)")
    _add_set_option(tune)  # of its [base]
    tune.set_defaults(handler=_tune)
    predict = commands.add_parser("predict", help="label the emotion of audio files and of every audio file in folders")
    predict.add_argument("targets", nargs="+", metavar="TARGET", help="audio files and folders of them")
    predict.add_argument("--model", default=DEFAULT_MODEL, help=f"zoo name, preset folder or hf://org/name (default: {DEFAULT_MODEL})")
    predict.add_argument("--json", action="store_true", help="print JSON (labels, V/A/D, per-window results)")
    predict.add_argument("--aggregate", choices=("mean", "max", "vote"), default="mean",
                         help="how window scores of long audio are pooled (default: mean)")
    predict.add_argument("--hop", type=float, help="seconds between sliding windows (default: the window length, 4 s)")
    predict.add_argument("--windows", action="store_true", help="also print the top label of every window")
    predict.add_argument("--on-error", choices=("skip", "fail"), default="skip",
                         help="unreadable files: skip them, report them all on stderr and exit with 1 (default), "
                              "or stop at the first one (exit 2)")
    predict.add_argument("--timeline", action="store_true",
                         help="one long recording: speech and pauses over time, each speech window labelled")
    predict.add_argument("--csv", metavar="OUT", help="with --timeline: write the timeline to OUT as CSV")
    predict.add_argument("--plot", metavar="OUT", help="with --timeline: write a plot of it to OUT (PNG)")
    predict.add_argument("--min-speech", type=float, metavar="SECONDS",
                         help="with --timeline: shorter speech is ignored (default: 0.3)")
    predict.add_argument("--min-pause", type=float, metavar="SECONDS",
                         help="with --timeline: shorter pauses count as speech (default: 0.5)")
    predict.set_defaults(handler=_predict)
    explain = commands.add_parser("explain",
                                  help="plot where in a clip's spectrogram a model finds its class (Grad-CAM)")
    explain.add_argument("file", help="an audio file")
    explain.add_argument("--out", required=True, help="the PNG to write")
    explain.add_argument("--model", default=DEFAULT_MODEL,
                         help=f"zoo name, preset folder or hf://org/name (default: {DEFAULT_MODEL})")
    explain.add_argument("--class", dest="class_name", metavar="NAME", help="the class to explain (default: the clip's top class)")
    explain.add_argument("--layer", metavar="NAME",
                         help="the conv layer, by name or path such as alexnet/conv5 (default: the last one)")
    explain.set_defaults(handler=_explain)
    zoo_models = commands.add_parser("models", help="list the zoo's models")
    zoo_models.add_argument("pattern", nargs="?", default="*", help="shell-style name pattern (default: *)")
    zoo_models.set_defaults(handler=_models)
    download = commands.add_parser("download", help="fetch a model into the Hugging Face cache ahead of offline use")
    download.add_argument("name", help="zoo name or hf://org/name")
    download.add_argument("--force", action="store_true", help="download again even if cached")
    download.set_defaults(handler=_download)
    publish = commands.add_parser("publish", help="upload a preset folder to the Hugging Face Hub")
    publish.add_argument("folder", help="a preset folder (keras_ser.hub.save_preset or keras-ser preset)")
    publish.add_argument("repo", help="Hub repository id, e.g. my-org/rhemo-qvgg16-finetuned")
    publish.add_argument("--private", action="store_true", help="create the repository as private")
    publish.add_argument("--token", help="Hugging Face token (default: the one of `hf auth login`)")
    publish.set_defaults(handler=_publish)
    export = commands.add_parser("export", help="export a model for deployment (audio windows in, probabilities out)")
    export.add_argument("name", help="zoo name, preset folder or hf://org/name")
    export.add_argument("--format", choices=("savedmodel", "tflite", "onnx"), default="savedmodel")
    export.add_argument("--output", help="output path (default: <name>-<format>)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output")
    export.set_defaults(handler=_export)
    preset = commands.add_parser("preset", help="turn a training run (keras-ser train or rhemo), or runs of one "
                                                "recipe with different seeds (an ensemble), into a preset folder")
    preset.add_argument("run_dir", nargs="+", help="the run directory; several keras-ser train runs that differ only "
                                                   "in their seed make an ensemble averaging their probabilities")
    preset.add_argument("folder", help="the preset folder to write")
    preset.add_argument("--name", help="preset name (default: the (first) run's name)")
    preset.add_argument("--description", default="", help="one line for the model card")
    preset.add_argument("--recipe", help="the runs' TOML configuration, named in the card's reproduction commands")
    preset.add_argument("--full-precision", action="store_true", help="store float32 weights (default: float16)")
    preset.add_argument("--no-dimension-heads", dest="dimension_heads", action="store_false",
                        help="on RH-emo runs, leave out RH-emo's valence/arousal/dominance heads (with the "
                             "thesis's 4096-unit heads they are 200 MB in float16)")
    preset.add_argument("--overwrite", action="store_true", help="replace an existing preset folder")
    preset.set_defaults(handler=_preset)
    adapt = commands.add_parser(
        "adapt", help="adapt a model to unlabelled audio of a new domain (its normaliser, optionally batch norm)")
    adapt.add_argument("model", help="zoo name, preset folder or hf://org/name")
    adapt.add_argument("audio", nargs="+", help="audio files and folders of them (labels are not needed)")
    adapt.add_argument("--out", required=True, help="the preset folder to write")
    adapt.add_argument("--batch-norm", action="store_true",
                       help="also recompute every batch-norm layer's statistics on the audio (AdaBN)")
    adapt.add_argument("--no-normalizer", dest="normalizer", action="store_false", default="auto",
                       help="keep the input normaliser's statistics (default: refit them when the model has them; "
                            "a per-window normaliser has none)")
    adapt.add_argument("--min-windows", type=int, default=20,
                       help="refuse audio giving fewer 4-s windows than this (default: 20)")
    adapt.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                       help="unreadable files: stop and name them all (default), or skip them with a warning")
    adapt.add_argument("--full-precision", action="store_true", help="store float32 weights (default: float16)")
    adapt.add_argument("--overwrite", action="store_true", help="replace an existing preset folder")
    adapt.set_defaults(handler=_adapt)
    cards = commands.add_parser("model-cards", help="print (or --write) MODEL_CARDS.md from the zoo's metadata")
    cards.add_argument("--write", metavar="PATH", help="write the text to PATH, e.g. MODEL_CARDS.md")
    cards.add_argument("--zoo", help="zoo folder (default: the installed zoo)")
    cards.set_defaults(handler=_model_cards)
    compare = commands.add_parser(
        "compare", help="add a table of scores beside other models' (e.g. the eGeMAPS baseline's) to a preset's card")
    compare.add_argument("preset", help="a preset folder (its metadata.json and README.md are rewritten)")
    compare.add_argument("--title", required=True, help="the table's title; a table of the same title is replaced")
    compare.add_argument("--note", default="", help="a paragraph under the title, e.g. what the rows were tested on")
    compare.add_argument("--row", action="append", required=True, metavar="LABEL=FILE[,FILE...]",
                         help="a row: test scores per corpus from a training run's metrics.json or a keras-ser "
                              "evaluate --out file; several files merge corpus by corpus, later ones winning")
    compare.set_defaults(handler=_compare)
    return parser


def _import_keras_quietly():
    """Import Keras (and so TensorFlow), dropping the notices its C++ libraries log at import time.

    TF_CPP_MIN_LOG_LEVEL silences TensorFlow's own INFO and WARNING lines, but not those it writes through absl
    before absl is initialised (the oneDNN notice); they are filtered out of stderr here.
    """
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not IMPORT_NOTICES.search(line)))


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    args = build_parser().parse_args(argv)
    try:
        if args.command not in KERAS_FREE_COMMANDS:
            _import_keras_quietly()
        return args.handler(args) or 0
    except (ValueError, OSError, RuntimeError) as error:
        print(f"keras-ser {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
