"""Feeding cached sequences to a head: a Dataset, length-bucketed batches, padding.

A cache small enough for the memory budget is read once and held in memory (as stored,
float16 by default); a larger one is read per item, each DataLoader worker through its own
HDF5 handle.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, get_worker_info

from vidseq.cache import FeatureCache
from vidseq.labels import IGNORE_LABEL, LabelSet

log = logging.getLogger(__name__)

# Batches are cut from pools of this many batches' worth of clips, sorted by length: enough
# to group similar lengths, few enough that batch contents still vary from epoch to epoch.
_POOL_BATCHES = 50


class Batch(NamedTuple):
    """A padded batch.

    sequences: `(B, T, D)`, zero after each clip's end; in the cache's dtype (float16 by
        default, half the bytes from a loader worker) until `to()` makes it float32.
    lengths: `(B,)` int64 real steps per clip.
    targets: `(B,)` int64 class ids (clip task) or `(B, T)` int64 per step, -1 where a step
        is padding or unlabelled (frame task).
    indices: `(B,)` int64 dataset indices of the clips.
    """

    sequences: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    indices: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        """The batch on `device`, its sequences float32 for the head."""
        batch = self
        if device.type != "cpu":
            batch = Batch(*(tensor.to(device, non_blocking=True) for tensor in self))
        return batch._replace(sequences=batch.sequences.float())


class SequenceDataset(Dataset):
    """The labelled videos of a cache; item i is `(index, features (T, D), target)`.

    `features` is a tensor of the stored dtype; `target` is an int (clip task) or a
    `(T,)` int64 array (frame task, -1 on unlabelled frames).
    """

    def __init__(self, cache: FeatureCache, label_set: LabelSet, in_memory: bool):
        self.cache = cache
        self.label_set = label_set
        self.keys = list(label_set.keys)
        frames_by_key = {entry.key: entry.n_frames for entry in cache.entries}
        self.lengths = [frames_by_key[key] for key in self.keys]
        self.in_memory = in_memory
        self._items = [self._read(index) for index in range(len(self.keys))] if in_memory \
            else None
        self.crop_fraction = 0.0

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int):
        item = self._items[index] if self._items is not None else self._read(index)
        if self.crop_fraction > 0:
            item = _random_crop(item, self.crop_fraction)
        return item

    def targets_of(self, index: int):
        """The target of item `index` without its features (reads timestamps when framed)."""
        if self.label_set.task == "clip":
            return self.label_set.clip_labels[self.keys[index]]
        if self._items is not None:
            return self._items[index][2]
        return self._read(index)[2]

    def _read(self, index: int):
        key = self.keys[index]
        features, timestamps_s = self.cache.read(key)
        if self.label_set.task == "clip":
            target = self.label_set.clip_labels[key]
        else:
            target = self.label_set.frame_labels(key, timestamps_s)
        return index, torch.from_numpy(features), target


def _random_crop(item: tuple, min_fraction: float) -> tuple:
    """The item cut to a random run of at least `min_fraction` of its steps (targets too)."""
    index, features, target = item
    num_steps = len(features)
    shortest = max(1, math.ceil(min_fraction * num_steps))
    # torch's generator: seeded with the run, and per worker by the DataLoader.
    kept = int(torch.randint(shortest, num_steps + 1, ()))
    start = int(torch.randint(0, num_steps - kept + 1, ()))
    if isinstance(target, np.ndarray):
        target = target[start : start + kept]
    return index, features[start : start + kept], target


def fits_in_memory(cache: FeatureCache, budget_gb: float) -> bool:
    """Whether to hold `cache`'s sequences in memory; says which in the log."""
    size_gb = cache.nbytes() / 1e9
    if size_gb <= budget_gb:
        log.info("holding %s in memory (%.2f GB of features, budget %.1f GB)", cache.path.name,
                 size_gb, budget_gb)
        return True
    log.info("reading %s from disk as needed (%.2f GB of features, over the %.1f GB budget)",
             cache.path.name, size_gb, budget_gb)
    return False


def pad_batch(items: list) -> Batch:
    """Collate `(index, features (T, D), target)` items into a `Batch` padded to the longest."""
    lengths = torch.tensor([len(features) for _, features, _ in items], dtype=torch.int64)
    num_steps = int(lengths.max())
    feature_dim = items[0][1].shape[1]
    sequences = torch.zeros(len(items), num_steps, feature_dim, dtype=items[0][1].dtype)
    for row, (_, features, _) in enumerate(items):
        sequences[row, : len(features)] = features

    first_target = items[0][2]
    if isinstance(first_target, np.ndarray):
        targets = torch.full((len(items), num_steps), IGNORE_LABEL, dtype=torch.int64)
        for row, (_, _, frame_labels) in enumerate(items):
            targets[row, : len(frame_labels)] = torch.from_numpy(frame_labels)
    else:
        targets = torch.tensor([target for _, _, target in items], dtype=torch.int64)

    indices = torch.tensor([index for index, _, _ in items], dtype=torch.int64)
    return Batch(sequences, lengths, targets, indices)


class LengthBatchSampler(Sampler):
    """Batches of dataset indices, optionally grouped by length to cut padding.

    The epoch's indices come from a `DistributedSampler` (seeded by `seed` and the epoch,
    this rank's share when `world_size > 1`, all of them otherwise). With `bucket`, they
    are sorted by length within pools of a few dozen batches before being cut into
    batches; the batch order is then shuffled. Every rank gets the same number of
    batches, as DistributedDataParallel needs.
    """

    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        shuffle: bool,
        bucket: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.lengths = lengths
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = bucket
        self.seed = seed
        self.epoch = 0
        self._indices = DistributedSampler(
            range(len(lengths)), num_replicas=world_size, rank=rank, shuffle=shuffle,
            seed=seed,
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._indices.set_epoch(epoch)

    def __len__(self) -> int:
        share = len(self._indices)
        pool_size = self.batch_size * _POOL_BATCHES if self.bucket else max(share, 1)
        full_pools, rest = divmod(share, pool_size)
        return full_pools * _ceil_div(pool_size, self.batch_size) + _ceil_div(
            rest, self.batch_size)

    def __iter__(self):
        indices = list(self._indices)
        if not self.bucket:
            yield from _chunks(indices, self.batch_size)
            return

        batches = []
        pool_size = self.batch_size * _POOL_BATCHES
        for pool in _chunks(indices, pool_size):
            pool.sort(key=lambda index: self.lengths[index])
            batches += _chunks(pool, self.batch_size)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 10_007 + self.epoch)
            order = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[position] for position in order]
        yield from batches


def make_loader(
    dataset: SequenceDataset,
    batch_sampler: LengthBatchSampler,
    workers: int,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of `Batch`es; workers only when reading from disk.

    Limitations: reading from disk still costs the lightest heads (lstm, gru) 8-20% over
    training from memory (bench_train.py, 2026-12-04); the heavier heads 1-3%.
    """
    num_workers = 0 if dataset.in_memory else workers
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        collate_fn=pad_batch,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
        worker_init_fn=_init_worker if num_workers > 0 else None,
    )


def _init_worker(worker_id: int) -> None:
    # A forked worker must not share the parent's HDF5 handle. Copying goes through
    # FeatureCache.__getstate__, which leaves the handle behind, so the copy opens its own.
    dataset = get_worker_info().dataset
    dataset.cache = copy.copy(dataset.cache)
    # Workers only read and pad; the cores are the head's.
    torch.set_num_threads(1)


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]
