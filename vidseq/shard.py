"""Splitting a folder of videos into balanced shards, and naming their part caches.

Every process computes the same assignment from the same file list, so no coordinator is
needed: `--shard K/N` on sixteen machines, or `torchrun` ranks, each take their own share.
"""

from __future__ import annotations

import heapq
import logging
from pathlib import Path

import cv2

from vidseq.discover import VideoSource
from vidseq.errors import ConfigError
from vidseq.video import Sampling

log = logging.getLogger(__name__)

# Decoding one frame costs about a tenth of running MobileNetV2 on it (measured on a
# 2-core CPU, bench_extract.py); every frame is decoded, only sampled ones are encoded.
_DECODE_SHARE = 0.1


def parse_shard(text: str) -> tuple[int, int]:
    """`"3/16"` -> `(3, 16)`; K counts from 0."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"shard {text!r} is not K/N (for example 3/16)") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {text!r} needs 0 <= K < N")
    return index, count


def part_path(output: Path, index: int, count: int) -> Path:
    """The part cache of shard `index` of `count`: features.h5 -> features-03-of-16.h5."""
    width = len(str(count - 1))
    return output.with_name(f"{output.stem}-{index:0{width}d}-of-{count}{output.suffix}")


def expected_work(source: VideoSource, sampling: Sampling) -> float:
    """Roughly how many backbone-frames of work a video is, from its header alone."""
    capture = cv2.VideoCapture(str(source.video_path))
    try:
        frame_count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    finally:
        capture.release()
    if frame_count == 0:
        return 1.0  # unreadable or unknown: cheap to fail, or a guess either way
    if sampling.mode == "uniform":
        return min(sampling.clip_len, frame_count) + _DECODE_SHARE * frame_count
    read = min(frame_count, sampling.clip_len * fps / sampling.sample_fps)
    return min(sampling.clip_len, read) + _DECODE_SHARE * read


def assign(sources: list[VideoSource], count: int, sampling: Sampling) -> list[list[VideoSource]]:
    """Split `sources` into `count` shards of near-equal expected work.

    Largest first, each to the least-loaded shard (ties to the lower shard index); each
    shard keeps the sorted order. Deterministic for the same files.
    """
    weighted = sorted(
        ((expected_work(source, sampling), source.relative_path, source) for source in sources),
        key=lambda item: (-item[0], item[1]),
    )
    loads = [(0.0, index) for index in range(count)]
    shards: list[list[VideoSource]] = [[] for _ in range(count)]
    for work, _, source in weighted:
        load, index = heapq.heappop(loads)
        shards[index].append(source)
        heapq.heappush(loads, (load + work, index))
    for shard in shards:
        shard.sort(key=lambda source: source.relative_path)
    return shards
