"""Labels of cached videos: one class per clip, or one per frame from timed segments.

Clip labels come from the class folders recorded at extraction, or from a CSV with the
columns `video,label`. Frame labels come from a CSV with the columns `video,start,end,label`
(seconds), mapped onto each video's stored frame timestamps. A CSV names a video by its
path relative to the extraction root (as `vidseq info` lists it) or, when no two cached
videos share it, by its file name.

Videos named in a CSV but absent from the cache, and cached videos without a label, are
counted in one warning and left out.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from vidseq.cache import VideoEntry
from vidseq.errors import VidseqError

log = logging.getLogger(__name__)

IGNORE_LABEL = -1
LABEL_COLUMNS = ("video", "label")
SEGMENT_COLUMNS = ("video", "start", "end", "label")

# A frame exactly on a segment boundary belongs to the segment that starts there, whatever
# rounding the timestamps went through (a microsecond is far below any frame period).
_BOUNDARY_TOLERANCE_S = 1e-6


class LabelError(VidseqError, ValueError):
    """Labels are missing, malformed, or cannot make a training set."""


@dataclass(frozen=True)
class Segment:
    """A labelled span of one video: frames with `start_s <= t < end_s` get `label`."""

    start_s: float
    end_s: float
    label: str


@dataclass
class LabelSet:
    """Targets of the labelled videos of one cache.

    `keys` lists the labelled videos in cache order; `class_names` is sorted and a class
    id is an index into it. The clip task fills `clip_labels` (key -> class id), the frame
    task `segments` (key -> its segments, in CSV order; a later one wins where they
    overlap).
    """

    task: str
    class_names: list[str]
    keys: list[str]
    clip_labels: dict[str, int] = field(default_factory=dict)
    segments: dict[str, list[Segment]] = field(default_factory=dict)

    def frame_labels(self, key: str, timestamps_s: np.ndarray) -> np.ndarray:
        """Class ids `(T,)` int64 of one video's frames; frames no segment covers get -1."""
        labels = np.full(len(timestamps_s), IGNORE_LABEL, dtype=np.int64)
        class_ids = {name: index for index, name in enumerate(self.class_names)}
        for segment in self.segments[key]:
            class_id = class_ids.get(segment.label)
            if class_id is None:
                continue
            covered = (timestamps_s >= segment.start_s - _BOUNDARY_TOLERANCE_S) & (
                timestamps_s < segment.end_s - _BOUNDARY_TOLERANCE_S
            )
            labels[covered] = class_id
        return labels

    def class_counts(self) -> dict[str, int]:
        """Videos per class (clip task) or segments per class (frame task)."""
        if self.task == "clip":
            counts = Counter(self.class_names[label] for label in self.clip_labels.values())
        else:
            counts = Counter(
                segment.label for key in self.keys for segment in self.segments[key]
            )
        return {name: counts.get(name, 0) for name in self.class_names}


def read_label_csv(path: Path) -> dict[str, str]:
    """`video -> label` from a CSV with the columns `video,label` (others are ignored).

    Raises:
        LabelError: the file is missing or empty, lacks a column, leaves a cell empty, or
            gives one video two different labels.
    """
    labels: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line_number, row in _csv_rows(path, LABEL_COLUMNS):
        video, label = row["video"], row["label"]
        if video in labels and labels[video] != label:
            raise LabelError(f"{path} line {line_number}: video {video!r} is labelled "
                             f"{label!r} but was {labels[video]!r} on line "
                             f"{first_line[video]}; give each video one label")
        labels[video] = label
        first_line.setdefault(video, line_number)
    return labels


def read_segments_csv(path: Path) -> dict[str, list[Segment]]:
    """`video -> segments` from a CSV with the columns `video,start,end,label` (seconds).

    Raises:
        LabelError: the file is missing or empty, lacks a column, leaves a cell empty, or
            has a time that is not a number, is negative, or ends before it starts.
    """
    segments: dict[str, list[Segment]] = {}
    for line_number, row in _csv_rows(path, SEGMENT_COLUMNS):
        start_s = _seconds(row["start"], "start", path, line_number)
        end_s = _seconds(row["end"], "end", path, line_number)
        if end_s < start_s:
            raise LabelError(f"{path} line {line_number}: end {end_s:g} s is before start "
                             f"{start_s:g} s; a segment needs start <= end")
        segments.setdefault(row["video"], []).append(Segment(start_s, end_s, row["label"]))
    return segments


def clip_label_set(
    entries: list[VideoEntry],
    labels_csv: Path | None = None,
    class_names: list[str] | None = None,
) -> LabelSet:
    """Clip labels of the cached videos, from `labels_csv` or from extraction's classes.

    `class_names` fixes the class list (a trained model's); videos of other classes are
    then counted in a warning and left out. Otherwise the classes found make the list.

    Raises:
        LabelError: the cache is empty, or no video has a class and no CSV was given.
    """
    _check_not_empty(entries)
    if labels_csv is not None:
        by_video = read_label_csv(labels_csv)
        labels_by_key = _match_to_cache(entries, by_video, labels_csv.name)
    else:
        labels_by_key = {entry.key: entry.class_name for entry in entries if entry.class_name}
        if not labels_by_key:
            raise LabelError("the cached videos have no classes (they were not in class "
                             "subfolders at extraction); give --labels labels.csv with the "
                             "columns video,label")
        _warn_unlabelled(entries, labels_by_key, "have no class folder")

    known = sorted(set(labels_by_key.values())) if class_names is None else class_names
    labels_by_key = _drop_unknown_classes(labels_by_key, known)
    class_ids = {name: index for index, name in enumerate(known)}
    keys = [entry.key for entry in entries if entry.key in labels_by_key]
    clip_labels = {key: class_ids[labels_by_key[key]] for key in keys}
    return LabelSet("clip", list(known), keys, clip_labels=clip_labels)


def frame_label_set(
    entries: list[VideoEntry],
    segments_csv: Path,
    class_names: list[str] | None = None,
) -> LabelSet:
    """Segments of the cached videos from `segments_csv`, for per-frame labels.

    `class_names` fixes the class list; segments of other classes then label nothing.

    Raises:
        LabelError: the cache is empty or the CSV is malformed.
    """
    _check_not_empty(entries)
    by_video = read_segments_csv(segments_csv)
    segments_by_key = _match_to_cache(entries, by_video, segments_csv.name)

    found = sorted({segment.label for parts in segments_by_key.values() for segment in parts})
    known = found if class_names is None else class_names
    unknown = sorted(set(found) - set(known))
    if unknown:
        log.warning("segments of %d classes the model does not know (e.g. %r) label no "
                    "frames", len(unknown), unknown[0])
    keys = [entry.key for entry in entries if entry.key in segments_by_key]
    return LabelSet("frame", list(known), keys, segments=segments_by_key)


def check_trainable(label_set: LabelSet, where: str) -> None:
    """Refuse a label set that cannot train a classifier: no videos or one class.

    Raises:
        LabelError: naming the problem and `where` the labels came from.
    """
    if not label_set.keys:
        raise LabelError(f"no cached video has a label in {where}; check that its video "
                         "column names the cached videos (see `vidseq info CACHE`)")
    present = [name for name, count in label_set.class_counts().items() if count > 0]
    if len(present) < 2:
        raise LabelError(f"only one class ({', '.join(present) or 'none'}) in {where}; "
                         "training a classifier needs at least two")


def _csv_rows(path: Path, columns: tuple[str, ...]):
    """Yield `(line number, row dict)`, having checked the header and empty cells."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"label file {path} does not exist")
    with path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in columns if name not in header]
        if missing:
            raise LabelError(f"{path} has the columns {','.join(header) or '(none)'}; "
                             f"expected a header with {','.join(columns)}")
        reader.fieldnames = header
        for row in reader:
            line_number = reader.line_num
            values = {name: (row.get(name) or "").strip() for name in columns}
            empty = [name for name, value in values.items() if not value]
            if empty:
                raise LabelError(f"{path} line {line_number}: empty {', '.join(empty)}; "
                                 f"every row needs {','.join(columns)}")
            yield line_number, values


def _seconds(text: str, column: str, path: Path, line_number: int) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise LabelError(f"{path} line {line_number}: {column} {text!r} is not a number of "
                         "seconds") from None
    if not seconds >= 0:
        raise LabelError(f"{path} line {line_number}: {column} {text!r} must be a time of "
                         "0 seconds or more")
    return seconds


def _check_not_empty(entries: list[VideoEntry]) -> None:
    if not entries:
        raise LabelError("the feature cache holds no videos; extract some first with "
                         "`vidseq extract VIDEOS -o CACHE`")


def _match_to_cache(entries: list[VideoEntry], by_video: dict, csv_name: str) -> dict:
    """Re-key CSV values by cache key; warn about names and videos left unmatched."""
    by_name: dict[str, str] = {}
    file_names = Counter(PurePosixPath(entry.path).name for entry in entries)
    for entry in entries:
        by_name[entry.path] = entry.key
        by_name[entry.key] = entry.key
        file_name = PurePosixPath(entry.path).name
        if file_names[file_name] == 1:
            by_name.setdefault(file_name, entry.key)

    matched, absent = {}, []
    for video, value in by_video.items():
        key = by_name.get(video) or by_name.get(video.replace("\\", "/"))
        if key is None:
            absent.append(video)
        else:
            matched[key] = value
    if absent:
        log.warning("%d videos named in %s are not in the cache and are left out (e.g. %r)",
                    len(absent), csv_name, absent[0])
    _warn_unlabelled(entries, matched, f"are not in {csv_name}")
    return matched


def _warn_unlabelled(entries: list[VideoEntry], labelled: dict, reason: str) -> None:
    unlabelled = [entry.path for entry in entries if entry.key not in labelled]
    if unlabelled:
        log.warning("%d cached videos %s and are left out (e.g. %r)", len(unlabelled),
                    reason, unlabelled[0])


def _drop_unknown_classes(labels_by_key: dict[str, str], known: list[str]) -> dict[str, str]:
    known_set = set(known)
    unknown = sorted({label for label in labels_by_key.values() if label not in known_set})
    if unknown:
        count = sum(label not in known_set for label in labels_by_key.values())
        log.warning("%d videos have classes the model does not know (e.g. %r) and are left "
                    "out", count, unknown[0])
    return {key: label for key, label in labels_by_key.items() if label in known_set}
