"""Tests for `vidseq predict` on the command line: outputs, exit codes, one-line errors."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import torch
from tiny_models import CLASS_NAMES, CLIP_LEN, make_videos, save_tiny_model, tiny_config

from vidseq.backbone import Backbone
from vidseq.cli import main
from vidseq.discover import find_videos
from vidseq.extract import extract
from vidseq.video import uniform_indices

VIDEO_PATHS = ["left/clip_0.mp4", "left/clip_1.mp4", "right/broken.avi", "right/clip_0.mp4",
               "right/clip_1.mp4"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Videos, a clip model, a frame model, and a cache of the videos made like the models'."""
    root = tmp_path_factory.mktemp("cli_predict")
    config = tiny_config()
    backbone = Backbone(config.backbone, None, True, "cpu")
    videos = make_videos(root / "videos")
    extract(find_videos(videos), root / "features.h5", config, backbone, progress=False)
    return {
        "videos": videos,
        "clip": save_tiny_model(root / "clip.pt", "clip"),
        "frame": save_tiny_model(root / "frame.pt", "frame"),
        "cache": root / "features.h5",
    }


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def test_folder_to_csv_with_top_k_and_a_broken_video(files, tmp_path, capsys):
    output = tmp_path / "predictions.csv"

    status = main(["predict", str(files["videos"]), "--model", str(files["clip"]),
                   "-o", str(output), "--top-k", "2"])

    rows = read_csv(output)
    assert status == 1
    assert list(rows[0]) == ["video", "label", "score", "label_2", "score_2", "error"]
    assert [row["video"] for row in rows] == VIDEO_PATHS
    broken = rows[2]
    assert broken["label"] == "" and "cannot open it as a video" in broken["error"]
    for row in rows[:2] + rows[3:]:
        assert row["label"] in CLASS_NAMES and row["label_2"] in CLASS_NAMES
        assert row["label"] != row["label_2"]
        assert 1 >= float(row["score"]) >= float(row["score_2"]) >= 0
        assert row["error"] == ""
    err = capsys.readouterr().err
    assert "skipped right/broken.avi" in err
    assert "done: 4 predicted, 1 failed" in err
    assert f"wrote 5 rows to {output}" in err


def test_one_video_prints_a_table_and_quiet_hides_the_bar(files, capsys):
    status = main(["predict", str(files["videos"] / "left" / "clip_1.mp4"),
                   "--model", str(files["clip"]), "-q"])

    out, err = capsys.readouterr()
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["video", "label", "score"]
    assert lines[1].split()[0] == "clip_1.mp4"  # relative to INPUT, the file itself
    assert len(lines) == 2
    assert err == ""


def test_frame_model_gives_segments_that_merge_its_frames(files, tmp_path):
    segments_csv = tmp_path / "segments.csv"
    frames_csv = tmp_path / "frames.csv"
    model = str(files["frame"])

    segment_status = main(["predict", str(files["cache"]), "--model", model,
                           "-o", str(segments_csv), "-q"])
    frame_status = main(["predict", str(files["cache"]), "--model", model, "--frames",
                         "-o", str(frames_csv), "-q"])

    assert segment_status == frame_status == 1  # the cache recorded broken.avi as failed
    segments = read_csv(segments_csv)
    frames = read_csv(frames_csv)
    assert list(segments[0]) == ["video", "start", "end", "label", "score", "error"]
    assert list(frames[0]) == ["video", "frame", "time", "label", "score", "error"]

    for path, n_frames in (("left/clip_1.mp4", 24), ("right/clip_0.mp4", 18)):
        video_frames = [row for row in frames if row["video"] == path]
        expected = uniform_indices(n_frames, CLIP_LEN).tolist()
        assert [int(row["frame"]) for row in video_frames] == expected
        assert [float(row["time"]) for row in video_frames] == pytest.approx(
            [index / 30 for index in expected], abs=1e-3)

        # Merging runs of equal labels in the frame rows gives the segment rows.
        runs = []
        for row in video_frames:
            if runs and runs[-1][1] == row["label"]:
                continue
            runs.append((row["time"], row["label"]))
        video_segments = [row for row in segments if row["video"] == path]
        assert [(row["start"], row["label"]) for row in video_segments] == runs
        for current, following in zip(video_segments, video_segments[1:]):
            assert current["end"] == following["start"]
        assert float(video_segments[-1]["end"]) > float(video_frames[-1]["time"])

    broken = [row for row in segments if row["video"] == "right/broken.avi"]
    assert len(broken) == 1 and broken[0]["label"] == "" and broken[0]["error"]


def test_jsonl_to_stdout(files, capsys):
    status = main(["predict", str(files["cache"]), "--model", str(files["clip"]),
                   "--format", "jsonl", "-q"])

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert [record["video"] for record in records] == VIDEO_PATHS
    assert records[0]["label"] in CLASS_NAMES and isinstance(records[0]["score"], float)
    assert records[2]["label"] is None and records[2]["error"]


def write_other_version(path: Path) -> None:
    torch.save({"format": "vidseq-model", "format_version": 99, "vidseq_version": "9.0"}, path)


def write_truncated(path: Path, clip_model: Path) -> None:
    data = clip_model.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path, _: path.write_text("hello"), "is not a readable vidseq model file"),
        (lambda path, _: path.write_bytes(b""), "is not a readable vidseq model file"),
        (write_truncated, "is not a readable vidseq model file"),
        (lambda path, _: torch.save({"weights": torch.zeros(2)}, path),
         "is not a vidseq model file"),
        (lambda path, _: write_other_version(path), "is model format 99 .* reads format 1"),
        (lambda path, _: None, "does not exist"),
    ],
    ids=["text", "empty", "truncated", "other-dict", "newer-format", "missing"],
)
def test_a_bad_model_file_is_one_line_and_exit_2(files, tmp_path, capsys, make, message):
    model = tmp_path / "model.pt"
    make(model, files["clip"])

    status = main(["predict", str(files["videos"]), "--model", str(model), "-q"])

    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("vidseq predict: error: ")
    assert re.search(message, err), err


@pytest.mark.parametrize(
    ("model", "input_kind", "flags", "message"),
    [
        ("clip", "videos", ["--frames"], "--frames is for frame-task models"),
        ("clip", "videos", ["--top-k", "4"], r"--top-k 4 is not in 1..3"),
        ("frame", "videos", ["--top-k", "2"], "--top-k 2 is for clip-task models"),
        ("clip", "cache", ["--cache", "x.h5"], "is for video input; .* is already a feature"),
        ("clip", "videos", ["-o", "no/such/dir/out.csv"], "folder no/such/dir does not exist"),
        ("clip", "other-cache", [], r"was made with other settings than the model's \(cache "
         r"vs model: clip_len: 6 vs 8\)"),
        ("clip", "missing", [], "input .*nothing_here does not exist"),
        ("clip", "damaged-cache", [], "damaged.h5 cannot be read as HDF5"),
    ],
    ids=["frames-on-clip", "top-k-too-big", "top-k-on-frame", "cache-into-cache",
         "no-output-folder", "other-cache", "missing-input", "damaged-cache"],
)
def test_bad_options_are_one_line_and_exit_2(files, tmp_path, monkeypatch, capsys, model,
                                             input_kind, flags, message):
    monkeypatch.chdir(tmp_path)
    inputs = {"videos": files["videos"], "cache": files["cache"],
              "other-cache": tmp_path / "other.h5", "missing": tmp_path / "nothing_here",
              "damaged-cache": tmp_path / "damaged.h5"}
    (tmp_path / "damaged.h5").write_bytes(files["cache"].read_bytes()[:300])
    if input_kind == "other-cache":
        extract(find_videos(files["videos"] / "left"), inputs[input_kind],
                tiny_config(clip_len=6), progress=False)

    status = main(["predict", str(inputs[input_kind]), "--model", str(files[model]), "-q",
                   *flags])

    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
