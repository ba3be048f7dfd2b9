"""`vidseq extract`: videos -> backbone features -> the HDF5 cache, resumably.

Decoding runs in background threads (OpenCV releases the GIL) while the main thread runs
the backbone on batches that mix frames of several videos. Each finished video is
journaled at once, so an interrupted run loses only the videos in flight.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vidseq.backbone import Backbone
from vidseq.cache import fingerprint, video_key
from vidseq.cache_writer import CacheWriter, read_index
from vidseq.config import ExtractConfig
from vidseq.discover import VideoSource, find_videos
from vidseq.errors import VideoError
from vidseq.video import Clip, Decoder

log = logging.getLogger(__name__)

# Decoded clips waiting for the backbone; bounds memory to a few clips.
_QUEUE_CLIPS = 4


@dataclass
class ExtractSummary:
    """What one extract run did. `failures` holds `(relative_path, reason)` pairs."""

    extracted: int = 0
    cached: int = 0
    failed: int = 0
    frames: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.extracted} extracted, {self.cached} already cached, {self.failed} "
                f"failed; {self.frames} frames in {self.seconds:.1f} s ({rate:.0f} frames/s)")


def cache_settings(config: ExtractConfig, backbone: Backbone) -> dict:
    """The file-level settings a cache made with `config` and `backbone` records."""
    return {
        "backbone": backbone.name,
        "weights": backbone.weights.name,
        "weights_sha256": backbone.weights.sha256,
        "feature_dim": backbone.feature_dim,
        "input_height": config.size[0],
        "input_width": config.size[1],
        "resize": config.resize,
        "sampling": config.sampling,
        "clip_len": config.clip_len,
        "sample_fps": float(config.sample_fps),
        "dtype": config.dtype,
    }


def load_backbone(config: ExtractConfig) -> Backbone:
    """The backbone `config` names, on its device (weights errors surface here)."""
    weights_file = Path(config.weights_file) if config.weights_file else None
    return Backbone(config.backbone, weights_file, config.random_weights, config.device)


def extract(
    sources: list[VideoSource],
    output: Path,
    config: ExtractConfig,
    backbone: Backbone | None = None,
    progress: bool = True,
    also_done_in: Path | None = None,
) -> ExtractSummary:
    """Extract features of `sources` into the cache `output` (created or resumed).

    Videos already cached from an identical file are skipped (in `output`, or in the
    cache `also_done_in`, which sharded runs use for the final merged cache); changed ones
    are re-extracted. A video that fails to decode is logged, recorded in the cache's
    failures, and counted; the others carry on.

    Raises:
        CacheError: `output` exists with other settings, or cannot be written.
        WeightsError: the backbone's weights cannot be had.
    """
    config.validate()
    backbone = backbone or load_backbone(config)
    started = time.perf_counter()
    summary = ExtractSummary()

    settings = cache_settings(config, backbone)
    done_elsewhere = {}
    if also_done_in is not None and Path(also_done_in).exists():
        done_elsewhere, _ = read_index(Path(also_done_in), settings)

    with CacheWriter(output, settings) as writer:
        todo = []
        for source in sources:
            source_fingerprint = _fingerprint_or_none(source)
            key = video_key(source.relative_path)
            if (writer.is_done(key, source_fingerprint)
                    or done_elsewhere.get(key) == source_fingerprint):
                summary.cached += 1
            else:
                todo.append((source, source_fingerprint))
        log.info("%d videos to extract, %d already in %s", len(todo), summary.cached, output)

        decoder = Decoder(config.sampling_settings, tuple(config.size), config.resize)
        bar = tqdm(total=len(todo), unit="video", disable=not progress or not todo)
        try:
            for source, source_fingerprint, result in encode_videos(
                todo, decoder, backbone, config.batch_size
            ):
                _record(writer, summary, source, source_fingerprint, result)
                bar.update(1)
                bar.set_postfix(frames_s=f"{summary.frames / bar.format_dict['elapsed']:.0f}"
                                if bar.format_dict["elapsed"] else "-")
        finally:
            bar.close()

    summary.seconds = time.perf_counter() - started
    return summary


def extract_folder(input_path: Path, output: Path, config: ExtractConfig,
                   progress: bool = True) -> ExtractSummary:
    """`extract` over every video under `input_path` (a folder or one file)."""
    return extract(find_videos(input_path), output, config, progress=progress)


def _fingerprint_or_none(source: VideoSource) -> str:
    try:
        return fingerprint(source.video_path)
    except OSError:
        return ""  # unreadable; decoding reports it properly


def _record(writer, summary, source, source_fingerprint, result) -> None:
    key = video_key(source.relative_path)
    if isinstance(result, str):
        log.warning("skipped %s: %s", source.relative_path, result)
        writer.add_failure(key, source.relative_path, result, source_fingerprint)
        summary.failed += 1
        summary.failures.append((source.relative_path, result))
        return

    clip, features = result
    attrs = {
        "path": source.relative_path,
        "class_name": source.class_name,
        "fps": clip.fps,
        "frame_count": clip.frame_count,
        "width": clip.width,
        "height": clip.height,
        "duration_s": clip.duration_s,
        "fingerprint": source_fingerprint,
    }
    writer.add(key, attrs, features, clip.timestamps_s)
    summary.extracted += 1
    summary.frames += len(features)
    log.debug("extracted %s: %d frames", source.relative_path, len(features))


@dataclass
class _Pending:
    source: VideoSource
    source_fingerprint: str
    clip: Clip
    features: np.ndarray
    next_frame: int = 0
    filled: int = 0


def encode_videos(todo, decoder: Decoder, backbone: Backbone, batch_size: int):
    """Decode and encode videos; yield results as each video finishes, in any order.

    Args:
        todo: `(VideoSource, fingerprint)` pairs.
        batch_size: frames per backbone batch; 0 picks the backbone's best for the device.

    Yields:
        `(source, fingerprint, result)` where result is `(clip, features (T, D) float32)`
        or, for a video that could not be decoded, the reason as a string.
    """
    batch_size = batch_size or backbone.batch_size_for(decoder.size)
    log.debug("backbone batches of %d frames", batch_size)
    clips: queue.Queue = queue.Queue(maxsize=_QUEUE_CLIPS)
    stop = threading.Event()
    workers = _start_decoders(todo, decoder, clips, stop, backbone.device.type == "cuda")
    pending: deque[_Pending] = deque()
    live_workers = len(workers)
    try:
        while live_workers or pending:
            # Gather decoded clips until a full batch of frames is waiting.
            while live_workers and _unencoded(pending) < batch_size:
                item = clips.get()
                if item is None:
                    live_workers -= 1
                elif isinstance(item[2], str):
                    yield item
                else:
                    source, source_fingerprint, clip = item
                    features = np.empty((len(clip.frames_rgb), backbone.feature_dim), np.float32)
                    pending.append(_Pending(source, source_fingerprint, clip, features))
            if not pending:
                continue

            _encode_batch(pending, backbone, batch_size)
            while pending and pending[0].filled == len(pending[0].features):
                done = pending.popleft()
                yield done.source, done.source_fingerprint, (done.clip, done.features)
    finally:
        stop.set()
        _drain(clips)
        for worker in workers:
            worker.join()


def _unencoded(pending: deque[_Pending]) -> int:
    return sum(len(p.features) - p.next_frame for p in pending)


def _encode_batch(pending: deque[_Pending], backbone: Backbone, batch_size: int) -> None:
    """Run the backbone once over up to `batch_size` frames from the front of `pending`."""
    slices = []
    room = batch_size
    for work in pending:
        take = min(room, len(work.features) - work.next_frame)
        if take > 0:
            slices.append((work, work.next_frame, work.next_frame + take))
            work.next_frame += take
            room -= take
        if room == 0:
            break

    frames_rgb = np.concatenate([w.clip.frames_rgb[a:b] for w, a, b in slices])
    features = backbone.encode(frames_rgb)
    offset = 0
    for work, start, stop in slices:
        work.features[start:stop] = features[offset : offset + stop - start]
        work.filled += stop - start
        offset += stop - start


def _start_decoders(todo, decoder: Decoder, clips: queue.Queue, stop: threading.Event,
                    on_gpu: bool) -> list[threading.Thread]:
    # On a CPU the backbone needs every core, so one decoder; a GPU waits for frames.
    count = min(4 if on_gpu else 1, max(1, len(todo)))
    jobs: queue.Queue = queue.Queue()
    for job in todo:
        jobs.put(job)

    def work():
        while not stop.is_set():
            try:
                source, source_fingerprint = jobs.get_nowait()
            except queue.Empty:
                break
            _put(clips, (source, source_fingerprint, _decode(decoder, source)), stop)
        _put(clips, None, stop)

    workers = [threading.Thread(target=work, daemon=True, name=f"decode-{i}")
               for i in range(count)]
    for worker in workers:
        worker.start()
    return workers


def _decode(decoder: Decoder, source: VideoSource):
    try:
        return decoder.decode(source.video_path)
    except VideoError as error:
        return str(error).removeprefix(f"{source.video_path}: ")
    except Exception as error:  # OpenCV raises cv2.error and others on broken streams
        return f"decoder error: {type(error).__name__}: {error}"


def _put(clips: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            clips.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _drain(clips: queue.Queue) -> None:
    while True:
        try:
            clips.get_nowait()
        except queue.Empty:
            return


def set_cpu_threads(threads: int | None) -> None:
    """Use `threads` torch threads (None: leave torch's default, one per core)."""
    if threads:
        torch.set_num_threads(threads)
