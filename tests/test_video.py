"""Decoding and frame sampling on real video files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SIDE, index_of, write_video

from vidseq.errors import VideoError
from vidseq.video import Decoder, Sampling, rate_indices, uniform_indices


def decoder(mode="uniform", clip_len=8, sample_fps=30.0, size=(SIDE, SIDE), resize="stretch"):
    return Decoder(Sampling(mode, clip_len, sample_fps), size, resize)


def test_uniform_indices_spread_over_the_whole_video():
    indices = uniform_indices(100, 10)
    assert indices.tolist() == [5, 15, 25, 35, 45, 55, 65, 75, 85, 95]
    assert uniform_indices(7, 10).tolist() == list(range(7))


def test_rate_indices_never_repeat_a_frame():
    assert rate_indices(30.0, 10.0, 4).tolist() == [0, 3, 6, 9]
    # Sampling faster than the source keeps each frame once instead of inventing frames.
    assert rate_indices(10.0, 30.0, 6).tolist() == [0, 1, 2]


def test_uniform_sampling_returns_the_expected_frames_and_times(tmp_path):
    video = write_video(tmp_path / "v.mp4", 40, fps=20.0)
    clip = decoder(clip_len=8).decode(video)

    expected = uniform_indices(40, 8)
    assert [index_of(frame) for frame in clip.frames_rgb] == expected.tolist()
    np.testing.assert_allclose(clip.timestamps_s, expected / 20.0)
    assert clip.frames_rgb.shape == (8, SIDE, SIDE, 3)
    assert clip.frames_rgb.dtype == np.uint8
    assert (clip.frame_count, clip.fps, clip.width, clip.height) == (40, 20.0, SIDE, SIDE)
    assert clip.duration_s == pytest.approx(2.0)


def test_short_video_keeps_its_real_length(tmp_path):
    video = write_video(tmp_path / "short.mp4", 5)
    clip = decoder(clip_len=300).decode(video)
    assert [index_of(frame) for frame in clip.frames_rgb] == [0, 1, 2, 3, 4]


def test_fps_sampling_takes_a_fixed_rate_from_the_start(tmp_path):
    video = write_video(tmp_path / "v.mp4", 100, fps=30.0)
    clip = decoder(mode="fps", clip_len=5, sample_fps=10.0).decode(video)
    assert [index_of(frame) for frame in clip.frames_rgb] == [0, 3, 6, 9, 12]
    np.testing.assert_allclose(clip.timestamps_s, [0.0, 0.1, 0.2, 0.3, 0.4])


def test_fps_sampling_stops_at_the_end_of_a_short_video(tmp_path):
    video = write_video(tmp_path / "v.mp4", 10, fps=30.0)
    clip = decoder(mode="fps", clip_len=50, sample_fps=15.0).decode(video)
    assert [index_of(frame) for frame in clip.frames_rgb] == [0, 2, 4, 6, 8]


def test_wrong_header_count_still_gives_a_uniform_sample(tmp_path, caplog):
    # A truncated AVI keeps its header's frame count (60) but holds fewer frames.
    full = write_video(tmp_path / "full.avi", 60, codec="MJPG")
    data = full.read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: len(data) // 2])

    clip = decoder(clip_len=6).decode(truncated)

    real_count = clip.frame_count
    assert 0 < real_count < 60
    assert [index_of(frame) for frame in clip.frames_rgb] == uniform_indices(
        real_count, 6).tolist()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"{truncated}: decoded only {real_count} of the 60 frames its header "
                        "announces (truncated or damaged?); the clip spans what decoded"]


def test_a_complete_video_gives_no_warning(tmp_path, caplog):
    decoder(clip_len=6).decode(write_video(tmp_path / "full.avi", 60, codec="MJPG"))
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_frames_are_resized_and_converted_to_rgb(tmp_path):
    video = write_video(tmp_path / "v.mp4", 3)
    clip = decoder(size=(16, 24)).decode(video)
    assert clip.frames_rgb.shape == (3, 16, 24, 3)


def test_crop_keeps_the_centre(tmp_path):
    video = write_video(tmp_path / "v.mp4", 1)
    # Crop a 64x64 frame to aspect 2:1 -> the middle 32 rows, scaled to 8x16.
    clip = decoder(size=(8, 16), resize="crop").decode(video)
    assert clip.frames_rgb.shape == (1, 8, 16, 3)
    stretched = decoder(size=(8, 16)).decode(video)
    assert not np.array_equal(clip.frames_rgb, stretched.frames_rgb)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "empty file", id="zero-bytes"),
        pytest.param(b"hello, I am text\n" * 100, "cannot open", id="not-a-video"),
    ],
)
def test_unreadable_files_raise_video_error(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        decoder().decode(path)


def test_missing_file_raises_video_error(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        decoder().decode(tmp_path / "gone.mp4")
