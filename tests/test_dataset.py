from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from feature_caches import order_videos, segmented_videos, write_cache, write_csv

from vidseq.cache import FeatureCache
from vidseq.dataset import (
    LengthBatchSampler,
    SequenceDataset,
    fits_in_memory,
    make_loader,
    pad_batch,
)
from vidseq.labels import clip_label_set, frame_label_set


def test_pad_batch_pads_features_with_zeros_and_frame_targets_with_minus_one():
    items = [
        (4, torch.ones(3, 2, dtype=torch.float16), np.array([0, 1, -1])),
        (7, torch.full((5, 2), 2.0, dtype=torch.float16), np.array([1, 1, 1, 0, 0])),
    ]

    batch = pad_batch(items)

    # Stored dtype across the worker boundary; float32 once on the head's device.
    assert batch.sequences.dtype == torch.float16
    batch = batch.to(torch.device("cpu"))
    assert batch.sequences.dtype == torch.float32
    assert batch.sequences.shape == (2, 5, 2)
    assert batch.sequences[0, :3].eq(1).all() and batch.sequences[0, 3:].eq(0).all()
    assert batch.lengths.tolist() == [3, 5]
    assert batch.targets.tolist() == [[0, 1, -1, -1, -1], [1, 1, 1, 0, 0]]
    assert batch.indices.tolist() == [4, 7]


def test_pad_batch_keeps_one_target_per_clip():
    items = [(0, torch.zeros(2, 3), 1), (1, torch.zeros(6, 3), 0)]

    batch = pad_batch(items)

    assert batch.targets.tolist() == [1, 0]
    assert batch.sequences.shape == (2, 6, 3)


def _epoch_batches(sampler: LengthBatchSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    return batches


@pytest.mark.parametrize("bucket", [True, False], ids=["bucketed", "plain"])
def test_every_clip_comes_once_per_epoch(bucket):
    lengths = list(np.random.default_rng(0).integers(1, 100, 103))
    sampler = LengthBatchSampler(lengths, batch_size=8, shuffle=True, bucket=bucket, seed=1)

    batches = _epoch_batches(sampler, epoch=1)

    assert sorted(index for batch in batches for index in batch) == list(range(103))
    assert all(len(batch) <= 8 for batch in batches)


def test_bucketing_cuts_padding():
    lengths = list(np.random.default_rng(0).integers(1, 300, 400))

    def padded_steps(bucket: bool) -> int:
        sampler = LengthBatchSampler(lengths, 16, shuffle=True, bucket=bucket, seed=0)
        batches = _epoch_batches(sampler, 0)
        return sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)

    assert padded_steps(bucket=True) < 0.6 * padded_steps(bucket=False)


def test_batches_are_seeded_per_epoch():
    lengths = list(range(1, 60))

    def batches(seed: int, epoch: int) -> list:
        sampler = LengthBatchSampler(lengths, 4, shuffle=True, bucket=True, seed=seed)
        return _epoch_batches(sampler, epoch)

    assert batches(0, 1) == batches(0, 1)
    assert batches(0, 1) != batches(0, 2)
    assert batches(0, 1) != batches(1, 1)


def test_ranks_get_equal_numbers_of_batches_covering_every_clip():
    lengths = list(np.random.default_rng(2).integers(1, 50, 37))
    ranks = [LengthBatchSampler(lengths, 4, shuffle=True, bucket=True, seed=0, rank=rank,
                                world_size=2) for rank in range(2)]

    per_rank = [_epoch_batches(sampler, 3) for sampler in ranks]

    assert len(per_rank[0]) == len(per_rank[1])
    seen = {index for batches in per_rank for batch in batches for index in batch}
    assert seen == set(range(37))


@pytest.fixture
def order_cache(tmp_path):
    return FeatureCache(write_cache(tmp_path / "c.h5", order_videos(3)))


def test_memory_and_disk_datasets_give_the_same_items(order_cache):
    labels = clip_label_set(order_cache.entries)
    in_memory = SequenceDataset(order_cache, labels, in_memory=True)
    from_disk = SequenceDataset(order_cache, labels, in_memory=False)

    for index in range(len(in_memory)):
        memory_item, disk_item = in_memory[index], from_disk[index]
        assert memory_item[0] == disk_item[0] == index
        assert torch.equal(memory_item[1], disk_item[1])
        assert memory_item[2] == disk_item[2]


def test_a_worker_process_reads_with_its_own_handle(order_cache):
    labels = clip_label_set(order_cache.entries)
    dataset = SequenceDataset(order_cache, labels, in_memory=False)
    sampler = LengthBatchSampler(dataset.lengths, 4, shuffle=False, bucket=True)

    batches = list(make_loader(dataset, sampler, workers=1))

    assert sorted(index for batch in batches for index in batch.indices.tolist()) == \
        list(range(6))
    first = next(batch for batch in batches if 0 in batch.indices.tolist())
    row = first.indices.tolist().index(0)
    features, _ = order_cache.read(dataset.keys[0])
    assert torch.equal(first.sequences[row, : len(features)],
                       torch.from_numpy(features).float())


def test_frame_targets_follow_the_segments(tmp_path):
    videos, rows = segmented_videos(2)
    cache = FeatureCache(write_cache(tmp_path / "c.h5", videos))
    labels = frame_label_set(cache.entries, write_csv(tmp_path / "s.csv",
                                                       "video,start,end,label", rows))
    dataset = SequenceDataset(cache, labels, in_memory=True)

    _, features, frame_labels = dataset[0]

    name, _, middle_s, first_label = rows[0]
    first_frames = round(middle_s * 10)
    assert len(frame_labels) == len(features)
    assert set(frame_labels[:first_frames]) == {labels.class_names.index(first_label)}
    assert -1 not in frame_labels


@pytest.mark.parametrize(("budget_gb", "expected", "words"),
                         [(1.0, True, "holding c.h5 in memory"),
                          (0.0, False, "reading c.h5 from disk as needed")],
                         ids=["fits", "over-budget"])
def test_memory_choice_is_logged(order_cache, caplog, budget_gb, expected, words):
    with caplog.at_level(logging.INFO):
        assert fits_in_memory(order_cache, budget_gb) is expected
    assert words in caplog.text
