"""Shared fixtures: tiny real videos written with OpenCV whose frames say their index."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

SIDE = 64
_CELLS = 8  # an 8 x 8 grid of 8-pixel cells; cell (i % 64) is lit in frame i


def frame_for(index: int) -> np.ndarray:
    """The BGR frame number `index` of a test video: one lit cell, a level for index // 64."""
    frame = np.full((SIDE, SIDE, 3), 40 * (index // 64), np.uint8)
    cell = SIDE // _CELLS
    row, col = divmod(index % 64, _CELLS)
    frame[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = 255
    return frame


def index_of(frame: np.ndarray) -> int:
    """Read back the index that `frame_for` drew (works through lossy codecs)."""
    gray = frame.mean(axis=2) if frame.ndim == 3 else frame
    cell = gray.shape[0] // _CELLS
    means = gray.reshape(_CELLS, cell, _CELLS, cell).mean(axis=(1, 3))
    lit = int(np.argmax(means))
    level = int(round(np.median(gray) / 40))
    return level * 64 + lit


def write_video(path: Path, n_frames: int, fps: float = 30.0, codec: str = "mp4v") -> Path:
    """Write a real video of `n_frames` self-describing frames; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (SIDE, SIDE))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for index in range(n_frames):
        writer.write(frame_for(index))
    writer.release()
    return path


@pytest.fixture
def video_dir(tmp_path: Path) -> Path:
    """A UCF101-style folder: two classes, two short clips each, plus one corrupt file."""
    root = tmp_path / "videos"
    for class_name, lengths in (("left", (20, 24)), ("right", (18, 30))):
        for number, n_frames in enumerate(lengths):
            write_video(root / class_name / f"clip_{number}.mp4", n_frames)
    (root / "right" / "broken.avi").write_bytes(b"not a video at all" * 50)
    return root


@pytest.fixture(autouse=True)
def _reset_vidseq_logging():
    """Undo the handlers `vidseq.cli.main` installs, so later tests' caplog sees records."""
    yield
    logger = logging.getLogger("vidseq")
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
