"""Scoring a head on labelled cached videos: predictions, loss and metrics.

Training scores its validation videos with the same functions that `vidseq evaluate` uses
on a cache of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidseq.cache import FeatureCache, settings_difference
from vidseq.config import TrainConfig
from vidseq.dataset import Batch, LengthBatchSampler, SequenceDataset, fits_in_memory, make_loader
from vidseq.errors import CacheError
from vidseq.labels import IGNORE_LABEL, LabelError
from vidseq.loss import summed_loss
from vidseq.metrics import clip_metrics, confusion_matrix, frame_metrics
from vidseq.model_file import ModelFile, load_model
from vidseq.train_data import label_set_for

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    """A head's outputs over a dataset, in dataset order.

    scores: per video, logits `(C,)` (clip task) or `(T, C)` (frame task), float32.
    targets: per video, its class id or its `(T,)` frame labels (-1: unlabelled).
    loss: the mean loss over labelled clips or frames.
    """

    scores: list[np.ndarray]
    targets: list
    loss: float


@torch.no_grad()
def predict(
    head: nn.Module,
    dataset: SequenceDataset,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
    class_weights: torch.Tensor | None = None,
) -> Predictions:
    """Run `head` (put in eval mode) over every video of `dataset`."""
    sampler = LengthBatchSampler(dataset.lengths, batch_size, shuffle=False, bucket=True)
    loader = make_loader(dataset, sampler, workers, pin_memory=device.type == "cuda")
    head.eval()

    scores: list = [None] * len(dataset)
    targets: list = [None] * len(dataset)
    loss_sum, loss_weight = 0.0, 0.0
    for batch in loader:
        batch = batch.to(device)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            logits = head(batch.sequences, batch.lengths)
        logits = logits.float()
        batch_loss, weight = summed_loss(logits, batch.targets, class_weights)
        loss_sum += float(batch_loss)
        loss_weight += float(weight)
        _collect(batch, logits, scores, targets)

    return Predictions(scores, targets, loss_sum / max(loss_weight, 1e-12))


def score(predictions: Predictions, task: str, num_classes: int) -> dict:
    """Metrics of `predictions` (see `vidseq.metrics`), plus `loss` and `confusion_matrix`.

    The frame task's confusion matrix counts labelled frames.
    """
    if task == "clip":
        metrics = clip_metrics(np.array(predictions.targets), np.stack(predictions.scores),
                               num_classes)
    else:
        predicted = [frame_scores.argmax(axis=1) for frame_scores in predictions.scores]
        metrics = frame_metrics(predictions.targets, predicted, ignore_label=IGNORE_LABEL)
        labels_true = np.concatenate(predictions.targets)
        labelled = labels_true != IGNORE_LABEL
        metrics["confusion_matrix"] = confusion_matrix(
            labels_true[labelled], np.concatenate(predicted)[labelled], num_classes
        ).tolist()
    return {"loss": predictions.loss, **metrics}


def evaluate_cache(
    model_path: Path,
    cache_path: Path,
    labels_csv: Path | None = None,
    segments_csv: Path | None = None,
    batch_size: int = 32,
    device: str = "auto",
    workers: int = 1,
    memory_budget_gb: float = 4.0,
) -> dict:
    """Score the model file `model_path` on the labelled videos of the cache `cache_path`.

    Labels come as in training: the cache's classes or `labels_csv` for the clip task,
    `segments_csv` for the frame task. Classes the model does not know are left out with
    a warning. Returns `score`'s metrics with `task`, `class_names`, `model` and `cache`.

    Raises:
        CacheError: the cache was made with other extraction settings than the model's.
        LabelError: no video has a label the model knows.
        ModelFileError: the model file is missing or damaged.
    """
    torch_device = resolve_device(device)
    model = load_model(model_path, torch_device)
    cache = FeatureCache(cache_path)
    check_extraction(model, cache)

    config = TrainConfig(labels=str(labels_csv or ""), segments=str(segments_csv or ""))
    labels = label_set_for(cache, config, model.task, model.class_names)
    if not labels.keys:
        raise LabelError(f"no video of {cache_path} has a label of the model's classes "
                         f"({', '.join(model.class_names)})")

    dataset = SequenceDataset(cache, labels, fits_in_memory(cache, memory_budget_gb))
    log.info("scoring %d videos of %s with %s", len(dataset), cache_path, model_path)
    predictions = predict(model.head, dataset, batch_size, torch_device, workers)
    metrics = score(predictions, model.task, len(model.class_names))
    return {"task": model.task, "model": str(model_path), "cache": str(cache_path),
            "class_names": model.class_names, **metrics}


def check_extraction(model: ModelFile, cache: FeatureCache) -> None:
    """Refuse a cache whose features were not made the way the model's training cache's were.

    Raises:
        CacheError: naming each setting that differs, the cache's value first.
    """
    differences = settings_difference(cache.settings, model.extraction)
    if differences:
        raise CacheError(f"{cache.path} was made with other extraction settings than the "
                         f"model's training cache (cache vs model: {'; '.join(differences)});"
                         " extract the videos again with the model's settings")


def resolve_device(device: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU.

    Raises:
        ValueError: `cuda` asked for on a machine without it.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no CUDA GPU; use --device "
                         "cpu or auto")
    return torch.device(device)


def _collect(batch: Batch, logits: torch.Tensor, scores: list, targets: list) -> None:
    logits = logits.cpu().numpy()
    lengths = batch.lengths.cpu().tolist()
    batch_targets = batch.targets.cpu().numpy()
    for row, index in enumerate(batch.indices.tolist()):
        if logits.ndim == 2:
            scores[index] = logits[row]
            targets[index] = int(batch_targets[row])
        else:
            scores[index] = logits[row, : lengths[row]]
            targets[index] = batch_targets[row, : lengths[row]]
