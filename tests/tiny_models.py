"""Tiny videos and model files for the predict tests, made without the train command.

The backbone is resnet18 with random weights at 32x32: random MobileNetV2 features are
about 1e-10 and nearly the same for every frame, which would make every prediction alike,
while random ResNet-18 features differ from frame to frame.
"""

from __future__ import annotations

from pathlib import Path

from conftest import write_video

from vidseq.backbone import Backbone
from vidseq.config import ExtractConfig
from vidseq.extract import cache_settings
from vidseq.heads import HeadConfig, build_head
from vidseq.model_file import ModelFile, save_model

CLASS_NAMES = ["left", "right", "still"]
CLIP_LEN = 8
VIDEO_LENGTHS = {"left/clip_0.mp4": 20, "left/clip_1.mp4": 24, "right/clip_0.mp4": 18,
                 "right/clip_1.mp4": 30}


def tiny_config(**changes) -> ExtractConfig:
    settings = dict(backbone="resnet18", random_weights=True, size=[32, 32],
                    clip_len=CLIP_LEN, device="cpu", batch_size=64)
    settings.update(changes)
    return ExtractConfig(**settings)


def make_videos(root: Path) -> Path:
    """Four real videos in two class folders, plus `right/broken.avi`, which is no video."""
    for relative_path, n_frames in VIDEO_LENGTHS.items():
        write_video(root / relative_path, n_frames)
    (root / "right" / "broken.avi").write_bytes(b"not a video at all" * 50)
    return root


def save_tiny_model(path: Path, task: str, extraction: dict | None = None,
                    kind: str = "gru", feature_dim: int = 512) -> Path:
    """A model file with a random head for `task`, trained (nominally) on `extraction`."""
    if extraction is None:
        config = tiny_config()
        backbone = Backbone(config.backbone, None, True, "cpu", optimize=False)
        extraction = cache_settings(config, backbone)
    head = build_head(HeadConfig(kind=kind, hidden=[16], task=task), feature_dim,
                      len(CLASS_NAMES))
    save_model(path, ModelFile(head.eval(), CLASS_NAMES, extraction))
    return path
