"""Tests for the predict library: same results on every route, and models matched to features."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from tiny_models import CLIP_LEN, make_videos, save_tiny_model, tiny_config

from vidseq.backbone import Backbone
from vidseq.cache import FeatureCache
from vidseq.discover import find_videos
from vidseq.errors import CacheError, ConfigError, WeightsError
from vidseq.extract import encode_videos, extract
from vidseq.model_extraction import backbone_for, check_cache, extract_config_for
from vidseq.model_file import load_model
from vidseq.predict import predict_path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    return make_videos(tmp_path_factory.mktemp("predict") / "videos")


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    """One frozen backbone for the whole module: freezing costs seconds per instance."""
    config = tiny_config()
    return Backbone(config.backbone, None, True, "cpu")


def by_path(predictions) -> dict:
    return {prediction.path: prediction for prediction in predictions}


@pytest.mark.parametrize("task", ["clip", "frame"])
def test_a_video_gets_the_same_prediction_alone_in_a_folder_and_from_a_cache(
    task, videos, backbone, tmp_path
):
    model = load_model(save_tiny_model(tmp_path / "model.pt", task))
    cache_path = tmp_path / "features.h5"
    extract(find_videos(videos), cache_path, tiny_config(), backbone, progress=False)
    options = dict(device="cpu", progress=False, backbone=backbone)

    in_folder = by_path(predict_path(videos, model, **options)[0])
    from_cache = by_path(predict_path(cache_path, model, progress=False)[0])
    alone = predict_path(videos / "right" / "clip_1.mp4", model, **options)[0]

    # Paths are relative to the input, as in a cache.
    assert sorted(in_folder) == sorted(from_cache) == [
        "left/clip_0.mp4", "left/clip_1.mp4", "right/broken.avi", "right/clip_0.mp4",
        "right/clip_1.mp4"]
    assert [prediction.path for prediction in alone] == ["clip_1.mp4"]

    # Several videos shared one backbone batch in the folder; float16 rounding hides that.
    np.testing.assert_allclose(alone[0].probabilities,
                               in_folder["right/clip_1.mp4"].probabilities, atol=1e-3)
    for path, prediction in in_folder.items():
        if path.endswith(".avi"):
            continue
        expected_shape = (3,) if task == "clip" else (CLIP_LEN, 3)
        assert prediction.probabilities.shape == expected_shape
        np.testing.assert_allclose(prediction.probabilities,
                                   from_cache[path].probabilities, atol=1e-3)
        np.testing.assert_array_equal(prediction.timestamps_s, from_cache[path].timestamps_s)

    # The predictions differ between videos, so the comparisons above mean something.
    clip_scores = [p.probabilities for p in in_folder.values() if p.probabilities is not None]
    assert np.ptp(np.stack(clip_scores), axis=0).max() > 1e-3


def test_a_broken_video_is_returned_with_its_error_and_counted(videos, backbone, tmp_path):
    model = load_model(save_tiny_model(tmp_path / "model.pt", "clip"))

    predictions, summary = predict_path(videos, model, device="cpu", progress=False,
                                        backbone=backbone)

    broken = by_path(predictions)["right/broken.avi"]
    assert broken.probabilities is None
    assert "cannot open it as a video" in broken.error
    assert (summary.predicted, summary.failed) == (4, 1)
    assert summary.frames == 4 * CLIP_LEN
    assert summary.failures == [("right/broken.avi", broken.error)]


def test_cache_option_extracts_once_and_reuses_the_features(
    videos, backbone, tmp_path, monkeypatch
):
    model = load_model(save_tiny_model(tmp_path / "model.pt", "clip"))
    cache_path = tmp_path / "kept.h5"
    encoded = []

    def spy(todo, *args):
        encoded.append([source.relative_path for source, _ in todo])
        return encode_videos(todo, *args)

    monkeypatch.setattr("vidseq.extract.encode_videos", spy)
    options = dict(device="cpu", cache_path=cache_path, progress=False, backbone=backbone)
    first, first_summary = predict_path(videos, model, **options)
    second, _ = predict_path(videos, model, **options)

    assert (first_summary.predicted, first_summary.failed) == (4, 1)
    with FeatureCache(cache_path) as cache:
        assert len(cache.entries) == 4 and len(cache.failures) == 1
    # The second run only tried the broken video again, as extract would.
    assert len(encoded[0]) == 5 and encoded[1] == ["right/broken.avi"]
    for old, new in zip(first, second, strict=True):
        assert old.path == new.path and old.error == new.error
        if old.probabilities is not None:
            np.testing.assert_array_equal(old.probabilities, new.probabilities)


def test_without_cache_option_nothing_is_written(videos, backbone, tmp_path, monkeypatch):
    model = load_model(save_tiny_model(tmp_path / "model.pt", "clip"))
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*")) + sorted(videos.rglob("*"))

    predict_path(videos, model, device="cpu", progress=False, backbone=backbone)

    assert sorted(tmp_path.rglob("*")) + sorted(videos.rglob("*")) == before


def test_a_cache_made_with_other_settings_is_refused_naming_them(videos, backbone, tmp_path):
    model = load_model(save_tiny_model(tmp_path / "model.pt", "clip"))
    cache_path = tmp_path / "other.h5"
    extract(find_videos(videos / "left"), cache_path, tiny_config(clip_len=6, size=[40, 32]),
            backbone, progress=False)

    with pytest.raises(CacheError, match=r"input_height: 40 vs 32; clip_len: 6 vs 8"):
        predict_path(cache_path, model, progress=False)


def test_cache_input_and_cache_option_exclude_each_other(videos, backbone, tmp_path):
    model = load_model(save_tiny_model(tmp_path / "model.pt", "clip"))
    cache_path = tmp_path / "features.h5"
    extract(find_videos(videos / "left"), cache_path, tiny_config(), backbone, progress=False)

    with pytest.raises(ConfigError, match="--cache .* is for video input"):
        predict_path(cache_path, model, cache_path=tmp_path / "more.h5", progress=False)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> tuple[Path, str]:
    """A resnet18 state dict saved to a file, and its sha256."""
    path = tmp_path_factory.mktemp("weights") / "my_resnet18.pth"
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def file_trained_model(tmp_path: Path, sha256: str):
    settings = {"backbone": "resnet18", "weights": "my_resnet18.pth", "weights_sha256": sha256,
                "feature_dim": 512, "input_height": 32, "input_width": 32,
                "resize": "stretch", "sampling": "uniform", "clip_len": CLIP_LEN,
                "sample_fps": 30.0, "dtype": "float16"}
    return load_model(save_tiny_model(tmp_path / "model.pt", "clip", settings))


def test_a_weights_file_model_needs_that_file(weights_file, tmp_path):
    model = file_trained_model(tmp_path, weights_file[1])

    with pytest.raises(WeightsError, match="weights file 'my_resnet18.pth' .* pass "
                       "--weights-file PATH"):
        backbone_for(model, extract_config_for(model, device="cpu"))


def test_a_weights_file_with_another_hash_is_refused(weights_file, tmp_path):
    model = file_trained_model(tmp_path, "0" * 64)
    config = extract_config_for(model, weights_file[0], device="cpu")

    with pytest.raises(WeightsError, match="'my_resnet18.pth' .* are not the ones the model "
                       "was trained on"):
        backbone_for(model, config)


def test_the_same_weights_under_another_name_are_accepted(weights_file, videos, tmp_path):
    model = file_trained_model(tmp_path, weights_file[1])
    renamed = tmp_path / "renamed.pth"
    renamed.write_bytes(weights_file[0].read_bytes())
    config = extract_config_for(model, renamed, device="cpu")
    backbone = backbone_for(model, config)
    cache_path = tmp_path / "features.h5"

    extract(find_videos(videos / "left"), cache_path, config, backbone, progress=False)

    with FeatureCache(cache_path) as cache:
        assert cache.settings["weights"] == "renamed.pth"
        check_cache(model, cache.settings, cache_path)


def test_torchvision_weights_other_than_the_models_are_refused(tmp_path):
    settings = {
        "backbone": "mobilenet_v2", "weights": "MobileNet_V2_Weights.IMAGENET1K_V1",
        "weights_sha256": "0" * 64, "feature_dim": 1280, "input_height": 32,
        "input_width": 32, "resize": "stretch", "sampling": "uniform", "clip_len": CLIP_LEN,
        "sample_fps": 30.0, "dtype": "float16"}
    model = load_model(save_tiny_model(tmp_path / "model.pt", "clip", settings,
                                       feature_dim=1280))

    with pytest.raises(WeightsError, match="IMAGENET1K_V1.* are not the ones the model"):
        backbone_for(model, extract_config_for(model, device="cpu"))


def test_random_weights_model_refuses_a_weights_file(tmp_path):
    model = load_model(save_tiny_model(tmp_path / "model.pt", "clip"))

    with pytest.raises(ConfigError, match=r"trained on features from random\(seed=0\) "
                       "backbone weights; drop the flag"):
        extract_config_for(model, tmp_path / "some.pth")


def test_a_backbone_handed_in_is_checked_against_the_model(backbone, videos, tmp_path):
    settings = {"backbone": "mobilenet_v2", "weights": "random(seed=0)", "weights_sha256": "",
                "feature_dim": 1280, "input_height": 32, "input_width": 32,
                "resize": "stretch", "sampling": "uniform", "clip_len": CLIP_LEN,
                "sample_fps": 30.0, "dtype": "float16"}
    model = load_model(save_tiny_model(tmp_path / "model.pt", "clip", settings,
                                       feature_dim=1280))

    with pytest.raises(WeightsError, match="backbone 'resnet18' given, but the model was "
                       "trained on 'mobilenet_v2' features"):
        predict_path(videos, model, device="cpu", progress=False, backbone=backbone)
