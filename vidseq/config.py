"""Settings: one dataclass per command, filled from a TOML file, then from flags.

A config file has one table per command::

    [extract]
    backbone = "mobilenet_v2"
    clip_len = 300

    [train]
    head = "bigru"

Flags given on the command line win over the file. Unknown keys and bad values are
refused with the key's name and what is allowed.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from vidseq.backbone import BACKBONES
from vidseq.errors import ConfigError
from vidseq.video import RESIZE_MODES, SAMPLING_MODES, Sampling

DTYPES = ("float16", "float32")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")
# Validation metrics that early stopping can watch, per task; "auto" picks the first.
MONITORED_METRICS = {
    "clip": ("accuracy", "macro_f1", "mean_class_accuracy"),
    "frame": ("f1@25", "f1@10", "f1@50", "edit_score", "frame_accuracy"),
}


@dataclass
class ExtractConfig:
    """How videos become feature sequences (recorded in the cache and the model)."""

    backbone: str = "mobilenet_v2"
    weights_file: str = ""
    random_weights: bool = False
    clip_len: int = 300
    sampling: str = "uniform"
    sample_fps: float = 30.0
    size: list[int] = field(default_factory=lambda: [200, 200])
    resize: str = "stretch"
    device: str = "auto"
    dtype: str = "float16"
    # Frames per backbone batch; 0 picks the fastest for the device (Backbone.batch_size_for).
    batch_size: int = 0

    def validate(self) -> None:
        _choice("backbone", self.backbone, BACKBONES)
        _choice("sampling", self.sampling, SAMPLING_MODES)
        _choice("resize", self.resize, RESIZE_MODES)
        _choice("dtype", self.dtype, DTYPES)
        _positive("clip_len", self.clip_len)
        _positive("sample_fps", self.sample_fps)
        if not isinstance(self.batch_size, int) or self.batch_size < 0:
            raise ConfigError(f"batch_size must be 0 (auto) or positive; got "
                              f"{self.batch_size!r}")
        if isinstance(self.size, int):
            self.size = [self.size, self.size]
        if len(self.size) != 2 or any(not isinstance(s, int) or s < 16 for s in self.size):
            raise ConfigError(f"size must be one int or [height, width], each >= 16; got "
                              f"{self.size!r}")
        if self.weights_file and self.random_weights:
            raise ConfigError("weights_file and random_weights exclude each other")
        if self.weights_file and not Path(self.weights_file).is_file():
            raise ConfigError(f"weights file {self.weights_file} does not exist")

    @property
    def sampling_settings(self) -> Sampling:
        return Sampling(self.sampling, self.clip_len, float(self.sample_fps))


@dataclass
class TrainConfig:
    """How a head is trained on a feature cache: the `[train]` table of a config file.

    The head itself is the `[train.head]` table (`vidseq.heads.HeadConfig`). Paths are
    strings, "" meaning none: `labels` (clip labels CSV `video,label`; default: the classes
    recorded at extraction), `segments` (the frame task's CSV `video,start,end,label`),
    `val` (a separate validation cache; default: `val_split` of the training videos),
    `val_labels` and `val_segments` (the validation cache's CSVs, when its videos are not
    in `labels` or `segments`).
    `grad_clip` and `patience` are off at 0; `threads` 0 picks one torch thread per
    process on CPU; `memory_budget_gb` 0 always reads sequences from the file.
    `temporal_crop` (augmentation, 0: off) cuts each training clip to a random run of at
    least that fraction of its steps, anew every epoch.
    """

    output: str = ""
    labels: str = ""
    segments: str = ""
    val: str = ""
    val_labels: str = ""
    val_segments: str = ""
    val_split: float = 0.2
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    schedule: str = "cosine"
    warmup_epochs: int = 1
    grad_clip: float = 1.0
    patience: int = 10
    metric: str = "auto"
    class_weights: bool = False
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    threads: int = 0
    workers: int = 1
    memory_budget_gb: float = 4.0
    bucket: bool = True
    temporal_crop: float = 0.0

    def validate(self) -> None:
        _choice("train.schedule", self.schedule, SCHEDULES)
        _choice("train.device", self.device, DEVICES)
        for key in ("epochs", "batch_size", "lr"):
            _positive(f"train.{key}", getattr(self, key))
        for key in ("weight_decay", "grad_clip", "warmup_epochs", "patience", "threads",
                    "workers", "memory_budget_gb"):
            if getattr(self, key) < 0:
                raise ConfigError(f"train.{key} must be 0 or more; got {getattr(self, key)!r}")
        if not 0 <= self.temporal_crop < 1:
            raise ConfigError(f"train.temporal_crop must lie in [0, 1) (0: off, 0.5: keep at "
                              f"least half of each clip); got {self.temporal_crop!r}")
        if not 0 < self.val_split < 1:
            raise ConfigError(f"train.val_split must lie between 0 and 1 (e.g. 0.2); got "
                              f"{self.val_split!r}")
        allowed = {"auto", *(name for names in MONITORED_METRICS.values() for name in names)}
        _choice("train.metric", self.metric, sorted(allowed))

    def monitored_metric(self, task: str) -> str:
        """The validation metric early stopping watches for `task` (higher is better).

        Raises ConfigError when `metric` belongs to the other task.
        """
        if self.metric == "auto":
            return MONITORED_METRICS[task][0]
        if self.metric not in MONITORED_METRICS[task]:
            raise ConfigError(f"train.metric {self.metric!r} does not apply to the {task} "
                              f"task; choose one of {', '.join(MONITORED_METRICS[task])}")
        return self.metric


# The top-level tables of a config file, one per command that reads settings.
CONFIG_TABLES = ("extract", "train")


def read_toml(path: Path | None) -> dict:
    """The tables of a TOML config file ({} for None)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        tables = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error

    # A misspelt table would otherwise be ignored in silence, and its settings with it.
    for name, table in tables.items():
        if name not in CONFIG_TABLES or not isinstance(table, dict):
            raise ConfigError(f"config file {path}: {name!r} is not a table vidseq knows; "
                              f"use [{'], ['.join(CONFIG_TABLES)}]")
    return tables


def build(cls, table: dict, overrides: dict, where: str):
    """An instance of dataclass `cls` from a config table, then non-None `overrides`.

    Raises:
        ConfigError: a key `cls` does not have, or a value of the wrong type.
    """
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for source, items in (("config", table), ("flag", overrides)):
        for key, value in items.items():
            if value is None:
                continue
            if key not in known:
                raise ConfigError(f"unknown {where} setting {key!r}; known: "
                                  f"{', '.join(known)}")
            values[key] = _coerce(key, value, hints[key], where)
    config = cls(**values)
    config.validate()
    return config


def save_toml(path: Path, tables: dict[str, object]) -> None:
    """Write dataclass instances as TOML tables (a resolved config for a run)."""
    lines = []
    for name, config in tables.items():
        lines.append(f"[{name}]")
        for key, value in dataclasses.asdict(config).items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    path.write_text("\n".join(lines))


def _coerce(key: str, value, hint, where: str):
    origin = typing.get_origin(hint) or hint
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is list and isinstance(value, (list, tuple)):
        return list(value)
    if key == "size" and isinstance(value, int):
        return [value, value]
    expected = origin if isinstance(origin, type) else object
    if typing.get_origin(hint) is typing.Union or isinstance(value, expected):
        if not (expected is int and isinstance(value, bool)):
            return value
    raise ConfigError(f"{where} setting {key!r} must be {getattr(hint, '__name__', hint)}; "
                      f"got {value!r}")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if value is None:
        return '""'
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} {value!r} is not one of {', '.join(map(str, allowed))}")


def _positive(key: str, value) -> None:
    if not value > 0:
        raise ConfigError(f"{key} must be positive; got {value!r}")
