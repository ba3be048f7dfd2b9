"""The whole vidseq job on generated demo videos: extract -> train -> predict, both tasks.

    python scripts/demo.py [--out demo]

Writes training videos and, with another seed, unseen test videos; extracts features with
the real MobileNetV2; trains a BiGRU for the clip task (classes that differ only in the
order of frames) and for the per-frame task; predicts on the unseen videos; prints the
test accuracy and where every result is. Each step is a plain `vidseq` command, printed
before it runs, so it can be repeated by hand. Re-running reuses what is done.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import shlex
import sys
import time
from pathlib import Path

from vidseq.cli import main as vidseq
from vidseq.evaluate import evaluate_cache

ROOT = Path(__file__).resolve().parent.parent

# 30 clips per class: with 10, every head overfits (a BiGRU reached 75% validation
# accuracy). Clips of 30 frames and 3 s frame videos keep extraction to a few minutes.
TRAIN_SET = {"clips_per_class": 30, "frames": 30, "frame_videos": 24,
             "frame_video_frames": 90}
TEST_SET = {"clips_per_class": 6, "frames": 30, "frame_videos": 8, "frame_video_frames": 90}


def load_generator():
    spec = importlib.util.spec_from_file_location("make_demo_videos",
                                                  ROOT / "scripts" / "make_demo_videos.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def step(*args: str) -> None:
    """Run one vidseq command as a user would type it; stop the demo if it fails."""
    print(f"\n$ vidseq {shlex.join(args)}", flush=True)
    status = vidseq(list(args))
    if status != 0:
        sys.exit(f"demo stopped: `vidseq {args[0]}` exited with {status}")


def train_once(cache: Path, run_dir: Path, *options: str) -> None:
    """`vidseq train`, unless an earlier demo run already left a model in `run_dir`."""
    if (run_dir / "model.pt").is_file():
        print(f"\n{run_dir / 'model.pt'} exists: reusing it (delete {run_dir} to train again)")
        return
    step("train", str(cache), "-o", str(run_dir), *options)


def clip_accuracy(predictions: Path) -> tuple[int, int]:
    """(correct, total) where a video's class is its folder name."""
    with predictions.open() as stream:
        rows = list(csv.DictReader(stream))
    correct = sum(row["video"].split("/")[0] == row["label"] for row in rows)
    return correct, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo"))
    args = parser.parse_args()
    out = args.out
    started = time.perf_counter()

    generator = load_generator()
    if not (out / "train").is_dir():
        generator.make_demo(out / "train", seed=0, **TRAIN_SET)
    if not (out / "test").is_dir():
        generator.make_demo(out / "test", seed=1, **TEST_SET)
    print(f"demo videos: {out / 'train'} (training), {out / 'test'} (unseen, another seed)")

    configs = ROOT / "configs"
    step("extract", str(out / "train" / "clips"), "-o", str(out / "clips.h5"),
         "--config", str(configs / "clip_bigru.toml"))
    train_once(out / "clips.h5", out / "runs" / "clip-bigru",
               "--config", str(configs / "clip_bigru.toml"))
    step("predict", str(out / "test" / "clips"), "--model",
         str(out / "runs" / "clip-bigru" / "model.pt"), "-o", str(out / "clip_predictions.csv"),
         "--cache", str(out / "test_clips.h5"))

    step("extract", str(out / "train" / "frames"), "-o", str(out / "frames.h5"),
         "--config", str(configs / "frame_bigru.toml"))
    train_once(out / "frames.h5", out / "runs" / "frame-bigru",
               "--config", str(configs / "frame_bigru.toml"),
               "--segments", str(out / "train" / "frames" / "segments.csv"))
    step("predict", str(out / "test" / "frames"), "--model",
         str(out / "runs" / "frame-bigru" / "model.pt"), "-o", str(out / "frame_segments.csv"),
         "--cache", str(out / "test_frames.h5"))
    frame_scores = evaluate_cache(out / "runs" / "frame-bigru" / "model.pt",
                                  out / "test_frames.h5",
                                  segments_csv=out / "test" / "frames" / "segments.csv")

    correct, total = clip_accuracy(out / "clip_predictions.csv")
    minutes = (time.perf_counter() - started) / 60
    print(f"""
demo finished in {minutes:.1f} min
  clip task, unseen videos:  {correct}/{total} correct ({correct / total:.0%})
  clip run:                  {out / 'runs' / 'clip-bigru'} (model.pt, metrics.json, curves.png)
  clip predictions:          {out / 'clip_predictions.csv'}
  frame run:                 {out / 'runs' / 'frame-bigru'}
  frame task, unseen videos: frame accuracy {frame_scores['frame_accuracy']:.0%}, \
F1@25 {frame_scores['f1@25']:.1f}
  frame segments predicted:  {out / 'frame_segments.csv'}
  ground truth segments:     {out / 'test' / 'frames' / 'segments.csv'}""")


if __name__ == "__main__":
    main()
