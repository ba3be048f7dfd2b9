"""Batch inference: a trained model over a folder of videos, one video, or a feature cache.

From videos, frames are decoded and embedded exactly as the model's training cache was
(`vidseq.model_extraction`), with the same batching across videos as extract. Features
are rounded through the cache's dtype (float16 by default) before the head sees them, so a
video gets the same prediction straight from its file as from a cache.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from vidseq.backbone import Backbone
from vidseq.cache import FeatureCache, video_key
from vidseq.config import ExtractConfig
from vidseq.discover import VideoSource, find_videos
from vidseq.errors import ConfigError
from vidseq.extract import encode_videos, extract
from vidseq.model_extraction import (
    backbone_for,
    check_backbone,
    check_cache,
    extract_config_for,
)
from vidseq.model_file import ModelFile
from vidseq.video import Decoder

log = logging.getLogger(__name__)

# Finished videos per head batch: enough to fill a GPU's recurrent kernels, few enough
# that results arrive steadily.
_HEAD_BATCH = 16


@dataclass
class Prediction:
    """What the model says about one video.

    `path` is relative to the input, as in a cache. `probabilities` are softmax scores:
    `(C,)` for the clip task, `(T, C)` for the frame task, None when the video failed.
    `timestamps_s` `(T,)` holds each kept frame's time in seconds; `fps` is the video's.
    `error` says why a video failed, "" otherwise.
    """

    path: str
    probabilities: np.ndarray | None = None
    timestamps_s: np.ndarray | None = None
    fps: float = 0.0
    error: str = ""


@dataclass
class PredictSummary:
    """What one predict run did. `failures` holds `(path, reason)` pairs."""

    predicted: int = 0
    failed: int = 0
    frames: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.predicted} predicted, {self.failed} failed; {self.frames} frames in "
                f"{self.seconds:.1f} s ({rate:.0f} frames/s)")


def is_feature_cache(input_path: Path) -> bool:
    """True when `input_path` is a file named .h5 or .hdf5, or any HDF5 file.

    A damaged file with a cache's name is taken as a cache too, so that the error says
    what is wrong with it rather than that it is not a video.
    """
    input_path = Path(input_path)
    if not input_path.is_file():
        return False
    return input_path.suffix.lower() in (".h5", ".hdf5") or h5py.is_hdf5(input_path)


def predict_path(
    input_path: Path,
    model: ModelFile,
    weights_file: Path | None = None,
    device: str = "auto",
    batch_size: int = 0,
    cache_path: Path | None = None,
    progress: bool = True,
    backbone: Backbone | None = None,
) -> tuple[list[Prediction], PredictSummary]:
    """Predict every video under `input_path`: a folder, one video, or a feature cache.

    The backbone is rebuilt from the model's extraction settings, unless `backbone` is
    given (it is checked against them). With `cache_path`, features are extracted into
    that cache first (videos it holds from identical files are skipped) and predicted
    from it; without, nothing is written. Results are sorted by path; failed videos are
    among them, with their error.

    Raises:
        CacheError: a cache made with other settings than the model's.
        WeightsError: the backbone weights differ from the model's, or are missing.
        VidseqError: no videos under `input_path`.
    """
    input_path = Path(input_path)
    started = time.perf_counter()
    if is_feature_cache(input_path):
        if cache_path is not None:
            raise ConfigError(f"--cache {cache_path} is for video input; {input_path} is "
                              "already a feature cache")
        with FeatureCache(input_path) as cache:
            check_cache(model, cache.settings, input_path)
            predictions, summary = predict_cache(cache, model, progress=progress)
    else:
        sources = find_videos(input_path)
        log.info("found %d videos under %s", len(sources), input_path)
        config = extract_config_for(model, weights_file, device, batch_size)
        backbone = _checked_backbone(model, config, backbone)
        if cache_path is None:
            predictions, summary = predict_videos(sources, model, backbone, config, progress)
        else:
            predictions, summary = _predict_through_cache(
                sources, model, backbone, config, Path(cache_path), progress
            )

    summary.seconds = time.perf_counter() - started
    return predictions, summary


def predict_videos(
    sources: list[VideoSource],
    model: ModelFile,
    backbone: Backbone,
    config: ExtractConfig,
    progress: bool = True,
) -> tuple[list[Prediction], PredictSummary]:
    """Decode, embed and classify `sources`, batching frames across videos; nothing is written.

    `backbone` and `config` must match the model (see `vidseq.model_extraction`). A video
    that cannot be decoded is logged and returned with its error.
    """
    started = time.perf_counter()
    summary = PredictSummary()
    predictions: list[Prediction] = []
    waiting: list[tuple[Prediction, np.ndarray]] = []
    decoder = Decoder(config.sampling_settings, tuple(config.size), config.resize)
    todo = [(source, "") for source in sources]

    with tqdm(total=len(todo), unit="video", disable=not progress) as bar:
        for source, _, result in encode_videos(todo, decoder, backbone, config.batch_size):
            bar.update(1)
            if isinstance(result, str):
                predictions.append(_failed(summary, source.relative_path, result))
                continue

            clip, features = result
            # As stored in a cache, so that both routes give the same prediction.
            sequence = features.astype(config.dtype).astype(np.float32)
            pending = Prediction(source.relative_path, None, clip.timestamps_s, clip.fps)
            waiting.append((pending, sequence))
            if len(waiting) >= _HEAD_BATCH:
                predictions += _classify_waiting(model, waiting, summary)

    predictions += _classify_waiting(model, waiting, summary)
    summary.seconds = time.perf_counter() - started
    return sorted(predictions, key=lambda p: p.path), summary


def predict_cache(
    cache: FeatureCache,
    model: ModelFile,
    keys: set[str] | None = None,
    progress: bool = True,
) -> tuple[list[Prediction], PredictSummary]:
    """Classify the videos of a feature cache (those in `keys`, or all).

    Videos recorded in the cache as failed come back with their recorded error. The
    caller checks the cache's settings against the model first (`check_cache`).
    """
    started = time.perf_counter()
    summary = PredictSummary()
    predictions: list[Prediction] = []
    waiting: list[tuple[Prediction, np.ndarray]] = []
    entries = [entry for entry in cache.entries if keys is None or entry.key in keys]

    # Already reported when they were extracted: counted and returned, not warned again.
    for failure in cache.failures:
        if keys is None or failure.key in keys:
            predictions.append(_failed(summary, failure.path, failure.reason, warn=False))
    if summary.failed:
        log.info("%d videos failed at extraction; they get rows with their error",
                 summary.failed)

    for entry in tqdm(entries, unit="video", disable=not progress):
        features, timestamps_s = cache.read(entry.key)
        pending = Prediction(entry.path, None, timestamps_s, entry.fps)
        waiting.append((pending, features.astype(np.float32)))
        if len(waiting) >= _HEAD_BATCH:
            predictions += _classify_waiting(model, waiting, summary)

    predictions += _classify_waiting(model, waiting, summary)
    summary.seconds = time.perf_counter() - started
    return sorted(predictions, key=lambda p: p.path), summary


def classify(model: ModelFile, sequences: list[np.ndarray]) -> list[np.ndarray]:
    """Softmax scores of the head for sequences of different lengths, in one batch.

    Args:
        sequences: `(T_i, D)` float32 each.

    Returns:
        `(C,)` per sequence for the clip task, `(T_i, C)` for the frame task; float32.
    """
    head = model.head
    device = next(head.parameters()).device
    lengths = torch.tensor([len(sequence) for sequence in sequences], dtype=torch.int64)
    batch = torch.zeros((len(sequences), int(lengths.max()), head.input_dim))
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = torch.from_numpy(sequence)

    with torch.inference_mode():
        logits = head(batch.to(device), lengths.to(device))
        scores = torch.softmax(logits.float(), dim=-1).cpu().numpy()  # (B, C) or (B, T, C)

    if model.task == "clip":
        return list(scores)
    return [scores[row, :length] for row, length in enumerate(lengths.tolist())]


def _checked_backbone(model, config, backbone):
    if backbone is None:
        return backbone_for(model, config)
    check_backbone(model, backbone)
    return backbone


def _predict_through_cache(sources, model, backbone, config, cache_path, progress):
    extracted = extract(sources, cache_path, config, backbone=backbone, progress=progress)
    log.info("feature cache %s: %d extracted, %d already there, %d failed", cache_path,
             extracted.extracted, extracted.cached, extracted.failed)
    with FeatureCache(cache_path) as cache:
        check_cache(model, cache.settings, cache_path)
        keys = {video_key(source.relative_path) for source in sources}
        return predict_cache(cache, model, keys, progress=False)


def _classify_waiting(model, waiting, summary) -> list[Prediction]:
    """Run the head over the waiting `(prediction, sequence)` pairs and empty the list."""
    if not waiting:
        return []
    scores = classify(model, [sequence for _, sequence in waiting])
    done = []
    for (prediction, sequence), video_scores in zip(waiting, scores):
        prediction.probabilities = video_scores
        summary.predicted += 1
        summary.frames += len(sequence)
        log.debug("predicted %s: %d frames", prediction.path, len(sequence))
        done.append(prediction)
    waiting.clear()
    return done


def _failed(summary: PredictSummary, path: str, reason: str, warn: bool = True) -> Prediction:
    if warn:
        log.warning("skipped %s: %s", path, reason)
    summary.failed += 1
    summary.failures.append((path, reason))
    return Prediction(path, error=reason)
