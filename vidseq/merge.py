"""`vidseq merge`: join the part caches of sharded extraction into one cache.

The merged file is written beside the output and renamed over it, so an interrupted merge
leaves the output as it was; merging the same parts again changes nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py

from vidseq import __version__
from vidseq.cache import FORMAT, SETTING_KEYS, settings_difference
from vidseq.cache_writer import acquire_lock, create_cache, release_lock, sync_file
from vidseq.errors import CacheError

log = logging.getLogger(__name__)


@dataclass
class MergeSummary:
    parts: int = 0
    added: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] | None = None

    def line(self) -> str:
        return (f"merged {self.parts} parts: {self.added} videos added, {self.unchanged} "
                f"already there, {self.failed} failures recorded")


def find_parts(inputs: list[Path], output: Path) -> list[Path]:
    """The part files named by `inputs` (files, or folders of `*.h5`), sorted, minus `output`.

    Raises:
        CacheError: an input does not exist, or no part files were found.
    """
    parts = []
    for item in inputs:
        if item.is_dir():
            parts += sorted(item.glob("*.h5"))
        elif item.is_file():
            parts.append(item)
        else:
            raise CacheError(f"merge input {item} does not exist")
    parts = [part for part in parts if part.resolve() != output.resolve()]
    if not parts:
        raise CacheError(f"no part caches (*.h5) in {', '.join(map(str, inputs))}")
    return parts


def merge(parts: list[Path], output: Path) -> MergeSummary:
    """Merge `parts` into `output` (created, or extended when it exists with equal settings).

    Raises:
        CacheError: a part is not a vidseq cache, parts differ in settings, two parts hold
            the same video, or `output` has other settings.
    """
    settings, index = _check_parts(parts)
    summary = MergeSummary(parts=len(parts), failures=[])
    lock = acquire_lock(output)
    try:
        staging = output.with_name(output.name + ".commit")
        if output.exists():
            _check_output(output, settings)
            shutil.copyfile(output, staging)
        else:
            create_cache(staging, settings)

        with h5py.File(staging, "a") as merged:
            for part in parts:
                with h5py.File(part, "r") as source:
                    _merge_part(source, merged, summary)
            merged.attrs["vidseq_version"] = __version__
        sync_file(staging)
        os.replace(staging, output)
        sync_file(output.parent)
    finally:
        release_lock(lock)
    log.debug("merged %d videos from %d parts", len(index), len(parts))
    return summary


def _check_parts(parts: list[Path]) -> tuple[dict, dict[str, Path]]:
    settings, owner = None, {}
    for part in parts:
        try:
            handle = h5py.File(part, "r")
        except OSError as error:
            raise CacheError(f"{part} cannot be read as HDF5 ({error})") from error
        with handle:
            if handle.attrs.get("format") != FORMAT:
                raise CacheError(f"{part} is not a vidseq feature cache")
            part_settings = {key: handle.attrs[key] for key in SETTING_KEYS}
            if settings is None:
                settings, first = part_settings, part
            elif differences := settings_difference(settings, part_settings):
                raise CacheError(f"{part} was made with other settings than {first} "
                                 f"({'; '.join(differences)}); merge only parts of one run")
            for key in [*handle["videos"].keys(), *handle["failures"].keys()]:
                if key in owner and owner[key] != part:
                    raise CacheError(f"parts overlap: {key.replace('%2F', '/')} is in both "
                                     f"{owner[key]} and {part}; merge parts of one --shard "
                                     "K/N split only")
                owner[key] = part
    return {key: _plain(value) for key, value in settings.items()}, owner


def _check_output(output: Path, settings: dict) -> None:
    try:
        handle = h5py.File(output, "r")
    except OSError as error:
        raise CacheError(f"{output} exists but cannot be read as HDF5 ({error})") from error
    with handle:
        if differences := settings_difference(settings, dict(handle.attrs)):
            raise CacheError(f"{output} exists with other settings ({'; '.join(differences)})"
                             "; merge into a new file")


def _merge_part(source: h5py.File, merged: h5py.File, summary: MergeSummary) -> None:
    for key, group in source["videos"].items():
        existing = merged["videos"].get(key)
        if existing is not None and existing.attrs["fingerprint"] == group.attrs["fingerprint"]:
            summary.unchanged += 1
            continue
        for name in ("videos", "failures"):
            if key in merged[name]:
                del merged[name][key]
        source.copy(group, merged["videos"], name=key)
        summary.added += 1

    for key, group in source["failures"].items():
        if key in merged["videos"]:
            del merged["videos"][key]
        if key in merged["failures"]:
            del merged["failures"][key]
        source.copy(group, merged["failures"], name=key)
        summary.failed += 1
        summary.failures.append((str(group.attrs["path"]), str(group.attrs["reason"])))


def _plain(value):
    return value.item() if hasattr(value, "item") else value
