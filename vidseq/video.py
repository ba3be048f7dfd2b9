"""Decode one video into a clip: a stack of sampled, resized RGB frames.

OpenCV's `VideoCapture` reads the file front to back. Every frame is grabbed (demuxed and
decoded), but only the frames that sampling keeps are retrieved, converted and resized:
on sparse-keyframe H.264 that is faster than seeking to each wanted frame.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

# FFmpeg prints its own complaints about broken files straight to stderr, tearing the
# progress bar; vidseq reports each bad video itself. Set before OpenCV loads FFmpeg.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np

from vidseq.errors import VideoError

log = logging.getLogger(__name__)

SAMPLING_MODES = ("uniform", "fps")
RESIZE_MODES = ("stretch", "crop")

# A video that decodes fewer than this share of its header's frame count is reported.
_TRUNCATED_SHARE = 0.9

# Container frame rates outside this range are treated as missing.
_PLAUSIBLE_FPS = (0.1, 1000.0)


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video become the clip.

    `uniform` spreads `clip_len` frames evenly over the whole video; `fps` takes frames at
    `sample_fps` from the start, up to `clip_len` of them.
    """

    mode: str = "uniform"
    clip_len: int = 300
    sample_fps: float = 30.0


@dataclass
class Clip:
    """The decoded clip of one video and what the container said about it.

    `frames_rgb` is `(T, H, W, 3)` uint8 with T <= clip_len (a short video keeps its real
    length). `timestamps_s` holds each kept frame's time in seconds. `frame_count` is the
    number of frames actually decoded, whatever the container header claimed.
    """

    frames_rgb: np.ndarray
    timestamps_s: np.ndarray
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def uniform_indices(frame_count: int, clip_len: int) -> np.ndarray:
    """`clip_len` frame indices spread evenly over `frame_count` frames, each at most once.

    The centre of each of `clip_len` equal spans is taken, so the first and last frames
    are near, not at, the ends. A video with fewer frames keeps all of them.
    """
    if frame_count <= clip_len:
        return np.arange(frame_count)
    span = frame_count / clip_len
    return np.floor(span * (np.arange(clip_len) + 0.5)).astype(np.int64)


def rate_indices(source_fps: float, sample_fps: float, clip_len: int) -> np.ndarray:
    """Indices of the frames nearest to times 0, 1/sample_fps, 2/sample_fps, ...

    Sampling faster than the source would repeat frames; repeats are dropped instead, so
    no frame is invented. Indices past the end of the video are simply never reached.
    """
    step = source_fps / sample_fps
    return np.unique(np.round(np.arange(clip_len) * step).astype(np.int64))


class Decoder:
    """Decodes videos into clips with one set of sampling and resize settings.

    Args:
        sampling: which frames to keep.
        size: output `(height, width)` in pixels.
        resize: `stretch` scales the whole frame; `crop` scales the short side to fit and
            cuts the centre.
    """

    def __init__(self, sampling: Sampling, size: tuple[int, int], resize: str = "stretch"):
        self.sampling = sampling
        self.size = size
        self.resize = resize

    def decode(self, video_path: Path) -> Clip:
        """Decode `video_path` into a clip.

        Raises:
            VideoError: the file cannot be opened, or yields no frames.
        """
        capture = _open(video_path)
        try:
            fps, header_count, width, height = _properties(capture)
            if self.sampling.mode == "fps":
                wanted = rate_indices(fps, self.sampling.sample_fps, self.sampling.clip_len)
                frames_rgb, indices, read_count = _read(capture, wanted, self._convert,
                                                        stop_after_last=True)
                # Reading stopped early, so the header is the best count there is.
                frame_count = max(header_count, read_count)
            else:
                wanted = uniform_indices(header_count, self.sampling.clip_len)
                frames_rgb, indices, frame_count = _read(capture, wanted, self._convert)
        finally:
            capture.release()

        if frame_count == 0:
            raise VideoError(f"{video_path}: no frames could be decoded")

        # A wrong header count spreads a uniform sample over the wrong span: read again
        # with the count that decoding just measured.
        if self.sampling.mode == "uniform" and frame_count != header_count:
            _report_count_mismatch(video_path, header_count, frame_count)
            wanted = uniform_indices(frame_count, self.sampling.clip_len)
            capture = _open(video_path)
            try:
                frames_rgb, indices, _ = _read(capture, wanted, self._convert)
            finally:
                capture.release()

        if not frames_rgb:
            raise VideoError(f"{video_path}: none of the sampled frames could be decoded")

        timestamps_s = np.asarray(indices, dtype=np.float64) / fps
        return Clip(np.stack(frames_rgb), timestamps_s, fps, frame_count, width, height)

    def _convert(self, frame_bgr: np.ndarray) -> np.ndarray:
        out_h, out_w = self.size
        if self.resize == "crop":
            frame_bgr = _centre_crop(frame_bgr, out_w / out_h)
        # INTER_LINEAR: INTER_AREA costs 12-28x more for these downscales.
        resized = cv2.resize(frame_bgr, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)


def _report_count_mismatch(video_path: Path, header_count: int, frame_count: int) -> None:
    # Headers are often off by a frame or two, or say 0 (WebM); far fewer frames than
    # announced usually means a truncated or damaged file, which a user should hear of.
    if header_count > 0 and frame_count < _TRUNCATED_SHARE * header_count:
        log.warning("%s: decoded only %d of the %d frames its header announces (truncated "
                    "or damaged?); the clip spans what decoded", video_path, frame_count,
                    header_count)
    else:
        log.debug("%s: header says %d frames, decoded %d", video_path, header_count,
                  frame_count)


def _open(video_path: Path) -> cv2.VideoCapture:
    if not video_path.is_file():
        raise VideoError(f"{video_path}: no such file")
    if video_path.stat().st_size == 0:
        raise VideoError(f"{video_path}: empty file (0 bytes)")
    capture = cv2.VideoCapture(str(video_path))
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"{video_path}: OpenCV cannot open it as a video (corrupt or "
                         "not a video format it knows)")
    return capture


def _properties(capture: cv2.VideoCapture) -> tuple[float, int, int, int]:
    fps = capture.get(cv2.CAP_PROP_FPS)
    if not (_PLAUSIBLE_FPS[0] <= fps <= _PLAUSIBLE_FPS[1]):
        log.debug("implausible container fps %r; assuming 30", fps)
        fps = 30.0
    header_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    return fps, max(header_count, 0), width, height


def _read(
    capture: cv2.VideoCapture,
    wanted: np.ndarray,
    convert,
    stop_after_last: bool = False,
) -> tuple[list[np.ndarray], list[int], int]:
    """Grab frames in order; retrieve and `convert` only the `wanted` indices (sorted).

    Returns the converted frames, their indices, and how many frames were grabbed. Unless
    `stop_after_last`, reading goes to the end, which makes that count trustworthy.
    Frames are converted as they arrive, so memory holds only small output frames.
    """
    wanted_set = set(wanted.tolist())
    last_wanted = int(wanted[-1]) if len(wanted) else -1
    frames, indices = [], []
    index = 0
    while capture.grab():
        if index in wanted_set:
            ok, frame_bgr = capture.retrieve()
            if ok and frame_bgr is not None:
                frames.append(convert(frame_bgr))
                indices.append(index)
        index += 1
        if stop_after_last and index > last_wanted:
            break
    return frames, indices, index


def _centre_crop(frame: np.ndarray, aspect: float) -> np.ndarray:
    height, width = frame.shape[:2]
    if width / height > aspect:
        new_w = max(1, round(height * aspect))
        left = (width - new_w) // 2
        return frame[:, left : left + new_w]
    new_h = max(1, round(width / aspect))
    top = (height - new_h) // 2
    return frame[top : top + new_h]
