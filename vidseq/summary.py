"""A layer-by-layer table of a head, in the spirit of Keras `model.summary()`."""

from __future__ import annotations

import dataclasses
import textwrap

import torch
from torch import nn

from vidseq.errors import ConfigError

_HEADERS = ("Layer", "Type", "Output shape", "Params")


def summarize(
    head: nn.Module,
    input_dim: int,
    clip_len: int = 300,
    batch_size: int | None = None,
) -> str:
    """Describe `head` as a table: one row per leaf layer in the order they run.

    Each row gives the layer's name, type, output shape and parameter count, followed by
    total, trainable and non-trainable counts. Shapes come from one forward pass on zeros
    `(1, clip_len, input_dim)` with `lengths = [clip_len]`; the batch dimension shows as
    "None", or as `batch_size` when given. A layer that runs twice gets two rows, its
    parameters counted on the first; a layer with parameters that never runs is listed
    last, "not run".
    `head` must take `(sequences, lengths)` like a `SequenceHead`. Its train/eval mode is
    left as it was. Raises ConfigError for a size that is not a positive integer.
    """
    for name, value in (("input_dim", input_dim), ("clip_len", clip_len)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} = {value!r}; expected a positive integer")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"batch_size = {batch_size!r}; expected a positive integer or None")

    calls = _trace_leaf_calls(head, input_dim, clip_len)
    batch_label = "None" if batch_size is None else str(batch_size)
    rows = _rows(head, calls, batch_label)

    params = list(head.parameters())
    total = sum(param.numel() for param in params)
    trainable = sum(param.numel() for param in params if param.requires_grad)

    lines = _title(head, f"({batch_label}, {clip_len}, {input_dim})")
    lines += _table(rows)
    lines += [
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(lines)


def _trace_leaf_calls(head: nn.Module, input_dim: int, clip_len: int) -> list:
    """Run zeros through `head`; return (name, module, output shape) per leaf call, in order."""
    leaves = [
        (name, module)
        for name, module in head.named_modules()
        if next(module.children(), None) is None
    ]
    calls = []

    def record(name: str):
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            calls.append((name, module, _output_shape(output)))

        return hook

    first_param = next(head.parameters(), None)
    device = first_param.device if first_param is not None else torch.device("cpu")
    dtype = first_param.dtype if first_param is not None else torch.float32
    sequences = torch.zeros(1, clip_len, input_dim, device=device, dtype=dtype)
    lengths = torch.tensor([clip_len], device=device)

    handles = [module.register_forward_hook(record(name)) for name, module in leaves]
    was_training = head.training
    try:
        head.eval()
        with torch.no_grad():
            head(sequences, lengths)
    finally:
        head.train(was_training)
        for handle in handles:
            handle.remove()

    # Unused layers without parameters (an empty ModuleList) would only be noise.
    called = {id(module) for _, module, _ in calls}
    not_run = [
        (name, module, None)
        for name, module in leaves
        if id(module) not in called and next(module.parameters(), None) is not None
    ]
    return calls + not_run


def _output_shape(output: object) -> tuple | None:
    """Shape of a layer's output; for a tuple (LSTM, GRU), of its first tensor."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)) and output:
        return _output_shape(output[0])
    return None


def _rows(head: nn.Module, calls: list, batch_label: str) -> list[tuple[str, ...]]:
    rows = []
    counted = set()
    for name, module, shape in calls:
        num_params = 0
        if id(module) not in counted:
            num_params = sum(param.numel() for param in module.parameters())
            counted.add(id(module))

        if shape is None:
            shape_text = "not run"
        else:
            shape_text = "(" + ", ".join([batch_label, *map(str, shape[1:])]) + ")"
        # A head without children is its own only leaf, named "".
        layer_name = name or type(head).__name__
        rows.append((layer_name, type(module).__name__, shape_text, f"{num_params:,}"))
    return rows


def _title(head: nn.Module, input_shape: str) -> list[str]:
    """Head type and input shape, then its config when it has one, wrapped at 100 columns."""
    lines = [f"{type(head).__name__}, input {input_shape}"]
    config = getattr(head, "config", None)
    if dataclasses.is_dataclass(config):
        settings = " ".join(
            f"{field.name}={getattr(config, field.name)}" for field in dataclasses.fields(config)
        )
        lines += textwrap.wrap(f"config: {settings}", width=100, subsequent_indent="  ")
    return lines


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[column]) for row in [_HEADERS, *rows]) for column in range(4)]
    rule_width = sum(widths) + 3 * 2

    def line(row: tuple[str, ...]) -> str:
        name, kind, shape, params = row
        return (
            f"{name:<{widths[0]}}  {kind:<{widths[1]}}  "
            f"{shape:<{widths[2]}}  {params:>{widths[3]}}"
        )

    body = [line(row) for row in rows]
    return ["=" * rule_width, line(_HEADERS), "-" * rule_width, *body, "=" * rule_width]
