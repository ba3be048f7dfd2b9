"""Turning predictions into rows, and rows into CSV, JSON Lines or a table for the terminal.

Every format holds the same rows with the same columns; the last column, `error`, is empty
except for a video that failed, whose row has an empty label:

- clip task: `video,label,score`, then `label_2,score_2,...` up to `--top-k`;
- frame task, segments: `video,start,end,label,score`, where consecutive frames with the
  same label are merged, times are in seconds and the score is the label's mean over the
  segment's frames;
- frame task, frames: `video,frame,time,label,score`, `frame` being the frame's number in
  the video file.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidseq.errors import ConfigError
from vidseq.predict import Prediction

FORMATS = ("csv", "jsonl")

# Decimal places per numeric column, in every format.
_DECIMALS = {"score": 4, "start": 3, "end": 3, "time": 3}


@dataclass(frozen=True)
class Segment:
    """A run of consecutive frames with one label; times in seconds, end exclusive."""

    start_s: float
    end_s: float
    label: int
    score: float


def clip_columns(top_k: int = 1) -> list[str]:
    columns = ["video", "label", "score"]
    for rank in range(2, top_k + 1):
        columns += [f"label_{rank}", f"score_{rank}"]
    return columns + ["error"]


SEGMENT_COLUMNS = ["video", "start", "end", "label", "score", "error"]
FRAME_COLUMNS = ["video", "frame", "time", "label", "score", "error"]


def clip_rows(predictions: list[Prediction], class_names: list[str], top_k: int = 1
              ) -> list[dict]:
    """One row per video: its `top_k` labels, best first, with their scores."""
    rows = []
    for prediction in predictions:
        row = {"video": prediction.path, "error": prediction.error}
        if prediction.probabilities is None:
            rows.append(row)
            continue
        ranked = np.argsort(-prediction.probabilities, kind="stable")[:top_k]
        for rank, label in enumerate(ranked.tolist(), start=1):
            suffix = "" if rank == 1 else f"_{rank}"
            row[f"label{suffix}"] = class_names[label]
            row[f"score{suffix}"] = float(prediction.probabilities[label])
        rows.append(row)
    return rows


def segment_rows(predictions: list[Prediction], class_names: list[str]) -> list[dict]:
    """One row per segment of consecutive same-label frames, per video."""
    rows = []
    for prediction in predictions:
        if prediction.probabilities is None:
            rows.append({"video": prediction.path, "error": prediction.error})
            continue
        for segment in segments(prediction.probabilities, prediction.timestamps_s,
                                prediction.fps):
            rows.append({"video": prediction.path, "start": segment.start_s,
                         "end": segment.end_s, "label": class_names[segment.label],
                         "score": segment.score, "error": ""})
    return rows


def frame_rows(predictions: list[Prediction], class_names: list[str]) -> list[dict]:
    """One row per kept frame, per video."""
    rows = []
    for prediction in predictions:
        if prediction.probabilities is None:
            rows.append({"video": prediction.path, "error": prediction.error})
            continue
        labels = prediction.probabilities.argmax(axis=1)
        # Timestamps are frame number / fps, so this recovers the frame number exactly.
        frame_numbers = np.rint(prediction.timestamps_s * prediction.fps).astype(int)
        for frame, time_s, label, scores in zip(frame_numbers.tolist(),
                                                prediction.timestamps_s.tolist(),
                                                labels.tolist(), prediction.probabilities):
            rows.append({"video": prediction.path, "frame": frame, "time": time_s,
                         "label": class_names[label], "score": float(scores[label]),
                         "error": ""})
    return rows


def segments(probabilities: np.ndarray, timestamps_s: np.ndarray, fps: float
             ) -> list[Segment]:
    """Merge consecutive frames with the same best label into segments.

    Args:
        probabilities: `(T, C)` per-frame scores.
        timestamps_s: `(T,)` each frame's time, increasing.
        fps: the video's frame rate, for the last segment's end when T is 1.

    A segment ends where the next one starts. The last one ends one sampling step after
    the last frame: the median gap between kept frames, or `1 / fps` for a single frame.
    """
    labels = probabilities.argmax(axis=1)
    if len(timestamps_s) > 1:
        step_s = float(np.median(np.diff(timestamps_s)))
    else:
        step_s = 1.0 / fps if fps > 0 else 0.0

    # Indices where a new label begins, and where each run stops.
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    stops = np.r_[starts[1:], len(labels)]
    result = []
    for start, stop in zip(starts.tolist(), stops.tolist()):
        label = int(labels[start])
        end_s = timestamps_s[stop] if stop < len(labels) else timestamps_s[-1] + step_s
        score = float(probabilities[start:stop, label].mean())
        result.append(Segment(float(timestamps_s[start]), float(end_s), label, score))
    return result


def output_format(requested: str | None, output: Path | None) -> str:
    """The format asked for, else the one `output`'s suffix says (`.jsonl`), else csv."""
    if requested is not None:
        if requested not in FORMATS:
            raise ConfigError(f"format {requested!r} is not one of {', '.join(FORMATS)}")
        return requested
    if output is not None and output.suffix.lower() in (".jsonl", ".json"):
        return "jsonl"
    return "csv"


def render(rows: list[dict], columns: list[str], fmt: str) -> str:
    """`rows` as CSV (with a header) or as JSON Lines, one object per row."""
    if fmt == "jsonl":
        return "".join(json.dumps({c: _json_value(c, row.get(c)) for c in columns}) + "\n"
                       for row in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(column, row.get(column)) for column in columns])
    return buffer.getvalue()


def write(path: Path, rows: list[dict], columns: list[str], fmt: str) -> None:
    """Write `rows` to `path` atomically: readers never see half a file."""
    path = Path(path)
    part = path.with_name(path.name + ".part")
    part.write_text(render(rows, columns, fmt), encoding="utf-8")
    os.replace(part, path)


def table(rows: list[dict], columns: list[str]) -> str:
    """`rows` as aligned text columns for a terminal; the error column only when needed."""
    if not any(row.get("error") for row in rows):
        columns = [column for column in columns if column != "error"]
    cells = [[_text(column, row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[i]) for line in cells])
              for i, column in enumerate(columns)]
    numeric = [_is_number(column) or column == "frame" for column in columns]

    def line(values):
        padded = [value.rjust(width) if right else value.ljust(width)
                  for value, width, right in zip(values, widths, numeric)]
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns)] + [line(values) for values in cells])


def _text(column: str, value) -> str:
    if value is None:
        return ""
    if _is_number(column):
        return f"{value:.{_DECIMALS.get(column, 4)}f}"
    return str(value)


def _is_number(column: str) -> bool:
    return column in _DECIMALS or column.startswith("score_")


def _json_value(column: str, value):
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return round(value, _DECIMALS.get(column, 4))
    return value
