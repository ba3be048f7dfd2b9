"""Finding videos: extensions, order, classes, hidden files, link loops."""

from __future__ import annotations

import os

import pytest

from vidseq.discover import find_videos
from vidseq.errors import VidseqError


def test_finds_videos_recursively_in_sorted_order_with_first_level_classes(tmp_path):
    for name in ("b/deep/x.MP4", "a/one.avi", "a/two.mkv", "top.webm", "a/notes.txt",
                 "a/.hidden.mp4", ".cache/c.mp4", "c/clip.MoV"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")

    sources = find_videos(tmp_path)

    assert [s.relative_path for s in sources] == [
        "a/one.avi", "a/two.mkv", "b/deep/x.MP4", "c/clip.MoV", "top.webm"]
    assert [s.class_name for s in sources] == ["a", "a", "b", "c", ""]


def test_a_single_file_is_accepted(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    [source] = find_videos(video)
    assert (source.relative_path, source.class_name) == ("clip.mp4", "")


def test_symlink_loops_do_not_hang_the_walk(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "v.mp4").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    assert [s.relative_path for s in find_videos(tmp_path)] == ["a/v.mp4"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p / "missing", "does not exist", id="missing"),
        pytest.param(lambda p: p, "no video files", id="empty-folder"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(tmp_path, make, message):
    with pytest.raises(VidseqError, match=message):
        find_videos(make(tmp_path))


def test_a_file_without_a_video_extension_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(VidseqError, match="video extension"):
        find_videos(tmp_path / "notes.txt")
