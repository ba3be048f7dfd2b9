"""`vidseq extract` and `vidseq info` from the command line: exit codes and messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vidseq.cli import main

TINY = ["--backbone", "resnet18", "--random-weights", "--size", "32", "--clip-len", "6", "--quiet"]


def test_extract_then_info(video_dir, tmp_path, capsys):
    output = tmp_path / "f.h5"
    assert main(["extract", str(video_dir), "-o", str(output), *TINY]) == 1  # one broken
    err = capsys.readouterr().err
    assert "right/broken.avi" in err and "cannot open" in err

    assert main(["info", str(output)]) == 0
    out = capsys.readouterr().out
    assert "4 extracted, 1 failed" in out
    assert "left: 2" in out and "right: 2" in out
    assert "backbone = resnet18" in out
    assert "right/broken.avi" in out


def test_config_file_sets_defaults_and_flags_win(video_dir, tmp_path, capsys):
    config = tmp_path / "x.toml"
    config.write_text('[extract]\nclip_len = 4\nsize = 32\nrandom_weights = true\n'
                      'sampling = "fps"\nsample_fps = 10.0\n')
    output = tmp_path / "f.h5"
    main(["extract", str(video_dir / "left"), "-o", str(output), "--config", str(config),
          "--clip-len", "3", "-q"])
    main(["info", str(output)])
    out = capsys.readouterr().out
    assert "clip_len = 3" in out and "sampling = fps" in out and "sample_fps = 10.0" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["extract", "{tmp}/nowhere"], "does not exist", id="missing-input"),
        pytest.param(["extract", "{tmp}/empty"], "no video files", id="empty-folder"),
        pytest.param(["extract", "{videos}", "--backbone", "vgg"], "backbone 'vgg' is not one of mobilenet_v2",
                     id="unknown-backbone"),
        pytest.param(["extract", "{videos}", "--sampling", "random"],
                     "sampling 'random' is not one of uniform, fps", id="bad-sampling"),
        pytest.param(["extract", "{videos}", "--clip-len", "0"], "clip_len must be positive",
                     id="bad-clip-len"),
        pytest.param(["extract", "{videos}", "--batch-size", "-1"],
                     "batch_size must be 0 (auto) or positive; got -1", id="bad-batch-size"),
        pytest.param(["extract", "{videos}", "--config", "{tmp}/bad.toml"],
                     "unknown extract setting 'clip_length'", id="bad-config-key"),
        pytest.param(["extract", "{videos}", "--config", "{tmp}/misspelt.toml"],
                     "'extrct' is not a table vidseq knows; use [extract], [train]",
                     id="misspelt-config-table"),
        pytest.param(["extract", "{videos}", "-o", "/proc/nope/f.h5", *TINY],
                     "cannot write the cache", id="unwritable-output"),
        pytest.param(["info", "{tmp}/bad.toml"], "cannot be read as HDF5", id="info-not-hdf5"),
        pytest.param(["extract", "{videos}", "--weights-file", "{tmp}/w.pth"],
                     "w.pth does not exist", id="missing-weights-file"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, message, video_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.toml").write_text("[extract]\nclip_length = 3\n")
    (tmp_path / "misspelt.toml").write_text("[extrct]\nclip_len = 3\n")
    argv = [a.format(tmp=tmp_path, videos=video_dir) for a in args]
    if "-o" not in argv and argv[0] == "extract":
        argv += ["-o", str(tmp_path / "out.h5")]

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_missing_pretrained_weights_say_where_to_put_them(video_dir, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("torch.hub.download_url_to_file", _offline)
    assert main(["extract", str(video_dir), "-o", str(tmp_path / "f.h5"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "mobilenet_v2-b0353104.pth" in err
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in err


def _offline(*args, **kwargs):
    raise OSError("network unreachable")


def test_python_dash_m_vidseq_runs_the_same_command_line():
    result = subprocess.run([sys.executable, "-m", "vidseq", "--help"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0
    for command in ("extract", "info", "merge", "train", "evaluate", "summary", "predict"):
        assert command in result.stdout
