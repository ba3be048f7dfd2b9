"""Adding videos to a feature cache so that a kill at any moment loses only videos in flight.

HDF5 is not crash-safe: a process killed while it updates a file can leave it unreadable.
So the cache file itself is only ever replaced whole, by an atomic rename:

1. each finished video goes to its own small file in `<cache>.journal/`, written under a
   temporary name and renamed into place;
2. a commit copies the cache, adds the journal's videos to the copy, syncs it, renames it
   over the cache, and only then deletes those journal files.

A re-run reads the journal as done work and commits it. Commits happen when the journal
holds as many bytes as the cache (so copying costs at most about twice the final size in
all) and when the run ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from vidseq import __version__
from vidseq.cache import FORMAT, FORMAT_VERSION, VIDEO_ATTRS, settings_difference
from vidseq.errors import CacheError

log = logging.getLogger(__name__)

_MIN_COMMIT_BYTES = 64 * 1024 * 1024


class CacheWriter:
    """Journaled writer for one cache file; one writer per file at a time (a lock file).

    Args:
        path: the cache file; created with `settings` when missing.
        settings: the extraction settings (`vidseq.cache.SETTING_KEYS`).

    Raises:
        CacheError: the file exists with other settings, is not a vidseq cache, cannot be
            written, or another process is writing it.
    """

    def __init__(self, path: Path, settings: dict):
        self.path = Path(path)
        self.settings = settings
        self.journal_dir = self.path.with_name(self.path.name + ".journal")
        self._lock = acquire_lock(self.path)

        if self.path.exists():
            self.done_fingerprints, self.failed_keys = read_index(self.path, settings)
        else:
            create_cache(self.path, settings)
            self.done_fingerprints, self.failed_keys = {}, set()

        self.journal_dir.mkdir(exist_ok=True)
        for stale in self.journal_dir.glob("*.part"):
            stale.unlink()
        self._journal_bytes = 0
        for entry in self.journal_dir.glob("*.h5"):
            with h5py.File(entry, "r") as source:
                self.done_fingerprints[str(source.attrs["key"])] = str(
                    source.attrs["fingerprint"])
            self._journal_bytes += entry.stat().st_size

    def is_done(self, key: str, fingerprint: str) -> bool:
        """True when `key` is cached (or journaled) from a file with this fingerprint."""
        return self.done_fingerprints.get(key) == fingerprint

    def add(self, key: str, attrs: dict, features: np.ndarray, timestamps_s: np.ndarray) -> None:
        """Journal one video's features; they survive a kill from the moment this returns."""
        target = self.journal_dir / f"{_entry_name(key)}.h5"
        part = target.with_suffix(".part")
        with h5py.File(part, "w") as entry:
            entry.attrs["key"] = key
            for name in VIDEO_ATTRS:
                entry.attrs[name] = attrs[name]
            entry.create_dataset("features", data=features.astype(self.settings["dtype"]))
            entry.create_dataset("timestamps_s", data=timestamps_s.astype(np.float64))
        sync_file(part)
        os.replace(part, target)

        (self.journal_dir / f"{_entry_name(key)}.fail.json").unlink(missing_ok=True)
        self.done_fingerprints[key] = attrs["fingerprint"]
        self._journal_bytes += target.stat().st_size
        if self._journal_bytes >= max(_MIN_COMMIT_BYTES, self.path.stat().st_size):
            self.commit()

    def add_failure(self, key: str, path: str, reason: str, fingerprint: str) -> None:
        """Journal a video that could not be extracted."""
        target = self.journal_dir / f"{_entry_name(key)}.fail.json"
        part = target.with_suffix(".part")
        record = {"key": key, "path": path, "reason": reason, "fingerprint": fingerprint}
        part.write_text(json.dumps(record))
        sync_file(part)
        os.replace(part, target)
        (self.journal_dir / f"{_entry_name(key)}.h5").unlink(missing_ok=True)
        self.done_fingerprints.pop(key, None)

    def commit(self) -> None:
        """Fold the journal into the cache file with one atomic replace."""
        entries = sorted(self.journal_dir.glob("*.h5"))
        failures = sorted(self.journal_dir.glob("*.fail.json"))
        if not entries and not failures:
            return

        staging = self.path.with_name(self.path.name + ".commit")
        shutil.copyfile(self.path, staging)
        with h5py.File(staging, "a") as cache:
            for entry in entries:
                _copy_entry(entry, cache)
            for failure in failures:
                _record_failure(json.loads(failure.read_text()), cache)
            cache.attrs["vidseq_version"] = __version__
        sync_file(staging)
        os.replace(staging, self.path)
        sync_file(self.path.parent)

        for done in entries + failures:
            done.unlink()
        self._journal_bytes = 0
        log.debug("committed %d videos and %d failures to %s", len(entries), len(failures),
                  self.path)

    def close(self) -> None:
        """Commit what is journaled and release the lock."""
        try:
            self.commit()
            if self.journal_dir.exists() and not any(self.journal_dir.iterdir()):
                self.journal_dir.rmdir()
        finally:
            release_lock(self._lock)

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _entry_name(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def acquire_lock(path: Path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_name(path.name + ".lock"), "w")
    except OSError as error:
        raise CacheError(f"cannot write the cache at {path}: {error.strerror}") from error
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise CacheError(f"another vidseq process is writing {path}; wait for it or "
                         "choose another -o") from None
    return lock


def release_lock(lock) -> None:
    # Unlink while still holding it, so no lock files are left beside caches.
    Path(lock.name).unlink(missing_ok=True)
    lock.close()


def create_cache(path: Path, settings: dict) -> None:
    part = path.with_name(path.name + ".part")
    try:
        with h5py.File(part, "w") as cache:
            cache.attrs["format"] = FORMAT
            cache.attrs["format_version"] = FORMAT_VERSION
            cache.attrs["vidseq_version"] = __version__
            for key, value in settings.items():
                cache.attrs[key] = value
            cache.create_group("videos")
            cache.create_group("failures")
    except OSError as error:
        raise CacheError(f"cannot create the cache {path}: {error}") from error
    os.replace(part, path)


def read_index(path: Path, settings: dict) -> tuple[dict[str, str], set[str]]:
    try:
        cache = h5py.File(path, "r")
    except OSError as error:
        raise CacheError(f"{path} exists but is not a readable HDF5 file; move it away or "
                         "choose another -o") from error
    with cache:
        if cache.attrs.get("format") != FORMAT:
            raise CacheError(f"{path} exists and is not a vidseq feature cache; choose "
                             "another -o")
        differences = settings_difference(settings, dict(cache.attrs))
        if differences:
            raise CacheError(f"{path} was made with other settings ({'; '.join(differences)}"
                             "); extract into a new file, or repeat those settings")
        done = {key: str(group.attrs["fingerprint"]) for key, group in cache["videos"].items()}
        return done, set(cache["failures"].keys())


def _copy_entry(entry: Path, cache: h5py.File) -> None:
    with h5py.File(entry, "r") as source:
        key = str(source.attrs["key"])
        for group_name in ("videos", "failures"):
            if key in cache[group_name]:
                del cache[group_name][key]
        group = cache["videos"].create_group(key)
        for name in VIDEO_ATTRS:
            group.attrs[name] = source.attrs[name]
        group.create_dataset("features", data=source["features"][()])
        group.create_dataset("timestamps_s", data=source["timestamps_s"][()])


def _record_failure(record: dict, cache: h5py.File) -> None:
    # The video's old features, if any, describe a file that has since changed.
    for group_name in ("videos", "failures"):
        if record["key"] in cache[group_name]:
            del cache[group_name][record["key"]]
    group = cache["failures"].create_group(record["key"])
    for name in ("path", "reason", "fingerprint"):
        group.attrs[name] = record[name]


def sync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
