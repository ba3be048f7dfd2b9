"""Benchmark `vidseq predict` against `vidseq extract` on the same folder, in one run.

Both run through the library with the same, already frozen backbone, so the figures
compare the pipelines, not the one-off model loading. Besides wall-clock frames/s, frames
per CPU-second (all threads of this process) are printed: on a machine shared with other
work, that ratio is the steadier one. Prediction decodes and embeds like
extract, then runs a head instead of writing the cache; the target is a throughput of at
least 0.9x extract's.

    python scripts/bench_predict.py [--videos 6] [--frames 300] [--head bigru]
        [--hidden 256] [--random-weights] [--repeats 1]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vidseq.backbone import Backbone
from vidseq.config import ExtractConfig
from vidseq.discover import find_videos
from vidseq.extract import cache_settings, extract
from vidseq.heads import HeadConfig, build_head
from vidseq.model_file import ModelFile
from vidseq.predict import predict_path

NUM_CLASSES = 10


def write_video(path: Path, n_frames: int, seed: int, width: int = 320, height: int = 240,
                fps: float = 30.0) -> None:
    """Blurred noise drifting across the frame, so the codec has real work to do."""
    rng = np.random.default_rng(seed)
    scene = cv2.blur(rng.integers(0, 256, (2 * height, 2 * width, 3), np.uint8), (7, 7))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for index in range(n_frames):
        top, left = index % height, (2 * index) % width
        writer.write(np.ascontiguousarray(scene[top : top + height, left : left + width]))
    writer.release()


def time_extract(folder: Path, config: ExtractConfig, backbone: Backbone, cache: Path
                 ) -> tuple[float, float]:
    """(frames per second, frames per CPU-second) of a fresh extract of `folder`."""
    cache.unlink(missing_ok=True)
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    summary = extract(find_videos(folder), cache, config, backbone, progress=False)
    return (summary.frames / (time.perf_counter() - wall_started),
            summary.frames / (time.process_time() - cpu_started))


def time_predict(folder: Path, model: ModelFile, config: ExtractConfig, backbone: Backbone
                 ) -> tuple[float, float]:
    """(frames per second, frames per CPU-second) of predicting every video in `folder`."""
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    _, summary = predict_path(folder, model, device=config.device,
                              batch_size=config.batch_size, progress=False, backbone=backbone)
    return (summary.frames / (time.perf_counter() - wall_started),
            summary.frames / (time.process_time() - cpu_started))


def report(name: str, rates: list[tuple[float, float]]) -> tuple[float, float]:
    """Print each run's rates; return the best wall and best CPU rate."""
    best_wall, best_cpu = max(rate[0] for rate in rates), max(rate[1] for rate in rates)
    runs = ", ".join(f"{wall:.1f}/{cpu:.1f}" for wall, cpu in rates)
    print(f"{name}: {best_wall:7.1f} frames/s, {best_cpu:7.1f} frames/CPU-s  (runs: {runs})")
    return best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6, help="videos in the folder")
    parser.add_argument("--frames", type=int, default=300, help="frames per video")
    parser.add_argument("--head", default="bigru", help="head kind (default bigru)")
    parser.add_argument("--hidden", type=int, default=256, help="head width (default 256)")
    parser.add_argument("--random-weights", action="store_true",
                        help="random backbone weights (default: the pretrained ones)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate extract and predict this many times; best of each")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = ExtractConfig(random_weights=args.random_weights, device="cpu")
    config.validate()
    backbone = Backbone(config.backbone, None, config.random_weights, config.device)
    head = build_head(HeadConfig(kind=args.head, hidden=[args.hidden], task="clip"),
                      backbone.feature_dim, NUM_CLASSES)
    class_names = [f"class_{number}" for number in range(NUM_CLASSES)]
    model = ModelFile(head.eval(), class_names, cache_settings(config, backbone))

    # Freeze the backbone for this frame size outside the timings.
    backbone.encode(np.zeros((2, *config.size, 3), np.uint8))
    print(f"{args.videos} videos x {args.frames} frames (320x240) -> {config.size[0]}x"
          f"{config.size[1]}, clip_len {config.clip_len}, {config.backbone} "
          f"({backbone.weights.name}), head {args.head} [{args.hidden}], "
          f"{torch.get_num_threads()} torch threads")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        for number in range(args.videos):
            write_video(folder / f"video_{number:02d}.mp4", args.frames, seed=number)

        extract_rates, predict_rates = [], []
        for repeat in range(args.repeats):
            # Alternate which goes first, so neither always gets the warmer machine.
            if repeat % 2:
                predict_rates.append(time_predict(folder, model, config, backbone))
            extract_rates.append(time_extract(folder, config, backbone, Path(tmp) / "f.h5"))
            if not repeat % 2:
                predict_rates.append(time_predict(folder, model, config, backbone))

    extract_wall, extract_cpu = report("extract", extract_rates)
    predict_wall, predict_cpu = report("predict", predict_rates)
    print(f"predict / extract = {predict_wall / extract_wall:.2f} wall, "
          f"{predict_cpu / extract_cpu:.2f} CPU (target >= 0.90)")


if __name__ == "__main__":
    main()
