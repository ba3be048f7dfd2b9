"""The extraction a model was trained on: rebuilding its backbone, checking caches against it.

A model file records the settings of its training cache (`vidseq.cache.SETTING_KEYS`).
Predicting needs features made exactly the same way, so the backbone is rebuilt from those
settings and its weights are checked by hash, and a cache is accepted only when its
settings match.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torchvision

from vidseq.backbone import Backbone
from vidseq.cache import settings_difference
from vidseq.config import ExtractConfig
from vidseq.errors import CacheError, ConfigError, ModelFileError, WeightsError
from vidseq.model_file import ModelFile

log = logging.getLogger(__name__)

RANDOM_WEIGHTS = "random(seed=0)"

_REQUIRED_KEYS = ("backbone", "weights", "weights_sha256", "feature_dim", "input_height",
                  "input_width", "resize", "sampling", "clip_len", "sample_fps", "dtype")


def extract_config_for(model: ModelFile, weights_file: Path | None = None,
                       device: str = "auto", batch_size: int = 0) -> ExtractConfig:
    """The `ExtractConfig` that makes features the way `model`'s training cache did.

    Raises:
        ModelFileError: the model lacks extraction settings.
        ConfigError: `weights_file` given for a model trained on random weights.
    """
    settings = _checked_settings(model)
    random_weights = settings["weights"] == RANDOM_WEIGHTS
    if random_weights and weights_file is not None:
        raise ConfigError(f"--weights-file {weights_file} given, but the model was trained on "
                          f"features from {RANDOM_WEIGHTS} backbone weights; drop the flag")
    config = ExtractConfig(
        backbone=str(settings["backbone"]),
        weights_file=str(weights_file) if weights_file else "",
        random_weights=random_weights,
        clip_len=int(settings["clip_len"]),
        sampling=str(settings["sampling"]),
        sample_fps=float(settings["sample_fps"]),
        size=[int(settings["input_height"]), int(settings["input_width"])],
        resize=str(settings["resize"]),
        device=device,
        dtype=str(settings["dtype"]),
        batch_size=batch_size,
    )
    config.validate()
    return config


def backbone_for(model: ModelFile, config: ExtractConfig) -> Backbone:
    """The backbone `model` was trained on, with weights checked against the recorded hash.

    torchvision weights load from the torch hub cache as in extract; weights that came from
    a file need that file (`config.weights_file`).

    Raises:
        WeightsError: the weights are missing, or differ from those the model was trained on.
    """
    settings = _checked_settings(model)
    recorded_name = str(settings["weights"])
    from_file = not _is_torchvision_weights(config.backbone, recorded_name)
    if from_file and not config.random_weights and not config.weights_file:
        raise WeightsError(f"the model was trained on features from the weights file "
                           f"{recorded_name!r} (sha256 {settings['weights_sha256'][:16]}...); "
                           "pass --weights-file PATH to that file")

    weights_file = Path(config.weights_file) if config.weights_file else None
    backbone = Backbone(config.backbone, weights_file, config.random_weights, config.device)
    check_backbone(model, backbone)
    log.debug("backbone %s with weights %s", backbone.name, backbone.weights.name)
    return backbone


def check_backbone(model: ModelFile, backbone: Backbone) -> None:
    """Refuse a backbone other than the one `model`'s features came from.

    Raises:
        WeightsError: another backbone, or weights with another hash.
    """
    settings = _checked_settings(model)
    recorded_name = str(settings["weights"])
    recorded_sha256 = str(settings["weights_sha256"])
    if backbone.name != settings["backbone"]:
        raise WeightsError(f"backbone {backbone.name!r} given, but the model was trained on "
                           f"{settings['backbone']!r} features")
    if backbone.weights.sha256 != recorded_sha256 or (
        not recorded_sha256 and backbone.weights.name != recorded_name
    ):
        raise WeightsError(
            f"{backbone.name} weights {backbone.weights.name!r} (sha256 "
            f"{backbone.weights.sha256[:16] or '-'}...) are not the ones the model was "
            f"trained on ({recorded_name!r}, sha256 {recorded_sha256[:16] or '-'}...); "
            "pass --weights-file with the file the training cache was extracted with"
        )
    if backbone.feature_dim != model.head.input_dim:
        raise ModelFileError(f"the model's head reads {model.head.input_dim}-d features but "
                             f"{backbone.name} makes {backbone.feature_dim}-d ones")


def check_cache(model: ModelFile, cache_settings: dict, cache_path: Path) -> None:
    """Refuse a cache whose features were not made the way the model's were.

    The weights' name may differ (the same file loaded from another path) when both
    hashes are recorded and equal.

    Raises:
        CacheError: naming each setting that differs, the cache's value first.
    """
    differences = settings_difference(cache_settings, _checked_settings(model))
    sha256 = str(cache_settings.get("weights_sha256") or "")
    if sha256 and sha256 == str(model.extraction.get("weights_sha256")):
        differences = [line for line in differences if not line.startswith("weights:")]
    if differences:
        raise CacheError(f"{cache_path} was made with other settings than the model's "
                         f"(cache vs model: {'; '.join(differences)}); extract the videos "
                         "again, e.g. with `vidseq predict VIDEOS --model ... --cache NEW.h5`")


def _is_torchvision_weights(backbone: str, weights_name: str) -> bool:
    # torchvision names weights "<Enum>.<member>", e.g. MobileNet_V2_Weights.IMAGENET1K_V1.
    enum = torchvision.models.get_model_weights(backbone)
    return weights_name.split(".")[0] == enum.__name__


def _checked_settings(model: ModelFile) -> dict:
    missing = [key for key in _REQUIRED_KEYS if key not in model.extraction]
    if missing:
        raise ModelFileError(f"the model file lacks the extraction settings "
                             f"{', '.join(missing)}; it cannot say how to make its features")
    return model.extraction
