"""The HDF5 feature cache: its layout, its settings, and reading it.

Layout (everything readable with plain h5py and numpy)::

    /                       attrs: format = "vidseq-features", format_version, vidseq_version,
                                   and the extraction settings (see `SETTING_KEYS`)
    /videos/<key>/features      (T, D) float16 (or float32), one row per kept frame
    /videos/<key>/timestamps_s  (T,) float64, each kept frame's time in the video
    /videos/<key>           attrs: path, class_name, fps, frame_count, width, height,
                                   duration_s, fingerprint
    /failures/<key>         attrs: path, reason, fingerprint

`<key>` is the video's path relative to the extraction root, with `%` written `%25` and
`/` written `%2F`, so group names sort like paths and never collide. Writing goes
through `vidseq.cache_writer`, which keeps the file readable if a run is killed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from vidseq.errors import CacheError

log = logging.getLogger(__name__)

FORMAT = "vidseq-features"
FORMAT_VERSION = 1

# File-level attributes that must match for two extractions to share a cache.
SETTING_KEYS = (
    "backbone",
    "weights",
    "weights_sha256",
    "feature_dim",
    "input_height",
    "input_width",
    "resize",
    "sampling",
    "clip_len",
    "sample_fps",
    "dtype",
)

VIDEO_ATTRS = ("path", "class_name", "fps", "frame_count", "width", "height", "duration_s",
               "fingerprint")

_FINGERPRINT_BLOCK = 256 * 1024


@dataclass(frozen=True)
class VideoEntry:
    """What the cache holds about one video (its features are read on demand)."""

    key: str
    path: str
    class_name: str
    n_frames: int
    fps: float
    frame_count: int
    width: int
    height: int
    duration_s: float
    fingerprint: str


@dataclass(frozen=True)
class Failure:
    key: str
    path: str
    reason: str
    fingerprint: str


def video_key(relative_path: str) -> str:
    """The group name of a video: its relative POSIX path with `%` and `/` escaped."""
    return relative_path.replace("%", "%25").replace("/", "%2F")


def fingerprint(video_path: Path) -> str:
    """A cheap identity of a file's content: its size and its first and last 256 KiB.

    Content-based, so a copied or touched file keeps its fingerprint; an edited one does
    not (in practice: re-encoding changes the header and the tail).
    """
    size = video_path.stat().st_size
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with video_path.open("rb") as stream:
        digest.update(stream.read(_FINGERPRINT_BLOCK))
        if size > _FINGERPRINT_BLOCK:
            stream.seek(max(_FINGERPRINT_BLOCK, size - _FINGERPRINT_BLOCK))
            digest.update(stream.read(_FINGERPRINT_BLOCK))
    return digest.hexdigest()


def settings_difference(ours: dict, theirs: dict) -> list[str]:
    """`key: ours vs theirs` for every setting that differs."""
    return [
        f"{key}: {_plain(ours.get(key))!r} vs {_plain(theirs.get(key))!r}"
        for key in SETTING_KEYS
        if _plain(ours.get(key)) != _plain(theirs.get(key))
    ]


def _plain(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


class FeatureCache:
    """Read access to a feature cache.

    Use as a context manager, or call `close()`. The h5py handle is opened lazily, so a
    `FeatureCache` can be handed to DataLoader workers and each opens its own.

    Raises:
        CacheError: the file is missing, is not HDF5, or is not a vidseq cache.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise CacheError(f"feature cache {self.path} does not exist; make one with "
                             "`vidseq extract VIDEOS -o FILE`")
        self._file: h5py.File | None = None
        handle = self._handle()
        if handle.attrs.get("format") != FORMAT:
            self.close()
            raise CacheError(f"{self.path} is an HDF5 file but not a vidseq feature cache")
        self.settings = {key: _plain(handle.attrs[key]) for key in SETTING_KEYS
                         if key in handle.attrs}
        self.vidseq_version = str(handle.attrs.get("vidseq_version", "?"))
        self.entries = [_entry(key, group) for key, group in handle["videos"].items()]
        self.failures = [
            Failure(key, str(group.attrs["path"]), str(group.attrs["reason"]),
                    str(group.attrs.get("fingerprint", "")))
            for key, group in handle["failures"].items()
        ]

    @property
    def feature_dim(self) -> int:
        return int(self.settings["feature_dim"])

    def read(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """`(features (T, D), timestamps_s (T,))` of one video, as stored."""
        group = self._handle()["videos"][key]
        return group["features"][()], group["timestamps_s"][()]

    def nbytes(self) -> int:
        """Size of all features in memory, for deciding whether to load them at once."""
        itemsize = np.dtype(self.settings.get("dtype", "float16")).itemsize
        return sum(entry.n_frames for entry in self.entries) * self.feature_dim * itemsize

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        # h5py handles cannot cross process boundaries; each worker reopens.
        state = self.__dict__.copy()
        state["_file"] = None
        return state

    def _handle(self) -> h5py.File:
        if self._file is None:
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as error:
                raise CacheError(f"{self.path} cannot be read as HDF5 ({error})") from error
        return self._file


def _entry(key: str, group: h5py.Group) -> VideoEntry:
    attrs = group.attrs
    return VideoEntry(
        key=key,
        path=str(attrs["path"]),
        class_name=str(attrs.get("class_name", "")),
        n_frames=int(group["features"].shape[0]),
        fps=float(attrs["fps"]),
        frame_count=int(attrs["frame_count"]),
        width=int(attrs["width"]),
        height=int(attrs["height"]),
        duration_s=float(attrs["duration_s"]),
        fingerprint=str(attrs["fingerprint"]),
    )
