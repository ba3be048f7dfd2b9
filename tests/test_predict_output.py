"""Tests for turning predictions into segments, rows, CSV, JSON Lines and tables."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from vidseq import predict_output
from vidseq.errors import ConfigError
from vidseq.predict import Prediction
from vidseq.predict_output import Segment, segments

CLASSES = ["jump", "run", "sit"]


def one_hot_scores(labels: list[int], confidence: float = 0.8) -> np.ndarray:
    """(T, 3) scores whose best label per frame is `labels[t]`, at `confidence`."""
    scores = np.full((len(labels), 3), (1 - confidence) / 2, np.float32)
    scores[np.arange(len(labels)), labels] = confidence
    return scores


def test_segments_merge_runs_and_end_where_the_next_starts():
    scores = one_hot_scores([0, 0, 1, 1, 1, 0])
    scores[1, 0] = 0.6  # the first segment's mean score becomes 0.7
    timestamps_s = np.arange(6) * 0.5

    result = segments(scores, timestamps_s, fps=30.0)

    assert [(s.start_s, s.end_s, s.label) for s in result] == [
        (0.0, 1.0, 0), (1.0, 2.5, 1), (2.5, 3.0, 0)]
    assert result[0].score == pytest.approx(0.7)
    assert result[1].score == pytest.approx(0.8)


def test_last_segment_of_a_single_frame_lasts_one_source_frame():
    result = segments(one_hot_scores([2]), np.array([4.0]), fps=25.0)
    assert result == [Segment(4.0, 4.04, 2, pytest.approx(0.8))]


def test_one_label_throughout_is_one_segment():
    timestamps_s = np.arange(10) / 30
    result = segments(one_hot_scores([1] * 10), timestamps_s, fps=30.0)
    assert len(result) == 1
    assert result[0].start_s == 0.0
    assert result[0].end_s == pytest.approx(10 / 30)


def test_clip_rows_rank_labels_and_keep_failures():
    predictions = [
        Prediction("a/x.mp4", np.array([0.2, 0.5, 0.3], np.float32)),
        Prediction("b/broken.avi", error="OpenCV cannot open it"),
    ]
    rows = predict_output.clip_rows(predictions, CLASSES, top_k=3)

    assert rows[0]["label"] == "run" and rows[0]["label_2"] == "sit"
    assert rows[0]["label_3"] == "jump"
    assert rows[0]["score"] == pytest.approx(0.5)
    assert rows[1] == {"video": "b/broken.avi", "error": "OpenCV cannot open it"}


def test_frame_rows_give_frame_numbers_of_the_video_file():
    timestamps_s = np.array([0, 5, 10]) / 25.0
    prediction = Prediction("v.mp4", one_hot_scores([0, 2, 2]), timestamps_s, fps=25.0)

    rows = predict_output.frame_rows([prediction], CLASSES)

    assert [row["frame"] for row in rows] == [0, 5, 10]
    assert [row["label"] for row in rows] == ["jump", "sit", "sit"]
    assert rows[1]["time"] == pytest.approx(0.2)


def test_csv_has_every_column_and_empty_cells_for_a_failure():
    predictions = [Prediction("x.mp4", np.array([0.1, 0.7, 0.2])),
                   Prediction("bad.mp4", error="no frames could be decoded")]
    columns = predict_output.clip_columns(top_k=2)
    rows = predict_output.clip_rows(predictions, CLASSES, top_k=2)

    text = predict_output.render(rows, columns, "csv")

    read = list(csv.DictReader(io.StringIO(text)))
    assert list(read[0]) == ["video", "label", "score", "label_2", "score_2", "error"]
    assert read[0] == {"video": "x.mp4", "label": "run", "score": "0.7000", "label_2": "sit",
                       "score_2": "0.2000", "error": ""}
    assert read[1]["label"] == "" and read[1]["error"] == "no frames could be decoded"


def test_jsonl_rows_have_numbers_and_nulls():
    timestamps_s = np.array([0.0, 0.5])
    predictions = [Prediction("x.mp4", one_hot_scores([1, 1]), timestamps_s, fps=2.0),
                   Prediction("bad.mp4", error="empty file (0 bytes)")]
    rows = predict_output.segment_rows(predictions, CLASSES)

    text = predict_output.render(rows, predict_output.SEGMENT_COLUMNS, "jsonl")

    records = [json.loads(line) for line in text.splitlines()]
    assert records[0] == {"video": "x.mp4", "start": 0.0, "end": 1.0, "label": "run",
                          "score": 0.8, "error": None}
    assert records[1] == {"video": "bad.mp4", "start": None, "end": None, "label": None,
                          "score": None, "error": "empty file (0 bytes)"}


def test_table_aligns_columns_and_drops_an_empty_error_column():
    predictions = [Prediction("short.mp4", np.array([0.9, 0.05, 0.05])),
                   Prediction("a/much_longer_name.mp4", np.array([0.1, 0.1, 0.8]))]
    rows = predict_output.clip_rows(predictions, CLASSES)

    lines = predict_output.table(rows, predict_output.clip_columns()).splitlines()

    assert lines[0].split() == ["video", "label", "score"]
    assert lines[1].split() == ["short.mp4", "jump", "0.9000"]
    assert len({line.index(line.split()[1]) for line in lines}) == 1  # labels line up


def test_write_replaces_the_file_whole(tmp_path: Path):
    output = tmp_path / "predictions.csv"
    output.write_text("old")
    rows = predict_output.clip_rows([Prediction("x.mp4", np.array([1.0, 0, 0]))], CLASSES)

    predict_output.write(output, rows, predict_output.clip_columns(), "csv")

    assert output.read_text().startswith("video,label,score,error\nx.mp4,jump,1.0000,")
    assert [path.name for path in tmp_path.iterdir()] == ["predictions.csv"]


@pytest.mark.parametrize(
    ("requested", "output", "expected"),
    [(None, None, "csv"), (None, "out.jsonl", "jsonl"), (None, "out.csv", "csv"),
     ("csv", "out.jsonl", "csv"), ("jsonl", None, "jsonl")],
    ids=["default", "jsonl-suffix", "csv-suffix", "flag-wins", "stdout-jsonl"],
)
def test_output_format(requested, output, expected):
    assert predict_output.output_format(requested, output and Path(output)) == expected


def test_unknown_format_is_refused_by_name():
    with pytest.raises(ConfigError, match="format 'xml' is not one of csv, jsonl"):
        predict_output.output_format("xml", None)
