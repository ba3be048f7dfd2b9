"""A run's data: the training cache, its labels, the validation split or cache, datasets."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidseq.cache import FeatureCache, settings_difference
from vidseq.config import TrainConfig
from vidseq.dataset import SequenceDataset, fits_in_memory
from vidseq.errors import CacheError
from vidseq.labels import LabelError, LabelSet, check_trainable, clip_label_set, frame_label_set

log = logging.getLogger(__name__)


@dataclass
class RunData:
    """Training and validation datasets with what the model file must record."""

    train: SequenceDataset
    val: SequenceDataset
    class_names: list[str]
    extraction: dict
    feature_dim: int


def load_run_data(cache_path: Path, config: TrainConfig, task: str) -> RunData:
    """Open the caches, label their videos and split off the validation videos.

    Raises:
        CacheError: a cache is missing or unreadable, or the validation cache was made with
            other extraction settings.
        LabelError: labels are missing or malformed, there is one class only, or the split
            leaves no validation video.
    """
    cache = FeatureCache(cache_path)
    labels = label_set_for(cache, config, task)
    check_trainable(labels, _label_source(config, task))
    counts = ", ".join(f"{name} {count}" for name, count in labels.class_counts().items())
    unit = "videos" if task == "clip" else "segments"
    log.info("%d labelled videos in %s, %d classes (%s per class: %s)", len(labels.keys),
             cache.path.name, len(labels.class_names), unit, counts)

    if config.val:
        val_cache = _open_val_cache(Path(config.val), cache)
        val_config = dataclasses.replace(config, labels=config.val_labels or config.labels,
                                         segments=config.val_segments or config.segments)
        val_labels = label_set_for(val_cache, val_config, task, labels.class_names)
        if not val_labels.keys:
            raise LabelError(f"no video of the validation cache {config.val} has a label")
        in_memory = fits_in_memory(cache, config.memory_budget_gb / 2)
        train = SequenceDataset(cache, labels, in_memory)
        val = SequenceDataset(val_cache, val_labels,
                              fits_in_memory(val_cache, config.memory_budget_gb / 2))
    else:
        train_keys, val_keys = split_keys(labels, config.val_split, config.seed)
        in_memory = fits_in_memory(cache, config.memory_budget_gb)
        train = SequenceDataset(cache, dataclasses.replace(labels, keys=train_keys), in_memory)
        val = SequenceDataset(cache, dataclasses.replace(labels, keys=val_keys), in_memory)

    log.info("%d training and %d validation videos", len(train), len(val))
    return RunData(train, val, labels.class_names, dict(cache.settings), cache.feature_dim)


def label_set_for(
    cache: FeatureCache, config: TrainConfig, task: str, class_names: list[str] | None = None
) -> LabelSet:
    """The labels `config` asks for, for the videos of `cache`."""
    if task == "frame":
        if not config.segments:
            raise LabelError("the frame task needs --segments segments.csv (columns "
                             "video,start,end,label, in seconds)")
        return frame_label_set(cache.entries, Path(config.segments), class_names)
    labels_csv = Path(config.labels) if config.labels else None
    return clip_label_set(cache.entries, labels_csv, class_names)


def split_keys(labels: LabelSet, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of `labels.keys` into training and validation keys, in cache order.

    Clip labels are split per class (stratified): each class with two or more videos
    gives `val_fraction` of them, at least one, to validation. Frame-task videos are
    split as one group.

    Raises:
        LabelError: no video is left for validation.
    """
    if labels.task == "clip":
        groups: dict[int, list[str]] = {}
        for key in labels.keys:
            groups.setdefault(labels.clip_labels[key], []).append(key)
    else:
        groups = {0: list(labels.keys)}

    rng = np.random.default_rng(seed)
    val_set = set()
    for _, keys in sorted(groups.items()):
        if len(keys) < 2:
            continue
        count = min(max(1, round(len(keys) * val_fraction)), len(keys) - 1)
        val_set.update(rng.permutation(keys)[:count].tolist())

    if not val_set:
        raise LabelError(f"a validation split of {val_fraction:g} leaves no validation video "
                         f"among {len(labels.keys)}; label more videos or give --val CACHE")
    train_keys = [key for key in labels.keys if key not in val_set]
    val_keys = [key for key in labels.keys if key in val_set]
    return train_keys, val_keys


def _open_val_cache(path: Path, train_cache: FeatureCache) -> FeatureCache:
    val_cache = FeatureCache(path)
    differences = settings_difference(train_cache.settings, val_cache.settings)
    if differences:
        raise CacheError(f"the validation cache {path} was made with other settings than "
                         f"{train_cache.path} (training vs validation: "
                         f"{'; '.join(differences)}); extract both the same way")
    return val_cache


def _label_source(config: TrainConfig, task: str) -> str:
    if task == "frame":
        return config.segments
    return config.labels or "the cache's class folders"
