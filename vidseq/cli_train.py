"""Command-line front ends of `vidseq train`, `vidseq evaluate` and `vidseq summary`."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from vidseq import distributed
from vidseq.config import TrainConfig, build, read_toml
from vidseq.errors import ConfigError
from vidseq.evaluate import evaluate_cache, resolve_device
from vidseq.heads import HeadConfig, build_head
from vidseq.run_files import CONFIG_FILE
from vidseq.summary import summarize
from vidseq.train import set_torch_threads, train

log = logging.getLogger("vidseq")


def add_parsers(commands, common) -> None:
    parser = commands.add_parser(
        "train",
        help="train a recurrent head on a feature cache",
        description="Train a head on the sequences of a feature cache, for one label per "
        "video (--task clip) or one per frame (--task frame, with --segments). Settings "
        "come from the [train] and [train.head] tables of --config, then from flags. The "
        "run folder gets model.pt (best epoch), last.pt, config.toml, history.csv, "
        "metrics.json, the confusion matrix (CSV, PNG) and curves.png. Under "
        "`torchrun --nproc_per_node=N -m vidseq train ...` the processes share the batches.",
    )
    parser.add_argument("cache", help="the training cache (HDF5 from vidseq extract)")
    parser.add_argument("-o", "--output", help="run folder for the model and reports")
    parser.add_argument("--config", help="TOML file with [train] and [train.head] tables")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in -o from its last.pt, with its config.toml "
                        "(flags given now override it, e.g. --epochs to train longer)")
    _add_head_options(parser)
    _add_train_options(parser)
    common(parser)
    parser.set_defaults(run=run_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a trained model on a labelled feature cache",
        description="Score model.pt on the labelled videos of a cache and print the "
        "metrics as JSON. The cache must have been extracted with the model's settings.",
    )
    evaluate.add_argument("cache", help="a cache extracted like the model's training cache")
    evaluate.add_argument("--model", required=True, help="model.pt from vidseq train")
    evaluate.add_argument("--labels", help="CSV video,label (clip task; default: the cache's "
                          "class folders)")
    evaluate.add_argument("--segments", help="CSV video,start,end,label in seconds (frame task)")
    evaluate.add_argument("--batch-size", type=int, default=32, help="videos per batch "
                          "(default 32)")
    evaluate.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    evaluate.add_argument("--threads", type=int, default=0,
                          help="torch CPU threads (default: 1 on the CPU)")
    common(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    summary = commands.add_parser(
        "summary",
        help="print a head's layers, output shapes and parameter counts",
        description="Print the layers of the head that a config and flags describe, with "
        "output shapes and parameter counts, like Keras' model.summary().",
    )
    summary.add_argument("--config", help="TOML file with a [train.head] table")
    summary.add_argument("--input-dim", type=int, default=1280,
                         help="feature width D (default 1280, MobileNetV2's)")
    summary.add_argument("--classes", type=int, required=True, help="number of classes")
    summary.add_argument("--clip-len", type=int, default=300, help="steps T (default 300)")
    summary.add_argument("--batch-size", type=int, help="batch size to show (default: None)")
    _add_head_options(summary)
    common(summary, quiet=False)
    summary.set_defaults(run=run_summary)


def _add_head_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("head ([train.head] table)")
    group.add_argument("--head", dest="kind", help="lstm, gru, bilstm, bigru (default) or mean "
                       "(order-blind baseline)")
    group.add_argument("--hidden", type=_widths, help="layer widths, first to last, e.g. "
                       "128 or 128,256 (default 128)")
    group.add_argument("--dropout", type=float, help="between layers and before the "
                       "classifier (default 0.2)")
    group.add_argument("--merge", help="bidirectional merge: concat (default), sum, mul, ave")
    group.add_argument("--pooling", help="clip task: last (default), mean or attention")
    group.add_argument("--task", help="clip (one label per video, default) or frame")
    group.add_argument("--pool-steps", type=int, help="average runs of this many steps "
                       "before the layers (default 1: off)")
    group.add_argument("--center", action=argparse.BooleanOptionalAction,
                       help="subtract each clip's mean feature, so the head sees change "
                       "rather than appearance (default off)")


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training ([train] table)")
    group.add_argument("--labels", help="CSV video,label (default: the cache's class folders)")
    group.add_argument("--segments", help="frame task: CSV video,start,end,label in seconds")
    group.add_argument("--val", help="a validation cache (default: split off --val-split)")
    group.add_argument("--val-labels", help="clip labels CSV for the --val cache (default: "
                       "--labels, or its class folders)")
    group.add_argument("--val-segments", help="segments CSV for the --val cache (default: "
                       "--segments)")
    group.add_argument("--val-split", type=float, help="fraction of videos held out for "
                       "validation, stratified by class (default 0.2)")
    group.add_argument("--epochs", type=int, help="most epochs to train (default 30)")
    group.add_argument("--batch-size", type=int, help="videos per batch (default 16)")
    group.add_argument("--lr", type=float, help="AdamW learning rate (default 3e-3)")
    group.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0.01)")
    group.add_argument("--schedule", help="cosine (default) or constant, after a warm-up")
    group.add_argument("--warmup-epochs", type=int, help="linear warm-up epochs (default 1)")
    group.add_argument("--grad-clip", type=float, help="gradient norm limit, 0 for none "
                       "(default 1)")
    group.add_argument("--patience", type=int, help="stop after this many epochs without a "
                       "better validation metric, 0 never (default 10)")
    group.add_argument("--metric", help="validation metric to keep the best epoch by: auto "
                       "(accuracy for clips, f1@25 for frames), macro_f1, edit_score, ...")
    group.add_argument("--class-weights", action=argparse.BooleanOptionalAction,
                       help="weight the loss inversely to class frequency (default off)")
    group.add_argument("--seed", type=int, help="seed for the split, init and order (default 0)")
    group.add_argument("--device", help="auto (default: CUDA when present), cpu or cuda")
    group.add_argument("--amp", action=argparse.BooleanOptionalAction,
                       help="mixed precision on CUDA (default on)")
    group.add_argument("--threads", type=int, help="torch CPU threads per process (default: 1)")
    group.add_argument("--workers", type=int, help="DataLoader processes when reading from "
                       "disk (default 1)")
    group.add_argument("--memory-budget-gb", type=float, help="hold the cache in memory when "
                       "its features fit (default 4)")
    group.add_argument("--bucket", action=argparse.BooleanOptionalAction,
                       help="batch clips of similar length together (default on)")
    group.add_argument("--temporal-crop", type=float, help="augmentation: train on a random "
                       "run of at least this fraction of each clip (default 0: off)")


def train_configs(args: argparse.Namespace) -> tuple[HeadConfig, TrainConfig]:
    """The resolved head and training settings: defaults, the config file, then flags.

    With --resume the file is the run's own config.toml.
    """
    if args.resume and args.config:
        raise ConfigError("--resume reads the run's own config.toml; drop --config (flags "
                          "still override it)")
    config_file = Path(args.config) if args.config else None
    if args.resume and args.output and (Path(args.output) / CONFIG_FILE).is_file():
        config_file = Path(args.output) / CONFIG_FILE
    table = dict(read_toml(config_file).get("train", {}))
    head_table = table.pop("head", {})

    head_config = build(HeadConfig, head_table, _head_flags(args), "train.head")
    train_flags = {name: getattr(args, name) for name in _TRAIN_FLAGS}
    train_flags["output"] = args.output
    return head_config, build(TrainConfig, table, train_flags, "train")


def run_train(args: argparse.Namespace) -> int:
    if distributed.launched_rank() != 0:
        log.setLevel(logging.WARNING)
    head_config, config = train_configs(args)
    result = train(Path(args.cache), head_config, config, resume=args.resume,
                   progress_bar=not args.quiet)
    if result.metrics:
        log.info("done in %.0f s: best epoch %d of %d, validation %s %.4f; model in %s",
                 result.seconds, result.best_epoch, result.epochs_run, result.metric,
                 result.metrics[result.metric], result.run_dir / "model.pt")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    set_torch_threads(args.threads, device)
    metrics = evaluate_cache(
        Path(args.model), Path(args.cache),
        labels_csv=Path(args.labels) if args.labels else None,
        segments_csv=Path(args.segments) if args.segments else None,
        batch_size=args.batch_size, device=args.device,
    )
    print(json.dumps(metrics, indent=2))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    table = read_toml(Path(args.config) if args.config else None).get("train", {})
    head_config = build(HeadConfig, table.get("head", {}), _head_flags(args), "train.head")
    head = build_head(head_config, args.input_dim, args.classes)
    print(summarize(head, args.input_dim, args.clip_len, args.batch_size))
    return 0


_TRAIN_FLAGS = ("labels", "segments", "val", "val_labels", "val_segments", "val_split", "epochs",
                "batch_size", "lr",
                "weight_decay", "schedule", "warmup_epochs", "grad_clip", "patience", "metric",
                "class_weights", "seed", "device", "amp", "threads", "workers",
                "memory_budget_gb", "bucket", "temporal_crop")


def _head_flags(args: argparse.Namespace) -> dict:
    names = ("kind", "hidden", "dropout", "merge", "pooling", "task", "pool_steps", "center")
    return {name: getattr(args, name) for name in names}


def _widths(value: str) -> list[int]:
    try:
        widths = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"hidden {value!r} is not a comma-separated list of "
                                         "layer widths, e.g. 128 or 128,256") from None
    return widths
