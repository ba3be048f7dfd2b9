"""Finding the videos under an input path, in a deterministic order."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from vidseq.errors import VidseqError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
)


@dataclass(frozen=True)
class VideoSource:
    """One video to process.

    `relative_path` is POSIX, relative to the input folder (the file name for a single
    file). `class_name` is the first-level subfolder, or "" for videos at the top.
    """

    video_path: Path
    relative_path: str
    class_name: str


def find_videos(input_path: Path) -> list[VideoSource]:
    """All video files under `input_path` (a folder, searched recursively, or one file).

    Files are matched by extension in any case; hidden files and folders are skipped;
    symbolic links to folders are followed once each, so link loops cannot hang the walk.
    The order is sorted by relative path.

    Raises:
        VidseqError: `input_path` does not exist, or a folder holds no videos.
    """
    input_path = Path(input_path)
    if input_path.is_file():
        if input_path.suffix.lower() not in VIDEO_EXTENSIONS:
            raise VidseqError(f"{input_path} does not have a video extension "
                              f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
        return [VideoSource(input_path, input_path.name, "")]
    if not input_path.is_dir():
        raise VidseqError(f"input {input_path} does not exist")

    sources = [
        VideoSource(input_path / relative, relative, _class_of(relative))
        for relative in _walk(input_path)
    ]
    if not sources:
        raise VidseqError(f"no video files under {input_path} (looked for "
                          f"{', '.join(sorted(VIDEO_EXTENSIONS))}, any case)")
    sources.sort(key=lambda source: source.relative_path)
    return sources


def _walk(root: Path):
    seen_dirs: set[tuple[int, int]] = set()
    for folder, dir_names, file_names in os.walk(root, followlinks=True):
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in seen_dirs:
            dir_names[:] = []
            continue
        seen_dirs.add((stat.st_dev, stat.st_ino))
        dir_names[:] = sorted(name for name in dir_names if not name.startswith("."))

        relative_folder = Path(folder).relative_to(root)
        for name in sorted(file_names):
            if name.startswith(".") or Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            if (Path(folder) / name).is_file():
                yield (relative_folder / name).as_posix()


def _class_of(relative_path: str) -> str:
    parts = relative_path.split("/")
    return parts[0] if len(parts) > 1 else ""
