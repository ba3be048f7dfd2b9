from __future__ import annotations

import pytest
import torch
from torch import nn

from vidseq.errors import ConfigError
from vidseq.heads import HEAD_KINDS, HeadConfig, build_head
from vidseq.summary import summarize


def _layer_rows(table: str) -> list[list[str]]:
    """The table's layer rows, split into name, type, shape and params."""
    lines = table.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    last = next(i for i, line in enumerate(lines) if i > first and line.startswith("==="))
    rows = []
    for line in lines[first:last]:
        name, kind, rest = line.split(maxsplit=2)
        shape, params = rest.rsplit(maxsplit=1)
        rows.append([name, kind, shape.strip(), params])
    return rows


def test_rows_follow_execution_order_with_shapes():
    config = HeadConfig(kind="bigru", hidden=[6, 4], merge="concat", pooling="attention")
    head = build_head(config, 8, 3)

    rows = _layer_rows(summarize(head, 8, clip_len=10))

    assert rows == [
        ["layers.0.forward_rnn", "GRU", "(None, 10, 6)", "288"],
        ["layers.0.backward_rnn", "GRU", "(None, 10, 6)", "288"],
        ["layers.0.merge", "DirectionMerge", "(None, 10, 12)", "0"],
        ["layer_dropouts.0", "Dropout", "(None, 10, 12)", "0"],
        ["layers.1.forward_rnn", "GRU", "(None, 10, 4)", "216"],
        ["layers.1.backward_rnn", "GRU", "(None, 10, 4)", "216"],
        ["layers.1.merge", "DirectionMerge", "(None, 10, 8)", "0"],
        ["pool", "AttentionPool", "(None, 8)", "8"],
        ["dropout", "Dropout", "(None, 8)", "0"],
        ["classifier", "Linear", "(None, 3)", "27"],
    ]


@pytest.mark.parametrize("kind", HEAD_KINDS)
@pytest.mark.parametrize("task", ["clip", "frame"])
def test_row_params_add_up_to_the_total(kind, task):
    head = build_head(HeadConfig(kind=kind, hidden=[6], task=task), 8, 3)
    total = sum(param.numel() for param in head.parameters())

    table = summarize(head, 8, clip_len=5)

    row_params = [int(row[3].replace(",", "")) for row in _layer_rows(table)]
    assert sum(row_params) == total
    assert f"Total params: {total:,}" in table
    assert f"Trainable params: {total:,}" in table


def test_frozen_parameters_count_as_non_trainable():
    head = build_head(HeadConfig(kind="gru", hidden=[6]), 8, 3)
    head.classifier.requires_grad_(False)

    table = summarize(head, 8, clip_len=5)

    assert "Non-trainable params: 21" in table


def test_batch_size_replaces_none():
    head = build_head(HeadConfig(kind="lstm", hidden=[6], task="frame"), 8, 3)

    table = summarize(head, 8, clip_len=5, batch_size=32)

    assert "input (32, 5, 8)" in table
    assert ["classifier", "Linear", "(32, 5, 3)", "21"] in _layer_rows(table)
    assert "None" not in table


def test_fits_in_100_columns_for_a_big_head():
    head = build_head(HeadConfig(kind="bilstm", hidden=[128, 256, 512]), 2048, 400)

    table = summarize(head, 2048, clip_len=4)

    assert max(len(line) for line in table.splitlines()) <= 100
    assert "1,115,136" in table  # forward LSTM of layer 0: 4 * 128 * (2048 + 128 + 2)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_leaves_train_mode_and_hooks_as_they_were(training):
    head = build_head(HeadConfig(kind="gru", hidden=[6]), 8, 3)
    head.train(training)

    summarize(head, 8, clip_len=5)

    assert head.training == training
    assert all(not module._forward_hooks for module in head.modules())


def test_any_module_taking_sequences_and_lengths():
    class LastFrame(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classifier = nn.Linear(8, 2)

        def forward(self, sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.classifier(sequences[:, -1])

    table = summarize(LastFrame(), 8, clip_len=5)

    assert table.splitlines()[0] == "LastFrame, input (None, 5, 8)"
    assert _layer_rows(table) == [["classifier", "Linear", "(None, 2)", "18"]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"input_dim": 0}, r"input_dim = 0; expected a positive integer"),
        ({"clip_len": 0}, r"clip_len = 0; expected a positive integer"),
        ({"batch_size": 0}, r"batch_size = 0; expected a positive integer or None"),
    ],
    ids=["input-dim", "clip-len", "batch-size"],
)
def test_bad_sizes_are_refused(arguments, message):
    head = build_head(HeadConfig(kind="gru", hidden=[6]), 8, 3)

    with pytest.raises(ConfigError, match=message):
        summarize(head, **({"input_dim": 8} | arguments))
