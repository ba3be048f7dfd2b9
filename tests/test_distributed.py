"""A real two-process run under torchrun on the CPU (gloo)."""

from __future__ import annotations

import subprocess
import sys

import torch
from feature_caches import order_videos, write_cache

from vidseq.model_file import load_model


def test_torchrun_trains_on_two_processes_and_only_rank_0_writes(tmp_path):
    cache = write_cache(tmp_path / "order.h5", order_videos(10))  # 16 train, 4 val
    run_dir = tmp_path / "run"

    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "vidseq", "train", str(cache), "-o", str(run_dir), "--head", "gru",
         "--hidden", "8", "--epochs", "2", "--batch-size", "4", "-q"],
        capture_output=True, text=True, timeout=240,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert {path.name for path in run_dir.iterdir()} == {
        "model.pt", "last.pt", "config.toml", "history.csv", "metrics.json",
        "confusion_matrix.csv", "confusion_matrix.png", "curves.png"}
    assert (run_dir / "history.csv").read_text().count("\n") == 3  # header and 2 epochs

    # Each process took half of the 16 training videos: 2 batches of 4 per epoch.
    checkpoint = load_model(run_dir / "last.pt")
    assert checkpoint.extra["progress"]["step"] == 4
    model = torch.load(run_dir / "model.pt", weights_only=True)
    assert model["class_names"] == ["falling", "rising"]
