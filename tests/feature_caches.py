"""Tiny real feature caches with synthetic sequences whose classes differ only in order.

Frame features are `[phase, noise...]`: in a "rising" video the phase climbs from 0 to 1
over the frames, in a "falling" one it drops from 1 to 0. Every frame of either class
comes from the same distribution, so only a head that sees order can tell them apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidseq.cache import video_key
from vidseq.cache_writer import CacheWriter

FEATURE_DIM = 8
FPS = 10.0


def settings(feature_dim: int = FEATURE_DIM, **changes) -> dict:
    """Extraction settings as `vidseq.extract.cache_settings` records them."""
    values = {
        "backbone": "synthetic",
        "weights": "none",
        "weights_sha256": "",
        "feature_dim": feature_dim,
        "input_height": 32,
        "input_width": 32,
        "resize": "stretch",
        "sampling": "uniform",
        "clip_len": 20,
        "sample_fps": 30.0,
        "dtype": "float16",
    }
    return values | changes


def write_cache(path: Path, videos: list[tuple[str, str, np.ndarray]], **setting_changes) -> Path:
    """A cache holding `(relative_path, class_name, features (T, D))` videos at `FPS`."""
    feature_dim = videos[0][2].shape[1] if videos else FEATURE_DIM
    with CacheWriter(path, settings(feature_dim, **setting_changes)) as writer:
        for relative_path, class_name, features in videos:
            n_frames = len(features)
            attrs = {
                "path": relative_path,
                "class_name": class_name,
                "fps": FPS,
                "frame_count": n_frames,
                "width": 32,
                "height": 32,
                "duration_s": n_frames / FPS,
                "fingerprint": f"fp-{relative_path}",
            }
            writer.add(video_key(relative_path), attrs, features, np.arange(n_frames) / FPS)
    return path


def ordered_sequence(rng: np.random.Generator, n_frames: int, rising: bool) -> np.ndarray:
    """`(T, D)` features: the phase ramp in column 0, noise in the rest."""
    phase = np.linspace(0.0, 1.0, n_frames)
    if not rising:
        phase = phase[::-1]
    features = rng.normal(0.0, 0.5, (n_frames, FEATURE_DIM))
    features[:, 0] = 2 * phase - 1
    return features.astype(np.float32)


def order_videos(videos_per_class: int = 12, seed: int = 0, min_frames: int = 8,
                 max_frames: int = 16) -> list[tuple[str, str, np.ndarray]]:
    """Videos of the classes "falling" and "rising", of varied lengths."""
    rng = np.random.default_rng(seed)
    videos = []
    for class_name in ("falling", "rising"):
        for number in range(videos_per_class):
            n_frames = int(rng.integers(min_frames, max_frames + 1))
            features = ordered_sequence(rng, n_frames, rising=class_name == "rising")
            videos.append((f"{class_name}/{class_name}_{number:02d}.mp4", class_name, features))
    return videos


def segmented_videos(count: int = 12, seed: int = 0) -> tuple[list, list[tuple]]:
    """Videos of a rising then a falling half (or the reverse), and their segment rows.

    Returns `(videos, rows)`, rows as `(video, start_s, end_s, label)` for segments.csv.
    """
    rng = np.random.default_rng(seed)
    videos, rows = [], []
    for number in range(count):
        first_frames = int(rng.integers(6, 11))
        second_frames = int(rng.integers(6, 11))
        first_rising = bool(number % 2)
        parts = [ordered_sequence(rng, first_frames, first_rising),
                 ordered_sequence(rng, second_frames, not first_rising)]
        name = f"long_{number:02d}.mp4"
        videos.append((name, "", np.concatenate(parts)))

        labels = ("rising", "falling") if first_rising else ("falling", "rising")
        middle_s = first_frames / FPS
        end_s = (first_frames + second_frames) / FPS
        rows += [(name, 0.0, middle_s, labels[0]), (name, middle_s, end_s, labels[1])]
    return videos, rows


def write_csv(path: Path, header: str, rows: list[tuple]) -> Path:
    lines = [header] + [",".join(str(value) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path
