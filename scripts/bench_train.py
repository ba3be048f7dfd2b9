"""Time a training epoch reading sequences from the HDF5 cache against the same epoch from memory.

    python scripts/bench_train.py [--cache FEATURES.h5] [--heads gru,bigru] [--workers 1]

For each head, one epoch over the same batches runs twice: with the whole cache held in
memory, and reading every item from the HDF5 file through DataLoader workers (each with
its own handle), as `vidseq train` does for a cache over its memory budget. Each is
timed after a warm-up epoch, best of `--repeats`; the table gives training samples/s for
both and how much longer the epoch takes when reading from the file.

Without --cache, a synthetic cache of `--videos` sequences (T = `--frames`, D = 1280,
float16) is written to a temporary folder. The file is then in the OS page cache, so
this measures HDF5 reading and decoding, not the disk.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vidseq.cache import FeatureCache, video_key
from vidseq.cache_writer import CacheWriter
from vidseq.dataset import LengthBatchSampler, SequenceDataset, make_loader
from vidseq.heads import HEAD_KINDS, HeadConfig, build_head
from vidseq.labels import clip_label_set
from vidseq.loss import mean_loss

logger = logging.getLogger("bench_train")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="a feature cache with classes (default: "
                        "a synthetic one)")
    parser.add_argument("--heads", default=",".join(HEAD_KINDS),
                        help="comma-separated head kinds (default: all)")
    parser.add_argument("--hidden", type=int, default=128, help="layer width (default 128)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1,
                        help="DataLoader workers when reading from the file (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per mode")
    parser.add_argument("--videos", type=int, default=192)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        cache_path = args.cache or _synthetic_cache(Path(scratch) / "bench.h5", args.videos,
                                                    args.frames)
        cache = FeatureCache(cache_path)
        labels = clip_label_set(cache.entries)
        datasets = {
            "memory": SequenceDataset(cache, labels, in_memory=True),
            "hdf5": SequenceDataset(cache, labels, in_memory=False),
        }
        frames = sum(datasets["memory"].lengths)
        print(f"{cache_path.name}: {len(labels.keys)} videos, {frames} frames, "
              f"D={cache.feature_dim}, batch {args.batch_size}, {args.threads} torch "
              f"thread(s), {args.workers} reading worker(s)")
        print(f"{'head':8} {'memory samples/s':>17} {'hdf5 samples/s':>15} {'extra time':>11}")
        for kind in args.heads.split(","):
            rates = {mode: _samples_per_s(dataset, kind, cache.feature_dim,
                                          len(labels.class_names), args)
                     for mode, dataset in datasets.items()}
            extra = rates["memory"] / rates["hdf5"] - 1
            print(f"{kind:8} {rates['memory']:17.1f} {rates['hdf5']:15.1f} {extra:+10.1%}")
    return 0


def _samples_per_s(dataset: SequenceDataset, kind: str, feature_dim: int, num_classes: int,
                   args: argparse.Namespace) -> float:
    """Best training rate over `args.repeats` epochs, after one untimed epoch."""
    torch.manual_seed(0)
    head = build_head(HeadConfig(kind=kind, hidden=[args.hidden]), feature_dim, num_classes)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3)
    sampler = LengthBatchSampler(dataset.lengths, args.batch_size, shuffle=True, bucket=True)
    loader = make_loader(dataset, sampler, args.workers)

    best_s = float("inf")
    for epoch in range(args.repeats + 1):
        sampler.set_epoch(epoch)
        started = time.perf_counter()
        for batch in loader:
            batch = batch.to(torch.device("cpu"))  # as the training loop does
            loss = mean_loss(head(batch.sequences, batch.lengths), batch.targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if epoch > 0:
            best_s = min(best_s, time.perf_counter() - started)
    return len(dataset) / best_s


def _synthetic_cache(path: Path, num_videos: int, num_frames: int) -> Path:
    """Random float16 sequences in 4 classes, written like `vidseq extract` writes them."""
    rng = np.random.default_rng(0)
    settings = {"backbone": "synthetic", "weights": "none", "weights_sha256": "",
                "feature_dim": 1280, "input_height": 200, "input_width": 200,
                "resize": "stretch", "sampling": "uniform", "clip_len": num_frames,
                "sample_fps": 30.0, "dtype": "float16"}
    with CacheWriter(path, settings) as writer:
        for number in range(num_videos):
            relative_path = f"class_{number % 4}/video_{number:04d}.mp4"
            attrs = {"path": relative_path, "class_name": f"class_{number % 4}", "fps": 30.0,
                     "frame_count": num_frames, "width": 200, "height": 200,
                     "duration_s": num_frames / 30, "fingerprint": str(number)}
            features = rng.random((num_frames, 1280), dtype=np.float32)
            writer.add(video_key(relative_path), attrs, features,
                       np.arange(num_frames) / 30.0)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
