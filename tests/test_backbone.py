"""Backbones: feature sizes, weights loading and its errors, the real MobileNetV2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from vidseq.backbone import BACKBONES, Backbone, weights_path_hint
from vidseq.errors import ConfigError, WeightsError

FRAMES = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", list(BACKBONES), ids=list(BACKBONES))
def test_feature_size_comes_from_the_backbone(name):
    backbone = Backbone(name, random_weights=True, optimize=False)
    features = backbone.encode(FRAMES)
    assert features.shape == (3, BACKBONES[name][0])
    assert features.dtype == np.float32


def test_frozen_backbone_matches_eager():
    eager = Backbone("resnet18", random_weights=True, optimize=False)
    frozen = Backbone("resnet18", random_weights=True, optimize=True)
    np.testing.assert_allclose(frozen.encode(FRAMES), eager.encode(FRAMES), rtol=1e-3,
                               atol=1e-3)


def test_random_weights_are_the_same_in_every_process():
    first = Backbone("mobilenet_v2", random_weights=True).encode(FRAMES)
    torch.manual_seed(123)  # the global seed must not matter
    second = Backbone("mobilenet_v2", random_weights=True).encode(FRAMES)
    np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-5)


def test_weights_file_is_loaded_and_identified(tmp_path):
    model = torchvision.models.resnet18(weights=None)
    path = tmp_path / "mine.pth"
    torch.save(model.state_dict(), path)

    backbone = Backbone("resnet18", weights_file=path, optimize=False)

    assert backbone.weights.name == "mine.pth"
    assert len(backbone.weights.sha256) == 64
    model.fc = torch.nn.Identity()
    expected = model.eval()(
        (torch.from_numpy(FRAMES).permute(0, 3, 1, 2).float() / 255
         - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    )
    np.testing.assert_allclose(backbone.encode(FRAMES), expected.detach().numpy(), rtol=1e-3,
                               atol=1e-3)


def test_weights_for_another_backbone_are_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(WeightsError, match="do not fit backbone 'mobilenet_v2'"):
        Backbone("mobilenet_v2", weights_file=path)


def test_a_file_that_is_not_weights_is_refused(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"junk" * 100)
    with pytest.raises(WeightsError, match="not a loadable weights file"):
        Backbone("mobilenet_v2", weights_file=path)


def test_unknown_backbone_and_device_are_refused():
    with pytest.raises(ConfigError, match="unknown backbone 'alexnet'; choose one of"):
        Backbone("alexnet")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        Backbone("mobilenet_v2", random_weights=True, device="tpu")


def test_real_mobilenet_v2_weights_load_from_the_hub_cache():
    # Put there by scripts/fetch_weights.py (make install); the real file, not a stand-in.
    assert weights_path_hint("mobilenet_v2").is_file(), "run scripts/fetch_weights.py"
    backbone = Backbone("mobilenet_v2")

    assert backbone.weights.name == "MobileNet_V2_Weights.IMAGENET1K_V1"
    assert backbone.weights.sha256.startswith("b03531047ffacf1e")
    features = backbone.encode(FRAMES)
    # Pooled ReLU6 activations: non-negative, bounded, and not all alike across frames.
    assert features.min() >= 0 and features.max() <= 6
    assert np.abs(features[0] - features[1]).mean() > 1e-3


@pytest.mark.parametrize(
    ("size", "expected"),
    [((200, 200), 8), ((100, 100), 32), ((400, 400), 2), ((1080, 1920), 1)],
    ids=["default-size", "small", "large", "full-hd"],
)
def test_cpu_batch_keeps_pixels_per_batch_near_eight_default_frames(size, expected):
    backbone = Backbone("resnet18", random_weights=True, device="cpu")
    assert backbone.batch_size_for(size) == expected
