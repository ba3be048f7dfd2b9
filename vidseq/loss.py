"""The training loss: cross-entropy over clips, or over the labelled frames of each clip."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidseq.labels import IGNORE_LABEL


def summed_loss(
    logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy summed over labelled targets, and the (weighted) count it is over.

    `logits` are `(B, C)` with `targets` `(B,)`, or `(B, T, C)` with `targets` `(B, T)`
    where -1 marks padded or unlabelled steps. Dividing the sum by the count gives the
    mean; a batch without labelled targets gives 0 over 0, which `mean_loss` turns into a
    zero loss that still has a gradient (DistributedDataParallel needs one on every rank).
    """
    num_classes = logits.shape[-1]
    flat_logits = logits.reshape(-1, num_classes)
    flat_targets = targets.reshape(-1)
    total = F.cross_entropy(flat_logits, flat_targets, weight=class_weights,
                            ignore_index=IGNORE_LABEL, reduction="sum")

    labelled = flat_targets != IGNORE_LABEL
    if class_weights is None:
        count = labelled.sum().to(total.dtype)
    else:
        count = class_weights[flat_targets[labelled]].sum()
    return total, count


def mean_loss(
    logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """`summed_loss` divided by its count (0 for a batch with nothing labelled)."""
    total, count = summed_loss(logits, targets, class_weights)
    return total / count.clamp(min=1e-12)


def balanced_class_weights(counts: list[int]) -> torch.Tensor:
    """Weights `(C,)` inversely proportional to class counts, 1 on average over the data.

    A class without examples gets weight 0 (it never occurs as a target anyway).
    """
    counts_tensor = torch.tensor(counts, dtype=torch.float32)
    present = counts_tensor > 0
    weights = torch.zeros_like(counts_tensor)
    weights[present] = counts_tensor.sum() / (present.sum() * counts_tensor[present])
    return weights
