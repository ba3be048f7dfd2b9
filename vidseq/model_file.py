"""The model file: a trained head plus everything predict needs to use it.

A model file is a plain dict of tensors, numbers, strings, lists and dicts, so that
`torch.load(path, weights_only=True)` reads it: loading someone else's model can never
run code. Keys:

    format          "vidseq-model"
    format_version  1
    vidseq_version  the version that wrote it
    head            {"config": HeadConfig as a dict, "input_dim": D, "num_classes": C}
    class_names     the sorted class list; label i is class_names[i]
    extraction      the cache settings the head was trained on (`vidseq.cache.SETTING_KEYS`)
    state_dict      the head's weights
    extra           anything else worth keeping (epoch, metrics, optimizer state)
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vidseq import __version__
from vidseq.errors import ModelFileError
from vidseq.heads import HeadConfig, SequenceHead, build_head

FORMAT = "vidseq-model"
FORMAT_VERSION = 1


@dataclass
class ModelFile:
    """A head with its classes and the extraction settings its features came from."""

    head: SequenceHead
    class_names: list[str]
    extraction: dict
    extra: dict = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.head.config.task


def save_model(path: Path, model: ModelFile) -> None:
    """Write `model` atomically: a crash leaves the old file or the new one, never half."""
    head = model.head
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vidseq_version": __version__,
        "head": {
            "config": dataclasses.asdict(head.config),
            "input_dim": head.input_dim,
            "num_classes": head.num_classes,
        },
        "class_names": list(model.class_names),
        "extraction": dict(model.extraction),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in
                       head.state_dict().items()},
        "extra": model.extra,
    }
    path = Path(path)
    part = path.with_name(path.name + ".part")
    torch.save(payload, part)
    with open(part, "rb") as stream:
        os.fsync(stream.fileno())
    os.replace(part, path)


def load_model(path: Path, device: str | torch.device = "cpu") -> ModelFile:
    """Read a model file without running any code from it.

    Raises:
        ModelFileError: missing, truncated, not a vidseq model, or from a newer format.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    # On garbage, the weights-only unpickler also raises KeyError or IndexError, and a
    # truncated zip OSError (EINVAL); an empty file gives an EOFError without a message.
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError,
            ValueError, KeyError, IndexError) as error:
        first_line = (str(error).splitlines() or [""])[0][:120]
        raise ModelFileError(f"{path} is not a readable vidseq model file "
                             f"({type(error).__name__}: {first_line})") from error

    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a vidseq model file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path} is model format {payload.get('format_version')!r} "
                             f"(vidseq {payload.get('vidseq_version')}); this vidseq "
                             f"{__version__} reads format {FORMAT_VERSION}")
    try:
        head_info = payload["head"]
        config = HeadConfig(**head_info["config"])
        head = build_head(config, head_info["input_dim"], head_info["num_classes"])
        head.load_state_dict(payload["state_dict"])
        model = ModelFile(head.to(device).eval(), list(payload["class_names"]),
                          dict(payload["extraction"]), dict(payload.get("extra", {})))
    except (KeyError, TypeError, RuntimeError) as error:
        raise ModelFileError(f"{path} is a damaged vidseq model file ({error})") from error
    return model
