"""extract -> train -> predict through `vidseq.cli.main` on a tiny demo dataset.

The clip chain uses the real pretrained MobileNetV2 (from the torch hub cache, where
`make install` puts it), so the common route, torchvision weights matched by hash, is
covered; the frame chain uses random ResNet-18 weights.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from vidseq.cli import main

SCRIPTS_DIR = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """Two clips per class of the six demo classes, and three frame videos with segments."""
    spec = importlib.util.spec_from_file_location("make_demo_videos",
                                                  SCRIPTS_DIR / "make_demo_videos.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_demo_videos"] = module
    spec.loader.exec_module(module)
    out_dir = tmp_path_factory.mktemp("demo")
    module.make_demo(out_dir, seed=0, clips_per_class=2, frames=12, size=48, frame_videos=3,
                     frame_video_frames=45)
    return out_dir


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def test_clip_chain_predicts_what_evaluate_scores(demo, tmp_path, capsys):
    clips, cache, run = demo / "clips", tmp_path / "clips.h5", tmp_path / "run"
    from_videos, from_cache = tmp_path / "videos.csv", tmp_path / "cache.csv"

    assert main(["extract", str(clips), "-o", str(cache), "--size", "32", "--clip-len", "8",
                 "-q"]) == 0
    assert main(["train", str(cache), "-o", str(run), "--head", "gru", "--task", "clip",
                 "--hidden", "16", "--epochs", "2", "-q"]) == 0
    capsys.readouterr()
    assert main(["predict", str(clips), "--model", str(run / "model.pt"),
                 "-o", str(from_videos), "-q"]) == 0
    assert main(["predict", str(cache), "--model", str(run / "model.pt"),
                 "-o", str(from_cache), "-q"]) == 0
    assert main(["evaluate", str(cache), "--model", str(run / "model.pt"), "-q"]) == 0
    metrics = json.loads(capsys.readouterr().out)

    rows = read_csv(from_videos)
    assert len(rows) == 12
    assert [row["label"] for row in rows] == [row["label"] for row in read_csv(from_cache)]
    for row, cached in zip(rows, read_csv(from_cache)):
        assert float(row["score"]) == pytest.approx(float(cached["score"]), abs=2e-3)

    # The labels predict gives reproduce evaluate's confusion matrix on the same videos.
    class_names = metrics["class_names"]
    confusion = [[0] * len(class_names) for _ in class_names]
    for row in rows:
        true_class = row["video"].split("/")[0]
        confusion[class_names.index(true_class)][class_names.index(row["label"])] += 1
    assert confusion == metrics["confusion_matrix"]


def test_frame_chain_gives_segments_for_every_video(demo, tmp_path):
    frames, cache, run = demo / "frames", tmp_path / "frames.h5", tmp_path / "run"
    output = tmp_path / "segments.jsonl"
    tiny = ["--backbone", "resnet18", "--random-weights", "--size", "32", "--clip-len", "60"]

    assert main(["extract", str(frames), "-o", str(cache), *tiny, "-q"]) == 0
    assert main(["train", str(cache), "-o", str(run), "--head", "bigru", "--task", "frame",
                 "--segments", str(frames / "segments.csv"), "--hidden", "16",
                 "--epochs", "2", "-q"]) == 0
    assert main(["predict", str(frames), "--model", str(run / "model.pt"),
                 "-o", str(output), "-q"]) == 0

    segments = [json.loads(line) for line in output.read_text().splitlines()]
    known = {row["label"] for row in read_csv(frames / "segments.csv")}
    for video in ("video_000.mp4", "video_001.mp4", "video_002.mp4"):
        video_segments = [segment for segment in segments if segment["video"] == video]
        assert video_segments[0]["start"] == 0.0
        assert video_segments[-1]["end"] == pytest.approx(45 / 30, abs=1e-3)
        assert {segment["label"] for segment in video_segments} <= known
