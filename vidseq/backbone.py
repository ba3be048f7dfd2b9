"""The frozen CNN that turns each RGB frame into one feature vector.

The feature is the global-average-pooled activation before the classifier, so its size
comes from the backbone: 1280 for MobileNetV2, 1024 for GoogLeNet, 512 for ResNet-18.
Weights load through torchvision's weights API, which caches them under the torch hub
directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from vidseq.errors import ConfigError, WeightsError

log = logging.getLogger(__name__)

# name -> (feature size, torchvision weight set). Models are built by
# torchvision.models.get_model(name). MobileNetV2 uses its first ImageNet weights, not
# torchvision's newer default, because that file can be had offline
# (scripts/fetch_weights.py) and it is the classic, widely compared feature.
BACKBONES = {
    "mobilenet_v2": (1280, "IMAGENET1K_V1"),
    "googlenet": (1024, "IMAGENET1K_V1"),
    "resnet18": (512, "IMAGENET1K_V1"),
    "resnet50": (2048, "IMAGENET1K_V2"),
    "efficientnet_b0": (1280, "IMAGENET1K_V1"),
}

# Frames per batch on a CPU, for 200x200 input (scaled by pixel count for other sizes).
# Small batches keep every activation under glibc's 32 MB mmap threshold, so memory is
# reused instead of mapped and page-faulted anew for each batch. Measured on a 2-core
# CPU, one thread: MobileNetV2 148 frames/s at 8 vs 81 at 64 (2,800 page faults a frame),
# ResNet-18 and GoogLeNet 10-20% faster at 8 than at 32.
_CPU_BATCH_PIXELS = 8 * 200 * 200
# A GPU wants large batches to keep busy.
_GPU_BATCH = 64

# ImageNet statistics, which every weight set above was trained with.
_MEAN_RGB = (0.485, 0.456, 0.406)
_STD_RGB = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class WeightsInfo:
    """Identity of the weights a backbone runs with, recorded in every cache."""

    name: str
    sha256: str


class FrameEncoder(nn.Module):
    """uint8 RGB frames `(B, H, W, 3)` -> float features `(B, D)`.

    Normalisation lives inside the module so that it is traced and frozen with the CNN.
    """

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        self.register_buffer("mean", torch.tensor(_MEAN_RGB).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(_STD_RGB).view(1, 3, 1, 1) * 255)

    def forward(self, frames_rgb: torch.Tensor) -> torch.Tensor:
        # (B, H, W, 3) uint8 -> (B, 3, H, W) float, already channels-last in memory.
        images = frames_rgb.permute(0, 3, 1, 2).float()
        images = (images - self.mean) / self.std
        return self.body(images)


class Backbone:
    """A ready-to-run frame encoder on one device.

    Args:
        name: one of `BACKBONES`.
        weights_file: a local state-dict file to load instead of torchvision's weights.
        random_weights: skip pretrained weights (seeded, for tests and smoke runs).
        device: `auto`, `cpu` or `cuda` (`cuda:N` too); auto picks CUDA when present.
        optimize: freeze the model with TorchScript on the CPU (about 2x faster).
    """

    def __init__(
        self,
        name: str = "mobilenet_v2",
        weights_file: Path | None = None,
        random_weights: bool = False,
        device: str = "auto",
        optimize: bool = True,
    ):
        if name not in BACKBONES:
            raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
        self.name = name
        self.feature_dim = BACKBONES[name][0]
        self.device = resolve_device(device)

        body, self.weights = _build(name, weights_file, random_weights)
        model = FrameEncoder(body).eval().to(self.device)
        self._autocast = self.device.type == "cuda"
        if self.device.type == "cpu":
            model = model.to(memory_format=torch.channels_last)
        self._model = model
        self._optimize = optimize and self.device.type == "cpu"
        self._frozen: dict[tuple[int, ...], torch.jit.ScriptModule] = {}

    def batch_size_for(self, size: tuple[int, int] | list[int]) -> int:
        """The fastest frames per batch for frames of `size` (height, width) here."""
        if self.device.type != "cpu":
            return _GPU_BATCH
        height, width = size
        return max(1, round(_CPU_BATCH_PIXELS / (height * width)))

    @torch.inference_mode()
    def encode(self, frames_rgb: np.ndarray) -> np.ndarray:
        """Features of a batch of frames.

        Args:
            frames_rgb: `(B, H, W, 3)` uint8.

        Returns:
            `(B, D)` float32.
        """
        batch = torch.from_numpy(frames_rgb).to(self.device, non_blocking=True)
        model = self._runner(tuple(batch.shape[1:]))
        amp = torch.autocast("cuda", dtype=torch.float16) if self._autocast else nullcontext()
        with amp:
            features = model(batch)
        return features.float().cpu().numpy()

    def _runner(self, frame_shape: tuple[int, ...]) -> nn.Module:
        if not self._optimize:
            return self._model
        if frame_shape not in self._frozen:
            self._frozen[frame_shape] = _freeze(self._model, frame_shape)
        return self._frozen[frame_shape]


def resolve_device(device: str) -> torch.device:
    """`auto` -> CUDA when available, else CPU; anything else is checked and returned."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" or device.startswith("cuda"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA GPU; "
                              "use --device cpu or auto")
        return torch.device(device)
    raise ConfigError(f"unknown device {device!r}; choose auto, cpu or cuda")


def pretrained_weights(name: str):
    """The torchvision weights enum member vidseq uses for backbone `name`."""
    return torchvision.models.get_model_weights(name)[BACKBONES[name][1]]


def weights_path_hint(name: str) -> Path:
    """Where torchvision keeps `name`'s pretrained weights in the torch hub cache."""
    filename = os.path.basename(pretrained_weights(name).url)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _build(name: str, weights_file: Path | None, random_weights: bool):
    if random_weights:
        # Seeded so that every process (shards, ranks, resumed runs) builds the same model.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = torchvision.models.get_model(name, weights=None, **_build_options(name))
        return _strip_classifier(name, model), WeightsInfo("random(seed=0)", "")

    model = torchvision.models.get_model(name, weights=None, **_build_options(name))
    if weights_file is not None:
        state, info = _load_file(Path(weights_file))
    else:
        state, info = _load_default(name)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise WeightsError(f"weights do not fit backbone {name!r}: {first}") from error
    return _strip_classifier(name, model), info


def _build_options(name: str) -> dict:
    # GoogLeNet's torchvision weights hold the training-only auxiliary classifiers, and
    # expect transform_input, which re-normalises our ImageNet-normalised input its way.
    if name == "googlenet":
        return {"aux_logits": True, "init_weights": False, "transform_input": True}
    return {}


def _strip_classifier(name: str, model: nn.Module) -> nn.Module:
    if name == "googlenet":
        model.aux_logits, model.aux1, model.aux2 = False, None, None
        model.dropout = nn.Identity()
        model.fc = nn.Identity()
    elif name.startswith("resnet"):
        model.fc = nn.Identity()
    else:
        model.classifier = nn.Identity()
    return model


def _load_default(name: str):
    weights = pretrained_weights(name)
    path = weights_path_hint(name)
    if not path.is_file():
        log.info("downloading %s weights to %s", name, path)
        try:
            weights.get_state_dict(progress=False, check_hash=True)
        except Exception as error:  # any network or hash failure means the same to a user
            raise WeightsError(
                f"weights for {name} are not in the torch hub cache and could not be "
                f"downloaded ({type(error).__name__}); put {path.name} at {path}, or pass "
                "--weights-file PATH"
                + (" (python scripts/fetch_weights.py does this for mobilenet_v2)"
                   if name == "mobilenet_v2" else "")
            ) from error
    state, info = _load_file(path)
    return state, WeightsInfo(str(weights), info.sha256)


def _load_file(path: Path):
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a bad file
        raise WeightsError(f"{path} is not a loadable weights file: {error}") from error
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state, WeightsInfo(path.name, digest.hexdigest())


def _freeze(model: nn.Module, frame_shape: tuple[int, ...]) -> torch.jit.ScriptModule:
    """Trace, freeze and optimise `model` for one input shape (about 2x eager on CPU)."""
    example = torch.zeros((2, *frame_shape), dtype=torch.uint8)
    # TorchScript is deprecated since torch 2.10 in favour of torch.compile, which needs a
    # C++ toolchain and tens of seconds per shape. Revisit when torch drops jit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, check_trace=False)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    log.debug("froze backbone for frames %s", frame_shape)
    return frozen
