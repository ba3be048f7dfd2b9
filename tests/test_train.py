from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
import torch
from feature_caches import order_videos, segmented_videos, write_cache, write_csv

from vidseq.cli import main
from vidseq.config import TrainConfig, build, read_toml
from vidseq.heads import HeadConfig
from vidseq.model_file import load_model
from vidseq.train import train

RUN_FILES = ("model.pt", "last.pt", "config.toml", "history.csv", "metrics.json",
             "confusion_matrix.csv", "confusion_matrix.png", "curves.png")


@pytest.fixture(scope="module")
def order_cache(tmp_path_factory):
    return write_cache(tmp_path_factory.mktemp("order") / "order.h5", order_videos(10))


def _config(run_dir, **changes) -> TrainConfig:
    values = {"output": str(run_dir), "epochs": 8, "batch_size": 4, "lr": 0.01,
              "patience": 0, "warmup_epochs": 0}
    return TrainConfig(**(values | changes))


def _head(**changes) -> HeadConfig:
    return HeadConfig(**({"kind": "gru", "hidden": [12], "dropout": 0.1} | changes))


def test_a_recurrent_head_learns_an_order_only_task(order_cache, tmp_path):
    result = train(order_cache, _head(), _config(tmp_path / "run"), progress_bar=False)

    assert result.metric == "accuracy"
    assert result.metrics["accuracy"] == 1.0
    assert result.metrics["confusion_matrix"] == [[2, 0], [0, 2]]


def test_a_run_writes_every_file_and_the_model_loads_without_code(order_cache, tmp_path):
    run_dir = tmp_path / "run"
    train(order_cache, _head(kind="bilstm"), _config(run_dir, epochs=3), progress_bar=False)

    assert sorted(path.name for path in run_dir.iterdir()) == sorted(RUN_FILES)
    payload = torch.load(run_dir / "model.pt", weights_only=True)
    assert payload["class_names"] == ["falling", "rising"]
    assert payload["extraction"]["backbone"] == "synthetic"
    torch.load(run_dir / "last.pt", weights_only=True)

    model = load_model(run_dir / "model.pt")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert model.extra["epoch"] == metrics["best_epoch"]
    assert metrics["accuracy"] == model.extra["val_metrics"]["accuracy"]
    with open(run_dir / "history.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert (run_dir / "confusion_matrix.csv").read_text().splitlines()[0] == \
        "true \\ predicted,falling,rising"


def test_resume_continues_exactly_where_the_run_stopped(order_cache, tmp_path):
    # A constant rate makes the schedule independent of the planned epoch count.
    settings = {"schedule": "constant", "seed": 5}
    straight = tmp_path / "straight"
    train(order_cache, _head(), _config(straight, epochs=4, **settings), progress_bar=False)

    resumed = tmp_path / "resumed"
    train(order_cache, _head(), _config(resumed, epochs=2, **settings), progress_bar=False)
    result = train(order_cache, _head(), _config(resumed, epochs=4, **settings),
                   resume=True, progress_bar=False)

    assert result.epochs_run == 4
    weights_straight = load_model(straight / "last.pt").head.state_dict()
    weights_resumed = load_model(resumed / "last.pt").head.state_dict()
    for name, tensor in weights_straight.items():
        assert torch.equal(tensor, weights_resumed[name]), name
    with open(resumed / "history.csv", newline="") as stream:
        assert [row["epoch"] for row in csv.DictReader(stream)] == ["1", "2", "3", "4"]


def test_training_is_reproducible_on_the_cpu(order_cache, tmp_path):
    for name in ("a", "b"):
        train(order_cache, _head(), _config(tmp_path / name, epochs=2), progress_bar=False)

    first = load_model(tmp_path / "a" / "model.pt").head.state_dict()
    second = load_model(tmp_path / "b" / "model.pt").head.state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_early_stopping_ends_the_run(order_cache, tmp_path, caplog):
    config = _config(tmp_path / "run", epochs=30, patience=2, lr=1e-6)

    with caplog.at_level(logging.INFO):
        result = train(order_cache, _head(kind="mean"), config, progress_bar=False)

    assert result.stopped_early
    assert result.epochs_run < 30
    assert "stopped early: no better validation accuracy for 2 epochs" in caplog.text


def test_the_frame_task_trains_and_scores_segments(tmp_path):
    videos, rows = segmented_videos(20)
    cache = write_cache(tmp_path / "frames.h5", videos)
    segments = write_csv(tmp_path / "segments.csv", "video,start,end,label", rows)
    config = _config(tmp_path / "run", segments=str(segments), epochs=10,
                     class_weights=True)

    result = train(cache, _head(kind="bigru", task="frame"), config, progress_bar=False)

    assert result.metric == "f1@25"
    assert set(result.metrics) >= {"frame_accuracy", "edit_score", "f1@10", "f1@25", "f1@50"}
    assert result.metrics["frame_accuracy"] > 0.8
    assert sum(map(sum, result.metrics["confusion_matrix"])) == result.metrics["count_frames"]


def test_a_separate_validation_cache_is_used(order_cache, tmp_path):
    val_cache = write_cache(tmp_path / "val.h5", order_videos(3, seed=9))
    config = _config(tmp_path / "run", val=str(val_cache), epochs=2)

    result = train(order_cache, _head(), config, progress_bar=False)

    assert result.metrics["count"] == 6


def test_evaluate_prints_metrics_as_json(order_cache, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(order_cache, _head(), _config(run_dir), progress_bar=False)
    test_cache = write_cache(tmp_path / "test.h5", order_videos(4, seed=1))

    status = main(["evaluate", str(test_cache), "--model", str(run_dir / "model.pt"), "-q"])

    assert status == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["task"] == "clip"
    assert metrics["class_names"] == ["falling", "rising"]
    assert metrics["count"] == 8
    assert metrics["accuracy"] >= 0.75
    assert set(metrics) >= {"mean_class_accuracy", "macro_f1", "confusion_matrix", "loss"}


def test_evaluate_refuses_a_cache_extracted_otherwise(order_cache, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(order_cache, _head(), _config(run_dir, epochs=1), progress_bar=False)
    other = write_cache(tmp_path / "other.h5", order_videos(1), clip_len=50, resize="crop")

    status = main(["evaluate", str(other), "--model", str(run_dir / "model.pt")])

    assert status == 2
    error = capsys.readouterr().err
    assert "was made with other extraction settings than the model's training cache" in error
    assert "resize: 'crop' vs 'stretch'; clip_len: 50 vs 20" in error


def test_flags_override_the_config_file_and_the_resolved_config_is_saved(order_cache, tmp_path):
    config_file = tmp_path / "run.toml"
    config_file.write_text('[train]\nepochs = 1\nlr = 0.5\nbatch_size = 4\n\n'
                           '[train.head]\nkind = "lstm"\nhidden = [6]\n')
    run_dir = tmp_path / "run"

    status = main(["train", str(order_cache), "-o", str(run_dir), "--config", str(config_file),
                   "--lr", "0.02", "--hidden", "5,4", "-q"])

    assert status == 0
    saved = (run_dir / "config.toml").read_text()
    assert "lr = 0.02\n" in saved and "epochs = 1\n" in saved
    assert 'kind = "lstm"\n' in saved and "hidden = [5, 4]\n" in saved
    assert load_model(run_dir / "model.pt").head.config.hidden == [5, 4]


def test_a_finished_run_is_not_overwritten(order_cache, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(order_cache, _head(), _config(run_dir, epochs=1), progress_bar=False)

    status = main(["train", str(order_cache), "-o", str(run_dir), "-q"])

    assert status == 2
    assert "already holds a run (last.pt); continue it with --resume" in capsys.readouterr().err


def test_summary_prints_the_layer_table(capsys):
    status = main(["summary", "--head", "bilstm", "--hidden", "8,4", "--input-dim", "16",
                   "--classes", "3", "--clip-len", "10"])

    assert status == 0
    table = capsys.readouterr().out
    assert "Output shape" in table
    assert "Total params:" in table


@pytest.mark.parametrize("config_name", sorted(
    path.name for path in (Path(__file__).parent.parent / "configs").glob("*.toml")))
def test_shipped_configs_are_valid(config_name, capsys):
    config_path = Path(__file__).parent.parent / "configs" / config_name

    status = main(["summary", "--config", str(config_path), "--input-dim", "16",
                   "--classes", "3", "--clip-len", "5"])

    assert status == 0, capsys.readouterr().err
    tables = read_toml(config_path)
    build(TrainConfig, {key: value for key, value in tables["train"].items() if key != "head"},
          {}, "train")
