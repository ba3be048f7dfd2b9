"""Sharded extraction: balanced shards, --shard + merge, torchrun ranks, merge refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_video

from vidseq.cache import FeatureCache
from vidseq.cli import main
from vidseq.discover import find_videos
from vidseq.errors import CacheError, ConfigError
from vidseq.merge import find_parts
from vidseq.shard import assign, parse_shard, part_path
from vidseq.video import Sampling

TINY = ["--backbone", "resnet18", "--random-weights", "--size", "32", "--clip-len", "8", "--batch-size", "8", "-q"]


FRAMES = {f"clip_{number}": n for number, n in enumerate((6, 40, 12, 30, 9, 25, 18))}


@pytest.fixture
def videos(tmp_path):
    root = tmp_path / "videos"
    for number, (stem, n_frames) in enumerate(FRAMES.items()):
        write_video(root / f"class_{number % 2}" / f"{stem}.mp4", n_frames)
    (root / "class_1" / "broken.mp4").write_bytes(b"\x00\x01junk" * 99)
    return root


def assert_same_cache(path_a, path_b):
    with FeatureCache(path_a) as a, FeatureCache(path_b) as b:
        assert a.settings == b.settings
        assert a.entries == b.entries  # same videos, order and metadata
        assert a.read(a.entries[0].key)[0].std() > 0.01  # real, varied features
        assert [(f.path, f.reason) for f in a.failures] == [(f.path, f.reason)
                                                            for f in b.failures]
        for entry in a.entries:
            features_a, times_a = a.read(entry.key)
            features_b, times_b = b.read(entry.key)
            np.testing.assert_allclose(features_a, features_b, rtol=1e-2, atol=1e-2)
            np.testing.assert_array_equal(times_a, times_b)


@pytest.mark.parametrize(("text", "expected"), [("0/1", (0, 1)), ("3/16", (3, 16))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["3", "16/16", "-1/4", "a/b", "1/0"])
def test_parse_shard_refuses_nonsense(text):
    with pytest.raises(ConfigError, match="shard"):
        parse_shard(text)


def test_part_paths_are_numbered_within_the_output_folder(tmp_path):
    assert part_path(tmp_path / "f.h5", 3, 16) == tmp_path / "f-03-of-16.h5"


def test_shards_are_disjoint_complete_deterministic_and_balanced_by_work(videos):
    sources = find_videos(videos)
    sampling = Sampling("uniform", 300, 30.0)
    shards = assign(sources, 2, sampling)

    assert assign(sources, 2, sampling) == shards
    paths = [s.relative_path for shard in shards for s in shard]
    assert sorted(paths) == sorted(s.relative_path for s in sources)
    # 140 frames in all (plus a broken file); a split by count alone could put the three
    # longest clips (40, 30, 25 frames) in one shard.
    frames = [sum(FRAMES.get(source.video_path.stem, 0) for source in shard)
              for shard in shards]
    assert abs(frames[0] - frames[1]) <= 10


def test_shard_then_merge_equals_one_process(videos, tmp_path):
    single = tmp_path / "single.h5"
    assert main(["extract", str(videos), "-o", str(single), *TINY]) == 1
    parts = tmp_path / "parts"
    for index in range(3):
        main(["extract", str(videos), "-o", str(parts / "f.h5"), "--shard", f"{index}/3",
              *TINY])
    assert sorted(p.name for p in parts.iterdir()) == ["f-0-of-3.h5", "f-1-of-3.h5",
                                                       "f-2-of-3.h5"]
    merged = tmp_path / "merged.h5"
    assert main(["merge", str(parts), "-o", str(merged)]) == 0
    assert_same_cache(merged, single)

    # Merging again changes nothing.
    assert main(["merge", str(parts), "-o", str(merged)]) == 0
    assert_same_cache(merged, single)


def test_merge_refuses_parts_with_other_settings(videos, tmp_path, capsys):
    main(["extract", str(videos), "-o", str(tmp_path / "a.h5"), "--shard", "0/2", *TINY])
    main(["extract", str(videos), "-o", str(tmp_path / "a.h5"), "--shard", "1/2", *TINY,
          "--clip-len", "4"])
    assert main(["merge", str(tmp_path / "a-0-of-2.h5"), str(tmp_path / "a-1-of-2.h5"),
                 "-o", str(tmp_path / "m.h5")]) == 2
    assert "other settings" in capsys.readouterr().err
    assert not (tmp_path / "m.h5").exists()


def test_merge_refuses_overlapping_parts(videos, tmp_path, capsys):
    main(["extract", str(videos), "-o", str(tmp_path / "a.h5"), "--shard", "0/2", *TINY])
    main(["extract", str(videos), "-o", str(tmp_path / "b.h5"), "--shard", "0/3", *TINY])
    assert main(["merge", str(tmp_path / "a-0-of-2.h5"), str(tmp_path / "b-0-of-3.h5"),
                 "-o", str(tmp_path / "m.h5")]) == 2
    assert "parts overlap" in capsys.readouterr().err


def test_merge_with_no_parts_is_a_clear_error(tmp_path):
    with pytest.raises(CacheError, match="no part caches"):
        find_parts([tmp_path], tmp_path / "out.h5")


def _torchrun(videos, output):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--standalone", "-m", "vidseq", "extract", str(videos), "-o", str(output),
               *[arg for arg in TINY if arg != "-q"]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_torchrun_two_ranks_equal_one_process_and_resume_per_part(videos, tmp_path):
    single = tmp_path / "single.h5"
    main(["extract", str(videos), "-o", str(single), *TINY])

    # A launch killed after rank 0 finished its part: that part is already on disk.
    output = tmp_path / "f.h5"
    main(["extract", str(videos), "-o", str(tmp_path / "f.h5.parts" / "f.h5"), "--shard",
          "0/2", *TINY])
    rank0_done = len(FeatureCache(tmp_path / "f.h5.parts" / "f-0-of-2.h5").entries)

    result = _torchrun(videos, output)

    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{rank0_done} already cached" in result.stderr
    assert "1 failed" in result.stderr and "broken.mp4" in result.stderr
    assert not (tmp_path / "f.h5.parts").exists()
    assert_same_cache(output, single)

    again = _torchrun(videos, output)  # everything is in the merged output now
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 extracted, 7 already cached, 1 failed" in again.stderr
