"""The files of a run folder, each written atomically: a temporary file, then a rename.

A crash at any moment leaves each file either as it was or complete, never half written.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

from vidseq.config import save_toml

MODEL_FILE = "model.pt"
LAST_FILE = "last.pt"
CONFIG_FILE = "config.toml"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
CONFUSION_CSV = "confusion_matrix.csv"
CONFUSION_PNG = "confusion_matrix.png"
CURVES_PNG = "curves.png"


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temporary_path)`, sync that file, then rename it to `path`."""
    path = Path(path)
    part = path.with_name(path.name + ".part")
    write(part)
    descriptor = os.open(part, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(part, path)


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda part: part.write_text(text))


def write_config(path: Path, tables: dict[str, object]) -> None:
    """The resolved config as TOML, one table per dataclass (see `vidseq.config.save_toml`)."""
    write_atomic(path, lambda part: save_toml(part, tables))


def write_history(path: Path, rows: list[dict]) -> None:
    """One CSV row per epoch; the columns are the first row's keys."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, stream.getvalue())


def read_history(path: Path) -> list[dict]:
    with Path(path).open(newline="") as stream:
        return list(csv.DictReader(stream))


def write_metrics(path: Path, metrics: dict) -> None:
    write_text(path, json.dumps(metrics, indent=2) + "\n")


def write_confusion_csv(path: Path, matrix: list[list[int]], class_names: list[str]) -> None:
    """Counts with a header row of predicted classes and a first column of true classes."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["true \\ predicted", *class_names])
    for name, row in zip(class_names, matrix):
        writer.writerow([name, *row])
    write_text(path, stream.getvalue())
