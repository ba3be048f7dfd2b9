"""Benchmark `vidseq extract` against its two unavoidable costs, side by side in one run.

Prints decode-only, backbone-only and end-to-end frames/s on the same videos, the ratio of
end-to-end to the serial bound 1 / (1/decode + 1/backbone), the backbone's GFLOP/s
against a large matmul, and the peak memory of extracting a long vs a short video.

    python scripts/bench_extract.py [--videos 6] [--frames 300] [--long-minutes 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vidseq.backbone import Backbone
from vidseq.config import ExtractConfig
from vidseq.discover import find_videos
from vidseq.extract import extract
from vidseq.video import Decoder

# The batch a GPU gets, and vidseq's CPU default before it measured smaller ones.
_LARGE_BATCH = 64


def write_video(path: Path, n_frames: int, size=(320, 240), fps=30.0, seed=0) -> None:
    """A moving textured scene, so the codec has real work (not flat frames)."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (size[1] * 2, size[0] * 2, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(texture, (9, 9), 3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for index in range(n_frames):
        x, y = (3 * index) % size[0], (2 * index) % size[1]
        writer.write(np.ascontiguousarray(texture[y : y + size[1], x : x + size[0]]))
    writer.release()


def decode_rate(decoder: Decoder, paths: list[Path]) -> tuple[float, list[np.ndarray]]:
    started = time.perf_counter()
    clips = [decoder.decode(path).frames_rgb for path in paths]
    frames = sum(len(clip) for clip in clips)
    return frames / (time.perf_counter() - started), clips


def backbone_rate(backbone: Backbone, clips: list[np.ndarray], batch_size: int) -> float:
    frames = np.concatenate(clips)
    backbone.encode(frames[:batch_size])  # freeze and warm up outside the timing
    started = time.perf_counter()
    for start in range(0, len(frames), batch_size):
        backbone.encode(frames[start : start + batch_size])
    return len(frames) / (time.perf_counter() - started)


def extract_rate(folder: Path, config: ExtractConfig, backbone: Backbone, out: Path) -> float:
    started = time.perf_counter()
    summary = extract(find_videos(folder), out, config, backbone, progress=False)
    return summary.frames / (time.perf_counter() - started)


def gflops(backbone: Backbone, size: list[int], batch_size: int) -> tuple[float, float]:
    """(backbone GFLOP/s, matmul GFLOP/s), measured now, one after the other."""
    frames = torch.zeros((batch_size, *size, 3), dtype=torch.uint8)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        backbone._model(frames)
    flops_per_batch = counter.get_total_flops()
    numpy_frames = frames.numpy()
    backbone.encode(numpy_frames)
    started = time.perf_counter()
    for _ in range(5):
        backbone.encode(numpy_frames)
    backbone_gflops = 5 * flops_per_batch / (time.perf_counter() - started) / 1e9

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.matmul(a, b)
    started = time.perf_counter()
    for _ in range(10):
        torch.matmul(a, b)
    matmul_gflops = 10 * 2 * 2048**3 / (time.perf_counter() - started) / 1e9
    return backbone_gflops, matmul_gflops


def peak_rss_mb(folder: Path, out: Path) -> float:
    """Peak resident memory of a `vidseq extract` subprocess, in MB."""
    script = (
        "import resource, sys; from vidseq.cli import main; "
        f"main(['extract', {str(folder)!r}, '-o', {str(out)!r}, '-q']); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    return int(result.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    config = ExtractConfig()
    config.validate()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "videos"
        folder.mkdir()
        paths = [folder / f"v{number}.mp4" for number in range(args.videos)]
        for number, path in enumerate(paths):
            write_video(path, args.frames, seed=number)

        decoder = Decoder(config.sampling_settings, tuple(config.size), config.resize)
        backbone = Backbone(config.backbone, device=config.device)
        print(f"{args.videos} videos x {args.frames} frames, 320x240 -> "
              f"{config.size[0]}x{config.size[1]}, {config.backbone}, "
              f"{torch.get_num_threads()} torch threads")

        # Rounds interleave the three measurements so that load from other work on a
        # shared machine hits them alike; the median of each is reported.
        batch_size = backbone.batch_size_for(config.size)
        rates = []
        for number in range(args.rounds):
            decode_fps, clips = decode_rate(decoder, paths)
            rates.append((decode_fps, backbone_rate(backbone, clips, batch_size),
                          extract_rate(folder, config, backbone, root / f"f{number}.h5"),
                          backbone_rate(backbone, clips, _LARGE_BATCH)))
        decode_fps, backbone_fps, end_to_end_fps, large_batch_fps = np.median(
            np.array(rates), axis=0)
        bound = 1 / (1 / decode_fps + 1 / backbone_fps)
        print(f"decode only      {decode_fps:8.1f} frames/s")
        print(f"backbone only    {backbone_fps:8.1f} frames/s")
        print(f"serial bound     {bound:8.1f} frames/s")
        print(f"vidseq extract   {end_to_end_fps:8.1f} frames/s")
        print(f"end-to-end / serial bound = {end_to_end_fps / bound:.2f} (target >= 0.85)")
        print(f"decode share of per-frame cost = {backbone_fps / (decode_fps + backbone_fps):.0%}")
        print(f"backbone batch {batch_size} (vidseq's pick) vs {_LARGE_BATCH}: "
              f"{backbone_fps:.1f} vs {large_batch_fps:.1f} frames/s = "
              f"{backbone_fps / large_batch_fps:.2f}x")

        backbone_gflops, matmul_gflops = gflops(backbone, config.size, batch_size)
        print(f"backbone {backbone_gflops:.1f} GFLOP/s vs matmul {matmul_gflops:.1f} GFLOP/s "
              f"= {backbone_gflops / matmul_gflops:.0%} of peak")

        short_dir, long_dir = root / "short", root / "long"
        short_dir.mkdir()
        long_dir.mkdir()
        write_video(short_dir / "short.mp4", 300, size=(160, 120))
        write_video(long_dir / "long.mp4", int(args.long_minutes * 60 * 30), size=(160, 120))
        short_mb = peak_rss_mb(short_dir, root / "short.h5")
        long_mb = peak_rss_mb(long_dir, root / "long.h5")
        print(f"peak memory: 10 s video {short_mb:.0f} MB, {args.long_minutes:g} min video "
              f"{long_mb:.0f} MB, difference {long_mb - short_mb:+.0f} MB (target <= 200)")


if __name__ == "__main__":
    main()
