"""Running one training on several processes with `torchrun` (DistributedDataParallel).

`torchrun --nproc_per_node=N -m vidseq train ...` starts N copies of the command and sets
`RANK`, `LOCAL_RANK`, `WORLD_SIZE` and the rendezvous address in their environment. Each
process trains on its share of the batches; gradients are averaged across processes
(gloo on the CPU, NCCL on CUDA GPUs, one GPU per process) and only rank 0 writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger(__name__)


@dataclass
class Processes:
    """Where this process stands among the processes of one training."""

    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


def start(device: torch.device) -> Processes:
    """Join the process group when launched by torchrun; otherwise a single process.

    On CUDA each process takes the GPU of its local rank.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes(device)

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend)
    log.info("process %d of %d on %s (%s)", rank, world_size, device, backend)
    return Processes(device, rank, local_rank, world_size)


def stop(processes: Processes) -> None:
    if processes.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(head: nn.Module, processes: Processes) -> nn.Module:
    """The head as trained: wrapped in DistributedDataParallel when distributed."""
    if not processes.is_distributed:
        return head
    device_ids = [processes.device.index] if processes.device.type == "cuda" else None
    return DistributedDataParallel(head, device_ids=device_ids)


def sum_across(values: list[float], processes: Processes) -> list[float]:
    """Element-wise sums of `values` over all processes (the values themselves when alone)."""
    if not processes.is_distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=processes.device)
    dist.all_reduce(tensor)
    return tensor.tolist()
