"""Write a small seeded demo dataset whose classes differ only in the order of their frames.

    python scripts/make_demo_videos.py OUT_DIR [--seed 0] [--clips-per-class 10]

Two parts land in OUT_DIR:

- ``clips/<class>/<class>_NNN.mp4``: one object per clip that moves left or right, grows
  or shrinks, or rotates counter-clockwise or clockwise. The second class of each pair is
  the first one played backwards, drawn from the same random trajectories, so both
  classes of a pair have the same distribution of single frames: only a model that sees
  frame order can tell them apart.
- ``frames/video_NNN.mp4`` and ``frames/segments.csv`` (``video,start,end,label``, times
  in seconds): longer videos made of 2-4 back-to-back segments, each one of the six
  actions above, for per-frame labelling. One object looks the same through a video,
  and segments are joined by hard cuts.

Videos are mp4 ("mp4v") at 30 fps. The same seed gives the same labels and segments, and
the same pixels for a given OpenCV build.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

logger = logging.getLogger("make_demo_videos")

FPS = 30

# Class name -> (motion, played backwards). The backwards class of a pair renders the
# forward trajectory reversed, which is what makes the pair differ only in order.
CLASS_MOTIONS = {
    "move_left": ("move", False),
    "move_right": ("move", True),
    "grow": ("scale", False),
    "shrink": ("scale", True),
    "rotate_ccw": ("rotate", False),
    "rotate_cw": ("rotate", True),
}
CLASS_NAMES = list(CLASS_MOTIONS)

# Unit polygons in y-up coordinates, all inside the unit circle. "disc" is drawn as a
# circle. Rotation needs a shape without rotational symmetry.
SHAPES = {
    "square": [(-0.7, -0.7), (0.7, -0.7), (0.7, 0.7), (-0.7, 0.7)],
    "triangle": [(0.0, 1.0), (-0.87, -0.5), (0.87, -0.5)],
    "diamond": [(0.0, 1.0), (0.6, 0.0), (0.0, -1.0), (-0.6, 0.0)],
    "arrow": [
        (-0.9, -0.25), (0.2, -0.25), (0.2, -0.6), (0.95, 0.0),
        (0.2, 0.6), (0.2, 0.25), (-0.9, 0.25),
    ],  # fmt: skip
    "ell": [(-0.6, -0.9), (-0.2, -0.9), (-0.2, 0.5), (0.7, 0.5), (0.7, 0.9), (-0.6, 0.9)],
    "disc": [],
}
ROTATION_SHAPES = ["arrow", "ell"]

# Segments of the frame videos start on a 0.1 s grid, so their times are exact decimals.
SEGMENT_GRID_FRAMES = FPS // 10
MIN_SEGMENT_GRID_STEPS = 7  # 0.7 s
MIN_SIZE = 32


class ObjectState(NamedTuple):
    """Where the object is in one frame: centre and radius in pixels, angle CCW from +x."""

    x_px: float
    y_px: float
    radius_px: float
    angle_rad: float


@dataclass(frozen=True)
class Appearance:
    shape: str
    object_rgb: tuple[int, int, int]
    background_rgb: tuple[int, int, int]
    noise_std: float


@dataclass(frozen=True)
class ClipSpec:
    """One clip's random draw: appearance and the forward trajectory of its motion.

    ``start`` and ``end`` are the object's states in the first and last frame when the
    motion is played forward (left, grow, counter-clockwise); ``easing`` bends the time
    axis (progress = t ** easing) so speed varies within a clip.
    """

    motion: str
    appearance: Appearance
    start: ObjectState
    end: ObjectState
    easing: float
    noise_seed: int


def sample_appearance(rng: np.random.Generator, shapes: list[str]) -> Appearance:
    """Draw a shape, an object colour that stands out from the background, and noise."""
    shape = shapes[rng.integers(len(shapes))]

    while True:
        object_rgb = rng.integers(0, 256, 3)
        background_rgb = rng.integers(0, 256, 3)
        if np.abs(object_rgb - background_rgb).sum() >= 180:
            break

    return Appearance(
        shape=shape,
        object_rgb=tuple(int(c) for c in object_rgb),
        background_rgb=tuple(int(c) for c in background_rgb),
        noise_std=float(rng.uniform(2.0, 6.0)),
    )


def sample_clip_spec(
    rng: np.random.Generator, motion: str, size: int, appearance: Appearance | None = None
) -> ClipSpec:
    """Draw a random forward trajectory for ``motion`` ("move", "scale" or "rotate").

    The object stays inside the ``size`` x ``size`` frame throughout. A new appearance is
    drawn unless one is given (the frame videos keep one per video).
    """
    if motion not in ("move", "scale", "rotate"):
        raise ValueError(f"unknown motion {motion!r}; expected 'move', 'scale' or 'rotate'")
    if appearance is None:
        shapes = ROTATION_SHAPES if motion == "rotate" else list(SHAPES)
        appearance = sample_appearance(rng, shapes)
    angle_rad = rng.uniform(0, 2 * math.pi)

    if motion == "move":
        # Leftwards by a random distance, with a little vertical drift.
        radius_px = rng.uniform(0.10, 0.18) * size
        distance_px = rng.uniform(0.30, 0.60) * size
        x_start = rng.uniform(radius_px + distance_px, size - radius_px)
        y_start = rng.uniform(radius_px, size - radius_px)
        y_end = np.clip(y_start + rng.uniform(-0.1, 0.1) * size, radius_px, size - radius_px)
        start = ObjectState(x_start, y_start, radius_px, angle_rad)
        end = ObjectState(x_start - distance_px, y_end, radius_px, angle_rad)
    elif motion == "scale":
        small_px = rng.uniform(0.05, 0.10) * size
        big_px = rng.uniform(0.22, 0.32) * size
        x, y = rng.uniform(big_px, size - big_px, 2)
        start = ObjectState(x, y, small_px, angle_rad)
        end = ObjectState(x, y, big_px, angle_rad)
    else:
        radius_px = rng.uniform(0.20, 0.32) * size
        x, y = rng.uniform(radius_px, size - radius_px, 2)
        turn_rad = rng.uniform(0.5, 1.5) * math.pi
        start = ObjectState(x, y, radius_px, angle_rad)
        end = ObjectState(x, y, radius_px, angle_rad + turn_rad)

    return ClipSpec(
        motion=motion,
        appearance=appearance,
        start=ObjectState(*(float(v) for v in start)),
        end=ObjectState(*(float(v) for v in end)),
        easing=float(rng.uniform(0.7, 1.4)),
        noise_seed=int(rng.integers(2**31)),
    )


def draw_frame(appearance: Appearance, state: ObjectState, size: int) -> np.ndarray:
    """Draw the object on a plain background, without noise: (size, size, 3) uint8 RGB."""
    frame = np.empty((size, size, 3), np.uint8)
    frame[:] = appearance.background_rgb

    # cv2 takes fixed-point coordinates with `shift` fractional bits: sub-pixel motion.
    shift = 4
    scale = 1 << shift
    if appearance.shape == "disc":
        center = (round(state.x_px * scale), round(state.y_px * scale))
        radius = round(state.radius_px * scale)
        cv2.circle(frame, center, radius, appearance.object_rgb, -1, cv2.LINE_AA, shift)
        return frame

    unit_xy = np.array(SHAPES[appearance.shape])
    cos_a, sin_a = math.cos(state.angle_rad), math.sin(state.angle_rad)
    rotated_x = unit_xy[:, 0] * cos_a - unit_xy[:, 1] * sin_a
    rotated_y = unit_xy[:, 0] * sin_a + unit_xy[:, 1] * cos_a
    # Image rows grow downwards, so y is flipped: positive angles turn counter-clockwise.
    points = np.stack(
        [state.x_px + state.radius_px * rotated_x, state.y_px - state.radius_px * rotated_y],
        axis=1,
    )
    points_fixed = np.round(points * scale).astype(np.int32)
    cv2.fillPoly(frame, [points_fixed], appearance.object_rgb, cv2.LINE_AA, shift)
    return frame


def render_clip(spec: ClipSpec, class_name: str, num_frames: int, size: int) -> np.ndarray:
    """Render one clip of ``class_name`` from ``spec``: (T, size, size, 3) uint8 RGB.

    Noise is drawn for the forward motion and reversed with it, so the backwards class of
    a pair is exactly the forward clip of the same spec read back to front.
    """
    motion, backwards = CLASS_MOTIONS[class_name]
    if motion != spec.motion:
        raise ValueError(f"class {class_name!r} needs a {motion!r} spec, got {spec.motion!r}")

    progress = np.linspace(0.0, 1.0, num_frames) ** spec.easing
    start = np.array(spec.start)
    end = np.array(spec.end)
    clean = [
        draw_frame(spec.appearance, ObjectState(*(start + p * (end - start))), size)
        for p in progress
    ]

    noise_rng = np.random.default_rng(spec.noise_seed)
    noise = noise_rng.standard_normal((num_frames, size, size, 3), dtype=np.float32)
    noisy = np.stack(clean).astype(np.float32) + spec.appearance.noise_std * noise
    clip = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return clip[::-1].copy() if backwards else clip


def sample_segments(
    rng: np.random.Generator, num_frames: int, class_counts: dict[str, int] | None = None
) -> list[tuple[int, int, str]]:
    """Split ``num_frames`` into 2-4 back-to-back segments of at least 0.7 s each.

    Returns (start_frame, end_frame, class_name) with end exclusive. Boundaries fall on a
    0.1 s grid; the last segment takes the frames left over after the grid. Neighbouring
    segments never share a class. With ``class_counts`` (segments per class so far, updated
    here) each segment takes one of the least used classes, so that a dozen videos cover
    every class about equally; a plain random draw left a whole class out of the 12
    training videos of seed 0.
    """
    grid_steps = num_frames // SEGMENT_GRID_FRAMES
    most_segments = min(4, grid_steps // MIN_SEGMENT_GRID_STEPS)
    num_segments = int(rng.integers(2, most_segments + 1))

    # Share the steps beyond each segment's minimum out at random cut points.
    spare_steps = grid_steps - num_segments * MIN_SEGMENT_GRID_STEPS
    cuts = np.sort(rng.integers(0, spare_steps + 1, num_segments - 1))
    extra_steps = np.diff(np.concatenate([[0], cuts, [spare_steps]]))
    lengths = (MIN_SEGMENT_GRID_STEPS + extra_steps) * SEGMENT_GRID_FRAMES
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    bounds[-1] = num_frames

    segments = []
    previous = None
    for start_frame, end_frame in zip(bounds[:-1], bounds[1:]):
        choices = [name for name in CLASS_NAMES if name != previous]
        if class_counts is not None:
            fewest = min(class_counts[name] for name in choices)
            choices = [name for name in choices if class_counts[name] == fewest]
        previous = choices[rng.integers(len(choices))]
        if class_counts is not None:
            class_counts[previous] += 1
        segments.append((int(start_frame), int(end_frame), previous))
    return segments


def render_segmented_video(
    rng: np.random.Generator, segments: list[tuple[int, int, str]], size: int
) -> np.ndarray:
    """Render one object through ``segments``, a fresh trajectory per segment: (T, H, W, 3)."""
    appearance = sample_appearance(rng, ROTATION_SHAPES)
    parts = []
    for start_frame, end_frame, class_name in segments:
        motion, _ = CLASS_MOTIONS[class_name]
        spec = sample_clip_spec(rng, motion, size, appearance)
        parts.append(render_clip(spec, class_name, end_frame - start_frame, size))
    return np.concatenate(parts)


def write_video(path: Path, clip_rgb: np.ndarray, fps: int = FPS) -> None:
    """Write (T, H, W, 3) uint8 RGB frames to an mp4 ("mp4v") file."""
    height, width = clip_rgb.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path} with the mp4v codec")
    try:
        for frame_rgb in clip_rgb:
            writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def _check_settings(
    clips_per_class: int, frames: int, size: int, frame_videos: int, frame_video_frames: int
) -> None:
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be at least 1, got {clips_per_class}")
    if frames < 2:
        raise ValueError(f"frames must be at least 2, got {frames}")
    if size < MIN_SIZE or size % 2:
        raise ValueError(f"size must be an even number of pixels >= {MIN_SIZE}, got {size}")
    if frame_videos < 0:
        raise ValueError(f"frame_videos must be 0 or more, got {frame_videos}")
    shortest = 2 * MIN_SEGMENT_GRID_STEPS * SEGMENT_GRID_FRAMES
    if frame_video_frames < shortest:
        raise ValueError(
            f"frame_video_frames must be at least {shortest} (two 0.7 s segments at {FPS} fps),"
            f" got {frame_video_frames}"
        )


def _check_no_stale_videos(out_dir: Path, planned: set[Path]) -> None:
    """Refuse to mix this demo with videos a different earlier run left behind."""
    found = [*out_dir.glob("clips/*/*.mp4"), *out_dir.glob("frames/*.mp4")]
    stale = sorted(path for path in found if path not in planned)
    if stale:
        raise FileExistsError(
            f"{out_dir} holds {len(stale)} videos this demo would not write (e.g. {stale[0]});"
            " delete its clips/ and frames/ folders or choose an empty folder"
        )


def make_demo(
    out_dir: Path,
    seed: int = 0,
    clips_per_class: int = 10,
    frames: int = 60,
    size: int = 96,
    frame_videos: int = 12,
    frame_video_frames: int = 150,
) -> dict:
    """Write the demo clips, frame videos and segments.csv under ``out_dir``.

    Returns a dict with ``clip_paths`` (class name -> list of paths), ``frame_video_paths``,
    ``segments_csv`` and ``segments`` (the csv rows as (video, start_s, end_s, label)).
    Raises ValueError on a bad setting and FileExistsError if ``out_dir`` holds videos from
    a run with other settings; files this run writes again are overwritten.
    """
    out_dir = Path(out_dir)
    _check_settings(clips_per_class, frames, size, frame_videos, frame_video_frames)
    clip_paths = {
        name: [out_dir / "clips" / name / f"{name}_{i:03d}.mp4" for i in range(clips_per_class)]
        for name in CLASS_NAMES
    }
    frames_dir = out_dir / "frames"
    frame_video_paths = [frames_dir / f"video_{i:03d}.mp4" for i in range(frame_videos)]
    planned = {path for paths in clip_paths.values() for path in paths}
    _check_no_stale_videos(out_dir, planned | set(frame_video_paths))
    rng = np.random.default_rng(seed)

    # Clips: an independent draw per clip, from the same distribution within a pair.
    for class_name, paths in clip_paths.items():
        motion, _ = CLASS_MOTIONS[class_name]
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        for path in paths:
            spec = sample_clip_spec(rng, motion, size)
            write_video(path, render_clip(spec, class_name, frames, size))
            logger.debug("wrote %s", path)

    # Frame videos and their segment table.
    frames_dir.mkdir(parents=True, exist_ok=True)
    segment_rows = []
    class_counts = dict.fromkeys(CLASS_NAMES, 0)
    for path in frame_video_paths:
        segments = sample_segments(rng, frame_video_frames, class_counts)
        write_video(path, render_segmented_video(rng, segments, size))
        for start_frame, end_frame, label in segments:
            start_s = round(start_frame / FPS, 3)
            end_s = round(end_frame / FPS, 3)
            segment_rows.append((path.name, start_s, end_s, label))
    segments_csv = frames_dir / "segments.csv"
    with segments_csv.open("w", newline="") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(["video", "start", "end", "label"])
        writer.writerows(segment_rows)

    return {
        "clip_paths": clip_paths,
        "frame_video_paths": frame_video_paths,
        "segments_csv": segments_csv,
        "segments": segment_rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write clips/ and frames/ into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips-per-class", type=int, default=10)
    parser.add_argument("--frames", type=int, default=60, help="frames per clip")
    parser.add_argument("--size", type=int, default=96, help="frame width and height, px")
    parser.add_argument("--frame-videos", type=int, default=12)
    parser.add_argument("--frame-video-frames", type=int, default=150)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        result = make_demo(
            args.out_dir,
            seed=args.seed,
            clips_per_class=args.clips_per_class,
            frames=args.frames,
            size=args.size,
            frame_videos=args.frame_videos,
            frame_video_frames=args.frame_video_frames,
        )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    num_clips = sum(len(paths) for paths in result["clip_paths"].values())
    print(
        f"wrote {num_clips} clips ({len(CLASS_NAMES)} classes, {args.frames} frames"
        f" {args.size}x{args.size}) and {len(result['frame_video_paths'])} frame videos"
        f" ({args.frame_video_frames} frames, {len(result['segments'])} segments)"
        f" to {args.out_dir} in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
