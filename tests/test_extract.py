"""Extraction into the HDF5 cache: layout, resume rules, failures, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from conftest import write_video

from vidseq.backbone import Backbone
from vidseq.cache import FeatureCache, video_key
from vidseq.config import ExtractConfig
from vidseq.discover import find_videos
from vidseq.errors import CacheError
from vidseq.extract import extract
from vidseq.video import uniform_indices

SIZE = 32


@pytest.fixture(scope="module")
def backbone():
    # Random ResNet-18 features vary from frame to frame; random MobileNetV2's are all ~0.
    return Backbone("resnet18", random_weights=True)


def config(**changes) -> ExtractConfig:
    settings = {"backbone": "resnet18", "random_weights": True, "clip_len": 8, "size": [SIZE, SIZE], "batch_size": 16}
    settings.update(changes)
    return ExtractConfig(**settings)


def run(video_dir, output, backbone, **changes):
    return extract(find_videos(video_dir), output, config(**changes), backbone, progress=False)


def test_cache_layout_holds_documented_fields(video_dir, tmp_path, backbone):
    output = tmp_path / "features.h5"
    summary = run(video_dir, output, backbone)

    assert (summary.extracted, summary.cached, summary.failed) == (4, 0, 1)
    with h5py.File(output, "r") as cache:
        assert cache.attrs["format"] == "vidseq-features"
        assert cache.attrs["backbone"] == "resnet18"
        assert cache.attrs["weights"] == "random(seed=0)"
        assert cache.attrs["feature_dim"] == 512
        assert (cache.attrs["input_height"], cache.attrs["input_width"]) == (SIZE, SIZE)
        assert cache.attrs["sampling"] == "uniform"
        assert cache.attrs["clip_len"] == 8
        assert "vidseq_version" in cache.attrs

        group = cache["videos"][video_key("left/clip_1.mp4")]
        assert group["features"].shape == (8, 512)
        assert group["features"].dtype == np.float16
        np.testing.assert_allclose(group["timestamps_s"][()], uniform_indices(24, 8) / 30)
        assert group.attrs["path"] == "left/clip_1.mp4"
        assert group.attrs["class_name"] == "left"
        assert group.attrs["frame_count"] == 24
        assert group.attrs["fps"] == pytest.approx(30)
        assert (group.attrs["width"], group.attrs["height"]) == (64, 64)
        assert group.attrs["duration_s"] == pytest.approx(24 / 30)
        assert len(group.attrs["fingerprint"]) == 32

        failure = cache["failures"][video_key("right/broken.avi")]
        assert "cannot open" in failure.attrs["reason"]
    assert not (tmp_path / "features.h5.journal").exists()


def test_features_match_the_backbone_on_the_decoded_frames(tmp_path, backbone):
    video = write_video(tmp_path / "v" / "a.mp4", 10)
    output = tmp_path / "f.h5"
    run(tmp_path / "v", output, backbone, dtype="float32")

    from vidseq.video import Decoder

    clip = Decoder(config().sampling_settings, (SIZE, SIZE)).decode(video)
    with FeatureCache(output) as cache:
        features, _ = cache.read(video_key("a.mp4"))
    np.testing.assert_allclose(features, backbone.encode(clip.frames_rgb), rtol=1e-4, atol=1e-4)


def test_rerun_skips_cached_reextracts_changed_and_adds_new(video_dir, tmp_path, backbone):
    output = tmp_path / "features.h5"
    run(video_dir, output, backbone)

    write_video(video_dir / "left" / "clip_0.mp4", 12)  # changed content
    write_video(video_dir / "new" / "clip.mp4", 9)       # new video
    summary = run(video_dir, output, backbone)

    assert (summary.extracted, summary.cached, summary.failed) == (2, 3, 1)
    with FeatureCache(output) as cache:
        frames = {entry.path: entry.frame_count for entry in cache.entries}
    assert frames["left/clip_0.mp4"] == 12
    assert frames["new/clip.mp4"] == 9
    assert len(frames) == 5


def test_other_settings_are_refused_naming_the_difference(video_dir, tmp_path, backbone):
    output = tmp_path / "features.h5"
    run(video_dir, output, backbone)
    with pytest.raises(CacheError, match=r"clip_len: 4 vs 8"):
        run(video_dir, output, backbone, clip_len=4)


def test_a_fixed_video_leaves_the_failure_list(tmp_path, backbone):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "x.mp4").write_bytes(b"")
    output = tmp_path / "f.h5"
    assert run(folder, output, backbone).failed == 1

    write_video(folder / "x.mp4", 6)
    assert run(folder, output, backbone).extracted == 1
    with FeatureCache(output) as cache:
        assert [entry.path for entry in cache.entries] == ["x.mp4"]
        assert cache.failures == []


def test_a_crash_during_commit_keeps_the_old_cache_and_the_journal(
        video_dir, tmp_path, backbone, monkeypatch):
    output = tmp_path / "features.h5"
    real_replace = os.replace

    def crash_on_commit(source, target):
        if str(source).endswith(".commit"):
            raise OSError("simulated crash while committing")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_on_commit)
    with pytest.raises(OSError, match="simulated"):
        run(video_dir, output, backbone)
    monkeypatch.setattr(os, "replace", real_replace)

    with FeatureCache(output) as cache:  # still readable: the empty cache made first
        assert cache.entries == []
    summary = run(video_dir, output, backbone)
    assert (summary.extracted, summary.cached) == (0, 4)
    with FeatureCache(output) as cache:
        assert len(cache.entries) == 4


def _extract_command(folder, output):
    return [sys.executable, "-m", "vidseq", "extract", str(folder), "-o", str(output),
            "--backbone", "resnet18", "--random-weights", "--size", str(SIZE), "--clip-len", "8", "--batch-size", "8",
            "--quiet", "--threads", "1"]


def test_sigkill_mid_run_loses_only_videos_in_flight_and_resume_completes(tmp_path):
    folder = tmp_path / "videos"
    for number in range(24):
        write_video(folder / f"class_{number % 3}" / f"clip_{number:02d}.mp4", 20 + number)
    killed = tmp_path / "killed.h5"
    journal = tmp_path / "killed.h5.journal"

    process = subprocess.Popen(_extract_command(folder, killed))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if journal.is_dir() and len(list(journal.glob("*.h5"))) >= 3:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "extraction finished before the kill"

    survived = len(list(journal.glob("*.h5")))
    with FeatureCache(killed) as cache:  # readable after the kill
        survived += len(cache.entries)
    assert survived >= 3

    resume_command = [arg for arg in _extract_command(folder, killed) if arg != "--quiet"]
    resumed = subprocess.run(resume_command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{24 - survived} extracted, {survived} already cached, 0 failed" in resumed.stderr
    uninterrupted = tmp_path / "uninterrupted.h5"
    subprocess.run(_extract_command(folder, uninterrupted), check=True)

    with FeatureCache(killed) as a, FeatureCache(uninterrupted) as b:
        assert [e.path for e in a.entries] == [e.path for e in b.entries]
        assert len(a.entries) == 24
        assert a.read(a.entries[0].key)[0].std() > 0.01  # real, varied features
        for entry in a.entries:
            features_a, times_a = a.read(entry.key)
            features_b, times_b = b.read(entry.key)
            np.testing.assert_allclose(features_a, features_b, rtol=1e-2, atol=1e-2)
            np.testing.assert_array_equal(times_a, times_b)
