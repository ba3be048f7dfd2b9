"""Command-line front end of `vidseq predict`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vidseq import predict_output
from vidseq.backbone import resolve_device
from vidseq.errors import ConfigError
from vidseq.extract import set_cpu_threads
from vidseq.model_file import ModelFile, load_model
from vidseq.predict import Prediction, predict_path

log = logging.getLogger("vidseq")


def add_parsers(commands, common) -> None:
    parser = commands.add_parser(
        "predict",
        help="label videos, or a feature cache, with a trained model",
        description="Run a model from `vidseq train` over INPUT: a folder of videos "
        "(searched recursively), one video, or a feature cache. Frames are decoded and "
        "embedded exactly as for the model's training data; nothing is written except the "
        "results (and --cache). Clip models give each video a label; frame models give "
        "segments of consecutive frames with one label (or, with --frames, every frame).",
    )
    parser.add_argument("input", help="folder of videos, one video file, or an HDF5 cache "
                        "written by vidseq extract")
    parser.add_argument("--model", required=True, help="model.pt written by vidseq train")
    parser.add_argument("-o", "--output", help="write results here (CSV, or JSON Lines for "
                        "--format jsonl or a .jsonl name); default: a table on stdout")
    parser.add_argument("--format", choices=predict_output.FORMATS,
                        help="csv or jsonl (default: from the -o suffix, else csv)")
    parser.add_argument("--top-k", type=int, default=1,
                        help="clip task: also give the next best labels, up to K (default 1)")
    parser.add_argument("--frames", action="store_true",
                        help="frame task: one row per frame instead of merged segments")
    parser.add_argument("--cache", help="keep the extracted features in this HDF5 cache, "
                        "and reuse those already there on the next run")
    parser.add_argument("--weights-file", help="the backbone weights file, when the model "
                        "was trained on features from one (its sha256 must match)")
    parser.add_argument("--device", default="auto",
                        help="auto (default: CUDA when present), cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="frames per backbone batch (default: as extract picks it)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: one per core)")
    common(parser)
    parser.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else None
    fmt = predict_output.output_format(args.format, output)
    if output is not None and not output.parent.is_dir():
        raise ConfigError(f"cannot write {output}: folder {output.parent} does not exist")
    if args.batch_size < 0:
        raise ConfigError(f"--batch-size must be positive (or 0, auto); got {args.batch_size}")

    device = resolve_device(args.device)
    model = load_model(Path(args.model), device)
    _check_task_options(args, model)
    log.info("model %s: %s task, %d classes", args.model, model.task, len(model.class_names))
    set_cpu_threads(args.threads)

    predictions, summary = predict_path(
        Path(args.input),
        model,
        weights_file=Path(args.weights_file) if args.weights_file else None,
        device=str(device),
        batch_size=args.batch_size,
        cache_path=Path(args.cache) if args.cache else None,
        progress=not args.quiet,
    )
    rows, columns = _rows(predictions, model, args)

    if output is not None:
        predict_output.write(output, rows, columns, fmt)
        log.info("wrote %d rows to %s", len(rows), output)
    elif args.format is None:
        print(predict_output.table(rows, columns))
    else:
        print(predict_output.render(rows, columns, fmt), end="")
    log.info("done: %s", summary.line())
    return 1 if summary.failed else 0


def _check_task_options(args: argparse.Namespace, model: ModelFile) -> None:
    num_classes = len(model.class_names)
    if model.task == "clip":
        if args.frames:
            raise ConfigError("--frames is for frame-task models; this model labels whole "
                              "clips (task 'clip')")
        if not 1 <= args.top_k <= num_classes:
            raise ConfigError(f"--top-k {args.top_k} is not in 1..{num_classes}, the model's "
                              "number of classes")
    elif args.top_k != 1:
        raise ConfigError(f"--top-k {args.top_k} is for clip-task models; this model labels "
                          "frames (task 'frame'); use --frames for per-frame scores")


def _rows(predictions: list[Prediction], model: ModelFile, args: argparse.Namespace):
    if model.task == "clip":
        rows = predict_output.clip_rows(predictions, model.class_names, args.top_k)
        return rows, predict_output.clip_columns(args.top_k)
    if args.frames:
        rows = predict_output.frame_rows(predictions, model.class_names)
        return rows, predict_output.FRAME_COLUMNS
    rows = predict_output.segment_rows(predictions, model.class_names)
    return rows, predict_output.SEGMENT_COLUMNS
