"""Bad input to `vidseq train`: one clear line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import re

import pytest
from feature_caches import order_videos, write_cache, write_csv

from vidseq.cli import main


def _unlabelled_videos() -> list:
    return [(f"clip_{number}.mp4", "", features)
            for number, (_, _, features) in enumerate(order_videos(2))]


def _one_class_videos() -> list:
    return [video for video in order_videos(3) if video[1] == "rising"]


def _case(tmp_path, case: str) -> tuple[list[str], str]:
    """Arguments after `train CACHE -o RUN` and the message expected for one bad input."""
    if case == "empty-cache":
        write_cache(tmp_path / "c.h5", [])
        return [], "the feature cache holds no videos; extract some first"
    if case == "no-classes-no-labels":
        write_cache(tmp_path / "c.h5", _unlabelled_videos())
        return [], (r"the cached videos have no classes \(they were not in class subfolders "
                    r"at extraction\); give --labels labels.csv")
    if case == "one-class":
        write_cache(tmp_path / "c.h5", _one_class_videos())
        return [], (r"only one class \(rising\) in the cache's class folders; training a "
                    "classifier needs at least two")

    write_cache(tmp_path / "c.h5", order_videos(2))
    if case == "segments-bad-columns":
        segments = write_csv(tmp_path / "s.csv", "name,from,to,label", [("a", 0, 1, "x")])
        return (["--task", "frame", "--segments", str(segments)],
                "s.csv has the columns name,from,to,label; expected a header with "
                "video,start,end,label")
    if case == "segments-end-before-start":
        segments = write_csv(tmp_path / "s.csv", "video,start,end,label",
                             [("rising_00.mp4", 0, 0.5, "x"), ("rising_00.mp4", 0.9, 0.6, "y")])
        return (["--task", "frame", "--segments", str(segments)],
                "s.csv line 3: end 0.6 s is before start 0.9 s")
    if case == "frame-without-segments":
        return ["--task", "frame"], "the frame task needs --segments segments.csv"
    if case == "unknown-head":
        return (["--head", "transformer"],
                "head.kind = 'transformer' is not supported; choose one of: lstm, gru, "
                "bilstm, bigru, mean")
    if case == "bad-config-value":
        config = tmp_path / "bad.toml"
        config.write_text("[train]\nschedule = \"linear\"\n")
        return ["--config", str(config)], "train.schedule 'linear' is not one of cosine, constant"
    if case == "unknown-config-key":
        config = tmp_path / "bad.toml"
        config.write_text("[train]\nlearning_rate = 0.1\n")
        return ["--config", str(config)], "unknown train setting 'learning_rate'; known: output"
    if case == "missing-cache":
        (tmp_path / "c.h5").unlink()
        return [], "c.h5 does not exist; make one with `vidseq extract VIDEOS -o FILE`"
    raise AssertionError(case)


@pytest.mark.parametrize("case", [
    "empty-cache",
    "no-classes-no-labels",
    "one-class",
    "segments-bad-columns",
    "segments-end-before-start",
    "frame-without-segments",
    "unknown-head",
    "bad-config-value",
    "unknown-config-key",
    "missing-cache",
])
def test_bad_input_gives_one_clear_line(tmp_path, capsys, case):
    extra_args, message = _case(tmp_path, case)

    status = main(["train", str(tmp_path / "c.h5"), "-o", str(tmp_path / "run"), "-q",
                   *extra_args])

    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert error.startswith("vidseq train: error: ")
    assert "Traceback" not in error
    assert re.search(message, error), error
    assert not (tmp_path / "run" / "last.pt").exists()


def test_resume_without_a_run_says_so(tmp_path, capsys):
    write_cache(tmp_path / "c.h5", order_videos(2))

    status = main(["train", str(tmp_path / "c.h5"), "-o", str(tmp_path / "run"), "--resume"])

    assert status == 2
    assert "nothing to resume: " in capsys.readouterr().err
