"""Command-line front ends of `vidseq extract` and `vidseq info`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vidseq.cache import FeatureCache
from vidseq.config import ExtractConfig, build, read_toml
from vidseq.discover import find_videos
from vidseq.errors import ConfigError
from vidseq.extract import extract, set_cpu_threads
from vidseq.extract_sharded import (
    extract_shard,
    extract_torchrun,
    threads_per_rank,
    torchrun_launch,
)
from vidseq.merge import find_parts, merge
from vidseq.shard import parse_shard

log = logging.getLogger("vidseq")


def add_parsers(commands, common) -> None:
    parser = commands.add_parser(
        "extract",
        help="decode videos and cache their frame features in one HDF5 file",
        description="Decode every video under INPUT (a folder, searched recursively, or one "
        "file), turn each kept frame into a feature vector with a pretrained CNN, and store "
        "the sequences in one HDF5 file. Re-running resumes: videos already cached are "
        "skipped, changed ones re-extracted. A first-level subfolder name is taken as the "
        "video's class (videos/<class>/<clip>.mp4).",
    )
    parser.add_argument("input", help="folder of videos, or one video file")
    parser.add_argument("-o", "--output", default="features.h5",
                        help="the HDF5 cache to create or resume (default: features.h5)")
    parser.add_argument("--config", help="TOML file; its [extract] table sets defaults")
    add_extract_options(parser)
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: one per core)")
    parser.add_argument("--shard", metavar="K/N",
                        help="extract only shard K of N (K from 0) into OUTPUT-K-of-N.h5; "
                        "join the parts with vidseq merge")
    common(parser)
    parser.set_defaults(run=run_extract)

    info = commands.add_parser("info", help="show what a feature cache holds",
                               description="Print the videos, classes, feature size, "
                               "extraction settings and failures of a feature cache.")
    info.add_argument("cache", help="an HDF5 file written by vidseq extract")
    common(info, quiet=False)
    info.set_defaults(run=run_info)

    merger = commands.add_parser(
        "merge", help="join part caches of a sharded extraction into one cache",
        description="Merge the part caches written by `vidseq extract --shard K/N` into one "
        "cache. Parts must share their settings and must not overlap; merging again is "
        "safe.")
    merger.add_argument("parts", nargs="+", help="part files, or folders of *.h5 parts")
    merger.add_argument("-o", "--output", required=True, help="the merged cache")
    common(merger, quiet=False)
    merger.set_defaults(run=run_merge)


def add_extract_options(parser: argparse.ArgumentParser) -> None:
    """Flags that set `ExtractConfig` fields (shared with commands that extract)."""
    group = parser.add_argument_group("extraction settings")
    group.add_argument("--backbone", help="mobilenet_v2 (default), googlenet, resnet18, "
                       "resnet50 or efficientnet_b0")
    group.add_argument("--weights-file", help="load backbone weights from this local file")
    group.add_argument("--random-weights", action="store_true", default=None,
                       help="random backbone weights (smoke tests only; recorded in the cache)")
    group.add_argument("--clip-len", type=int, help="frames kept per video (default 300)")
    group.add_argument("--sampling", help="uniform (default: spread over the whole video) or "
                       "fps (a fixed rate from the start)")
    group.add_argument("--sample-fps", type=float, help="rate for --sampling fps (default 30)")
    group.add_argument("--size", type=_size, help="frame size fed to the backbone: N or HxW "
                       "(default 200)")
    group.add_argument("--resize", help="stretch (default) or crop (centre crop to aspect)")
    group.add_argument("--device", help="auto (default: CUDA when present), cpu or cuda")
    group.add_argument("--dtype", help="stored feature type: float16 (default) or float32")
    group.add_argument("--batch-size", type=int,
                       help="frames per backbone batch (default: 8 for 200x200 frames on a "
                       "CPU, fewer for larger frames; 64 on a GPU)")


def extract_config(args: argparse.Namespace) -> ExtractConfig:
    """The resolved `ExtractConfig`: defaults, then the config file, then flags."""
    table = read_toml(Path(args.config) if args.config else None).get("extract", {})
    flags = {
        "backbone": args.backbone,
        "weights_file": args.weights_file,
        "random_weights": args.random_weights,
        "clip_len": args.clip_len,
        "sampling": args.sampling,
        "sample_fps": args.sample_fps,
        "size": args.size,
        "resize": args.resize,
        "device": args.device,
        "dtype": args.dtype,
        "batch_size": args.batch_size,
    }
    return build(ExtractConfig, table, flags, "extract")


def run_extract(args: argparse.Namespace) -> int:
    config = extract_config(args)
    shard = parse_shard(args.shard) if args.shard else None
    launch = torchrun_launch()
    if shard and launch:
        raise ConfigError("--shard and torchrun both split the work; use one of them")
    if launch and launch.rank != 0:
        log.setLevel(logging.WARNING)  # one voice per launch: rank 0 reports
    sources = find_videos(Path(args.input))
    log.info("found %d videos under %s", len(sources), args.input)
    set_cpu_threads(args.threads or (threads_per_rank(launch) if launch else None))
    output = Path(args.output)

    if launch:
        summary = extract_torchrun(sources, output, config, launch, progress=not args.quiet)
        if summary is None:
            return 0
        # A finished launch exits 0 even with failed videos: torchrun reports any non-zero
        # exit as a crashed worker. The summary line and the cache list the failures.
        log.info("done: %s -> %s", summary.line(), output)
        return 0
    if shard:
        output, summary = extract_shard(sources, output, config, *shard,
                                        progress=not args.quiet)
    else:
        summary = extract(sources, output, config, progress=not args.quiet)
    log.info("done: %s -> %s", summary.line(), output)
    return 1 if summary.failed else 0


def run_merge(args: argparse.Namespace) -> int:
    output = Path(args.output)
    summary = merge(find_parts([Path(part) for part in args.parts], output), output)
    log.info("%s -> %s", summary.line(), output)
    return 0


def run_info(args: argparse.Namespace) -> int:
    with FeatureCache(Path(args.cache)) as cache:
        print(describe(cache))
    return 0


def describe(cache: FeatureCache) -> str:
    """A human-readable report of a cache's contents and settings."""
    classes: dict[str, int] = {}
    for entry in cache.entries:
        classes[entry.class_name or "(none)"] = classes.get(entry.class_name or "(none)", 0) + 1
    frames = [entry.n_frames for entry in cache.entries]
    lines = [
        f"cache:     {cache.path} (vidseq {cache.vidseq_version})",
        f"videos:    {len(cache.entries)} extracted, {len(cache.failures)} failed",
    ]
    if frames:
        lines.append(f"frames:    {sum(frames)} in all, {min(frames)}-{max(frames)} per video")
    lines.append(f"features:  {cache.settings.get('feature_dim')} x {cache.settings.get('dtype')}")
    lines.append(f"classes:   {len(classes)}")
    lines += [f"  {name}: {count}" for name, count in sorted(classes.items())]
    lines.append("settings:")
    lines += [f"  {key} = {value}" for key, value in cache.settings.items()]
    if cache.failures:
        lines.append("failures:")
        lines += [f"  {failure.path}: {failure.reason}" for failure in cache.failures]
    journal = cache.path.with_name(cache.path.name + ".journal")
    if journal.is_dir() and any(journal.glob("*.h5")):
        lines.append(f"note: {journal} holds videos of an interrupted run; re-run extract "
                     "with the same settings to add them")
    return "\n".join(lines)


def _size(value: str) -> list[int]:
    try:
        parts = [int(part) for part in value.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {value!r} is not N or HxW") from None
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"size {value!r} is not N or HxW")
    return parts * 2 if len(parts) == 1 else parts
