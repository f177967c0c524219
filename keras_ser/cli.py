"""The `keras-ser` command line."""

import argparse
import dataclasses
import sys


def _train(args):
    from keras_ser.training import load_config, train

    config = load_config(args.config)
    if args.epochs is not None:
        config.training.epochs = args.epochs
    run_dir = args.run_dir or f"runs/{config.name}"
    metrics = train(config, run_dir, restart=args.restart)
    test = metrics["test"]
    print(f"{config.name}: test accuracy {test['accuracy']:.4f}, UAR {test['uar']:.4f} -> {run_dir}")


def _experiment(args):
    from keras_ser.training.experiment import run_experiment

    summary = run_experiment(args.name, runs_dir=args.runs_dir)
    print(f"summary written to {args.runs_dir}/{summary['name']}/summary.md")


def _rhemo(args):
    from keras_ser.models.rhemo import STAGE1, STAGE2
    from keras_ser.training.rhemo_recipe import train_rhemo

    metrics = train_rhemo(
        args.corpora, args.run_dir, variant=args.variant, seed=args.seed,
        stage1=dataclasses.replace(STAGE1, epochs=args.stage1_epochs) if args.stage1_epochs else None,
        stage2=dataclasses.replace(STAGE2, epochs=args.stage2_epochs) if args.stage2_epochs else None,
        max_items=args.max_items,
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
    tuner = tune(args.config, args.max_trials, tuner=args.tuner, directory=args.directory)
    if role() == "worker":
        print(f"worker {os.environ['KERASTUNER_TUNER_ID']}: no trials left")
    else:
        print(f"{len(tuner.oracle.trials)} trials; results in {args.directory}/{tuner.hypermodel.name}")


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-ser", description="Speech emotion recognition with Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a run configuration (TOML) into a run directory")
    train.add_argument("config", help="path of the TOML run configuration")
    train.add_argument("--run-dir", help="where the run is written (default: runs/<name>)")
    train.add_argument("--epochs", type=int, help="override training.epochs")
    train.add_argument("--restart", action="store_true", help="discard an existing run directory and start over")
    train.set_defaults(handler=_train)
    experiment = commands.add_parser("experiment", help="run every configuration of an experiment and summarise it")
    experiment.add_argument("name", help="an experiment in experiments/ (e.g. table4_1_emodb) or a .toml path")
    experiment.add_argument("--runs-dir", default="runs", help="where runs and the summary go (default: runs)")
    experiment.set_defaults(handler=_experiment)
    rhemo = commands.add_parser("rhemo", help="train RH-emo on corpora and save its encoder for data.features='rhemo'")
    rhemo.add_argument("corpora", nargs="+", help="corpus names, e.g. ravdess tess")
    rhemo.add_argument("--run-dir", default="runs/rhemo", help="where it is written (default: runs/rhemo)")
    rhemo.add_argument("--variant", default="full", help="RH-emo variant (full or an ablation of Fig. 6.3)")
    rhemo.add_argument("--stage1-epochs", type=int, default=500, help="stage 1 epoch limit (0 skips the stage)")
    rhemo.add_argument("--stage2-epochs", type=int, default=500, help="stage 2 epoch limit (0 skips the stage)")
    rhemo.add_argument("--max-items", type=int, default=0, help="use at most this many files per corpus")
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
    tune.add_argument("--directory", default="runs/tuning", help="project folder parent (default: runs/tuning)")
    roles = tune.add_mutually_exclusive_group()
    roles.add_argument("--chief", action="store_true", help="serve the oracle to workers (distributed search)")
    roles.add_argument("--worker", type=int, metavar="N", help="run trials as worker N of a chief")
    tune.add_argument("--oracle-ip", default="127.0.0.1", help="the chief's address (default: 127.0.0.1)")
    tune.add_argument("--oracle-port", type=int, default=8000, help="the chief's port (default: 8000)")
    tune.set_defaults(handler=_tune)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"keras-ser {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
