"""The CUDA path in a few minutes: extract on the GPU with autocast, train every head with cuDNN.

Prints extraction frames/s on CUDA beside the same extraction on the CPU, and training
samples/s per head on CUDA, with the GPU's name and the date, ready for the README.
Run it on a machine with a GPU after `make install`:

    python scripts/gpu_check.py [--out /tmp/vidseq-gpu] [--epochs 3]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import time
from pathlib import Path

import torch

from vidseq.cache import FeatureCache
from vidseq.config import ExtractConfig, TrainConfig
from vidseq.discover import find_videos
from vidseq.extract import extract
from vidseq.heads import HeadConfig
from vidseq.train import train

ROOT = Path(__file__).resolve().parent.parent


def extraction_rate(videos: Path, output: Path, device: str) -> float:
    # The CPU gets its own default batch; a GPU keeps busy with larger ones.
    config = ExtractConfig(device=device, batch_size=256 if device == "cuda" else 0)
    output.unlink(missing_ok=True)
    summary = extract(find_videos(videos), output, config, progress=False)
    return summary.frames / summary.seconds


def training_rate(cache: Path, kind: str, run_dir: Path, epochs: int) -> tuple[float, float]:
    """(samples/s, validation accuracy) for `epochs` epochs of head `kind` on CUDA."""
    head = HeadConfig(kind=kind, hidden=[256], task="clip")
    config = TrainConfig(output=str(run_dir), epochs=epochs, device="cuda", patience=0)
    with FeatureCache(cache) as opened:
        samples = epochs * len(opened.entries) * (1 - config.val_split)
    started = time.perf_counter()
    result = train(cache, head, config, progress_bar=False)
    seconds = time.perf_counter() - started
    return samples / seconds, result.metrics.get("accuracy", float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/vidseq-gpu"))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check is for a GPU machine")

    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts/make_demo_videos.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    if not (args.out / "data").is_dir():
        generator.make_demo(args.out / "data", seed=0)
    videos = args.out / "data" / "clips"

    gpu = torch.cuda.get_device_name(0)
    print(f"{datetime.date.today()} {gpu}, torch {torch.__version__}")
    cuda_fps = extraction_rate(videos, args.out / "cuda.h5", "cuda")
    cpu_fps = extraction_rate(videos, args.out / "cpu.h5", "cpu")
    print(f"extract mobilenet_v2 200x200: CUDA {cuda_fps:.0f} frames/s, CPU {cpu_fps:.0f} "
          f"frames/s ({cuda_fps / cpu_fps:.1f}x)")

    for kind in ("lstm", "gru", "bilstm", "bigru", "mean"):
        rate, accuracy = training_rate(args.out / "cuda.h5", kind, args.out / f"run-{kind}",
                                       args.epochs)
        print(f"train {kind:6s} hidden 256, {args.epochs} epochs: {rate:.0f} samples/s "
              f"(val accuracy {accuracy:.2f})")


if __name__ == "__main__":
    main()
