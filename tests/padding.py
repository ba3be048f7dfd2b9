"""The padding check both head test files run: a clip alone equals the clip padded in a batch."""

from __future__ import annotations

import torch


def assert_padding_changes_nothing(head: torch.nn.Module, lengths: list[int], feature_dim: int,
                                   num_classes: int, task: str) -> None:
    """Score random clips of `lengths` alone and padded together; outputs must agree."""
    clips = [torch.randn(length, feature_dim) for length in lengths]

    # Loud padding: any leak into the real steps would show.
    batch = 50 * torch.randn(len(clips), max(lengths), feature_dim)
    for index, clip in enumerate(clips):
        batch[index, : len(clip)] = clip

    with torch.no_grad():
        batch_logits = head(batch, torch.tensor(lengths))
        for index, clip in enumerate(clips):
            alone = head(clip[None], torch.tensor([len(clip)]))[0]
            padded = batch_logits[index]
            if task == "frame":
                assert alone.shape == (len(clip), num_classes)
                padded = padded[: len(clip)]
            assert torch.allclose(padded, alone, atol=1e-5)
