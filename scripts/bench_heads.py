"""Prove the heads model time: every head on the demo caches, validation and unseen-test scores.

    python scripts/demo.py --out demo          # once: videos, caches, test caches
    python scripts/bench_heads.py --demo demo [--epochs 40]

Clip task: each head kind trains with `configs/clip_bigru.toml` (only the kind changes),
plus the BiGRU without centring, step pooling and temporal crops, to show what those add.
The demo's classes come in pairs that differ only in frame order, so the order-blind
`mean` head can at best name the pair: 50%. The "order" columns isolate what only
frame order can tell: of the clips whose pair a head named right, the share it also gave
the right direction (chance: 50%). Frame task: the BiGRU of
`configs/frame_bigru.toml` against the `mean` head, which there is a per-frame classifier
without temporal context. Scores: the validation split of the best epoch, then the unseen
test videos of the demo (another seed). Runs go to DEMO/bench_heads/ and are redone each
time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from vidseq.cli import main as vidseq
from vidseq.evaluate import evaluate_cache

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from make_demo_videos import CLASS_MOTIONS  # noqa: E402
CLIP_RUNS = {
    "lstm": ["--head", "lstm"],
    "gru": ["--head", "gru"],
    "bilstm": ["--head", "bilstm"],
    "bigru": ["--head", "bigru"],
    "mean (order-blind)": ["--head", "mean", "--no-center", "--pool-steps", "1"],
    "bigru, plain": ["--head", "bigru", "--no-center", "--pool-steps", "1",
                     "--temporal-crop", "0"],
}
FRAME_RUNS = {
    "bigru": ["--head", "bigru"],
    "mean (per frame)": ["--head", "mean"],
}


def train_and_score(name: str, cache: Path, test_cache: Path, run_dir: Path,
                    options: list[str], **test_labels) -> tuple[dict, dict, float]:
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    status = vidseq(["train", str(cache), "-o", str(run_dir), "-q", *options])
    if status != 0:
        sys.exit(f"training {name!r} failed with status {status}")
    seconds = time.perf_counter() - started
    val = json.loads((run_dir / "metrics.json").read_text())
    test = evaluate_cache(run_dir / "model.pt", test_cache, **test_labels)
    return val, test, seconds


def order_accuracy(metrics: dict) -> float:
    """Of the clips whose motion (pair) was named right, the share in the right direction."""
    motions = [CLASS_MOTIONS[name][0] for name in metrics["class_names"]]
    right_pair = right_class = 0
    for true, row in enumerate(metrics["confusion_matrix"]):
        for predicted, count in enumerate(row):
            if motions[predicted] == motions[true]:
                right_pair += count
                right_class += count if predicted == true else 0
    return right_class / right_pair if right_pair else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("demo"))
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    demo, configs = args.demo, ROOT / "configs"
    for needed in ("clips.h5", "test_clips.h5", "frames.h5", "test_frames.h5"):
        if not (demo / needed).is_file():
            sys.exit(f"{demo / needed} is missing: run `python scripts/demo.py --out {demo}`")
    runs = demo / "bench_heads"
    epochs = ["--epochs", str(args.epochs)]

    print("clip task                       validation (order)   unseen test (order)   train s")
    for name, options in CLIP_RUNS.items():
        val, test, seconds = train_and_score(
            name, demo / "clips.h5", demo / "test_clips.h5", runs / f"clip-{name.split()[0]}"
            f"{'-plain' if 'plain' in name else ''}",
            ["--config", str(configs / "clip_bigru.toml"), *epochs, *options])
        print(f"  {name:<28} {val['accuracy']:>9.1%} ({order_accuracy(val):>6.1%})"
              f" {test['accuracy']:>12.1%} ({order_accuracy(test):>6.1%}) {seconds:>9.0f}",
              flush=True)

    segments = demo / "train" / "frames" / "segments.csv"
    test_segments = demo / "test" / "frames" / "segments.csv"
    print("frame task (F1@25, frame acc.)  validation   unseen test   train s")
    for name, options in FRAME_RUNS.items():
        val, test, seconds = train_and_score(
            name, demo / "frames.h5", demo / "test_frames.h5", runs / f"frame-{name.split()[0]}",
            ["--config", str(configs / "frame_bigru.toml"), "--segments", str(segments),
             *epochs, *options], segments_csv=test_segments)
        print(f"  {name:<22} {val['f1@25']:>5.1f} {val['frame_accuracy']:>4.0%}"
              f"  {test['f1@25']:>7.1f} {test['frame_accuracy']:>4.0%} {seconds:>9.0f}",
              flush=True)


if __name__ == "__main__":
    main()
