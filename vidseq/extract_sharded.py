"""Sharded extraction: one shard with `--shard K/N`, or every rank of a `torchrun` launch.

Under torchrun each rank extracts its share into its own part cache beside the output
(`features.h5.parts/features-K-of-N.h5`), on its own GPU when there are GPUs; when all
ranks are done, rank 0 merges the parts into the output and removes them. A killed launch
re-run resumes every part, and videos already in the merged output are never redone.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from vidseq.config import ExtractConfig
from vidseq.discover import VideoSource
from vidseq.extract import ExtractSummary, extract
from vidseq.merge import merge
from vidseq.shard import assign, part_path

log = logging.getLogger(__name__)

# Ranks wait for the slowest one before the merge; extraction can take days.
_BARRIER_TIMEOUT = timedelta(days=7)


@dataclasses.dataclass(frozen=True)
class Launch:
    """This process's place in a torchrun launch."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def torchrun_launch() -> Launch | None:
    """The torchrun launch this process belongs to, or None when run on its own."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return None
    return Launch(
        rank=int(os.environ["RANK"]),
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
    )


def threads_per_rank(launch: Launch) -> int:
    """CPU threads for one rank: the cores split between the ranks on this machine.

    Threads beyond a core each would only contend with the other ranks.
    """
    return max(1, (os.cpu_count() or 1) // launch.local_world_size)


def extract_shard(sources: list[VideoSource], output: Path, config: ExtractConfig, index: int,
                  count: int, progress: bool = True) -> tuple[Path, ExtractSummary]:
    """Extract shard `index` of `count` into its part cache; returns `(part, summary)`."""
    share = assign(sources, count, config.sampling_settings)[index]
    part = part_path(output, index, count)
    log.info("shard %d/%d: %d of %d videos -> %s", index, count, len(share), len(sources), part)
    return part, extract(share, part, config, progress=progress)


def extract_torchrun(sources: list[VideoSource], output: Path, config: ExtractConfig,
                     launch: Launch, progress: bool = True) -> ExtractSummary | None:
    """This rank's part of a torchrun extraction; rank 0 merges and returns the totals.

    Other ranks return None. Every rank must call this with the same arguments.
    """
    config = _rank_config(config, launch)
    parts_dir = output.with_name(output.name + ".parts")
    part = part_path(parts_dir / output.name, launch.rank, launch.world_size)
    share = assign(sources, launch.world_size, config.sampling_settings)[launch.rank]
    log.info("rank %d/%d: %d of %d videos on %s", launch.rank, launch.world_size, len(share),
             len(sources), config.device)

    # gloo works for the barrier whatever the device; NCCL is not needed to wait.
    dist.init_process_group("gloo", timeout=_BARRIER_TIMEOUT)
    try:
        summary = extract(share, part, config, progress=progress and launch.rank == 0,
                          also_done_in=output)
        summaries: list[ExtractSummary | None] = [None] * launch.world_size
        dist.all_gather_object(summaries, summary)
        if launch.rank == 0:
            parts = sorted(parts_dir.glob(f"{output.stem}-*-of-{launch.world_size}.h5"))
            merge(parts, output)
            shutil.rmtree(parts_dir)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return _total(summaries) if launch.rank == 0 else None


def _rank_config(config: ExtractConfig, launch: Launch) -> ExtractConfig:
    """One GPU per rank, by local rank."""
    device = config.device
    if device in ("auto", "cuda") and torch.cuda.is_available():
        device = f"cuda:{launch.local_rank % torch.cuda.device_count()}"
    elif device == "auto":
        device = "cpu"
    return dataclasses.replace(config, device=device)


def _total(summaries: list[ExtractSummary]) -> ExtractSummary:
    total = ExtractSummary()
    for summary in summaries:
        total.extracted += summary.extracted
        total.cached += summary.cached
        total.failed += summary.failed
        total.frames += summary.frames
        total.seconds = max(total.seconds, summary.seconds)
        total.failures += summary.failures
    return total
