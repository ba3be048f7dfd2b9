from __future__ import annotations

import pytest
import torch
from padding import assert_padding_changes_nothing

from vidseq.errors import ConfigError
from vidseq.heads import (
    HEAD_KINDS,
    MERGE_MODES,
    POOLINGS,
    HeadConfig,
    build_head,
    merge_directions,
)

FEATURE_DIM = 5
NUM_CLASSES = 3
RECURRENT_KINDS = ("lstm", "gru", "bilstm", "bigru")


def _padding_cases() -> list:
    """Every kind x task, each clip pooling, and each merge mode for bidirectional kinds."""
    cases = []
    for kind in HEAD_KINDS:
        merges = MERGE_MODES if kind.startswith("bi") else ("concat",)
        poolings = ("last",) if kind == "mean" else POOLINGS
        for merge in merges:
            for pooling in poolings:
                case_id = f"{kind}-clip-{pooling}-{merge}"
                cases.append(pytest.param(kind, "clip", pooling, merge, id=case_id))
            cases.append(pytest.param(kind, "frame", "last", merge, id=f"{kind}-frame-{merge}"))
    return cases


def _build(**overrides) -> torch.nn.Module:
    settings = {"hidden": [6, 4], "dropout": 0.0} | overrides
    head = build_head(HeadConfig(**settings), FEATURE_DIM, NUM_CLASSES)
    return head.eval()


@pytest.mark.parametrize(("kind", "task", "pooling", "merge"), _padding_cases())
def test_padding_never_changes_a_result(kind, task, pooling, merge):
    torch.manual_seed(0)
    head = _build(kind=kind, task=task, pooling=pooling, merge=merge)
    assert_padding_changes_nothing(head, [7, 4, 2], FEATURE_DIM, NUM_CLASSES, task)


@pytest.mark.parametrize("kind", HEAD_KINDS)
@pytest.mark.parametrize("task", ["clip", "frame"])
def test_output_shapes(kind, task):
    head = _build(kind=kind, task=task, hidden=[6])
    sequences = torch.randn(2, 9, FEATURE_DIM)

    logits = head(sequences, torch.tensor([9, 3]))

    expected = (2, NUM_CLASSES) if task == "clip" else (2, 9, NUM_CLASSES)
    assert logits.shape == expected


@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_each_layer_has_its_own_width(kind):
    head = _build(kind=kind, hidden=[8, 16, 4])
    gates = 4 if "lstm" in kind else 3
    directions = 2 if kind.startswith("bi") else 1

    # Concat merging feeds 2x the width on to the next layer.
    expected_inputs = [FEATURE_DIM, 8 * directions, 16 * directions]
    for layer, width, input_dim in zip(head.layers, [8, 16, 4], expected_inputs):
        assert layer.forward_rnn.weight_ih_l0.shape == (gates * width, input_dim)
        assert layer.forward_rnn.weight_hh_l0.shape == (gates * width, width)
        assert (layer.backward_rnn is not None) == (directions == 2)
    assert head.classifier.in_features == 4 * directions


@pytest.mark.parametrize(
    ("merge", "first_width", "last_width"),
    [("concat", 12, 8), ("sum", 6, 4), ("mul", 6, 4), ("ave", 6, 4)],
    ids=MERGE_MODES,
)
def test_merge_mode_sets_output_width(merge, first_width, last_width):
    head = _build(kind="bilstm", hidden=[6, 4], merge=merge)

    assert head.layers[1].forward_rnn.input_size == first_width
    assert head.classifier.in_features == last_width


def test_merge_directions_follows_keras():
    forward_out = torch.tensor([[1.0, 2.0]])
    backward_out = torch.tensor([[3.0, 5.0]])

    assert merge_directions(forward_out, backward_out, "concat").tolist() == [[1, 2, 3, 5]]
    assert merge_directions(forward_out, backward_out, "sum").tolist() == [[4, 7]]
    assert merge_directions(forward_out, backward_out, "mul").tolist() == [[3, 10]]
    assert merge_directions(forward_out, backward_out, "ave").tolist() == [[2, 3.5]]


@pytest.mark.parametrize("kind", RECURRENT_KINDS)
def test_only_bidirectional_heads_see_later_steps(kind):
    torch.manual_seed(0)
    head = _build(kind=kind, task="frame")
    sequences = torch.randn(1, 6, FEATURE_DIM)
    changed_end = sequences.clone()
    changed_end[0, -1] += 1.0

    with torch.no_grad():
        first_step = head(sequences, torch.tensor([6]))[0, 0]
        first_step_changed = head(changed_end, torch.tensor([6]))[0, 0]

    sees_future = not torch.allclose(first_step, first_step_changed)
    assert sees_future == kind.startswith("bi")


def test_backward_direction_reads_the_clip_reversed():
    torch.manual_seed(0)
    head = _build(kind="bigru", hidden=[4])
    layer = head.layers[0]
    clip = torch.randn(1, 5, FEATURE_DIM)
    reverse_index = torch.tensor([[4, 3, 2, 1, 0]])

    with torch.no_grad():
        _, backward_out = layer(clip, reverse_index)
        expected = layer.backward_rnn(clip.flip(1))[0].flip(1)

    assert torch.allclose(backward_out, expected, atol=1e-6)


def _bump_clips(num_clips: int = 64, num_steps: int = 16) -> tuple:
    """Class 1 when a single bump in channel 0 falls in the clip's second half."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(num_clips) % 2
    sequences = 0.1 * torch.randn(num_clips, num_steps, 4, generator=generator)
    half = num_steps // 2
    bump_steps = torch.randint(0, half, (num_clips,), generator=generator) + labels * half
    sequences[torch.arange(num_clips), bump_steps, 0] += 3.0
    lengths = torch.full((num_clips,), num_steps)
    return sequences, lengths, labels


def _train_accuracy(kind: str) -> float:
    torch.manual_seed(0)
    sequences, lengths, labels = _bump_clips()
    head = build_head(HeadConfig(kind=kind, hidden=[8], dropout=0.0), 4, 2)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.02)

    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(head(sequences, lengths), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with torch.no_grad():
        predictions = head(sequences, lengths).argmax(dim=1)
    return (predictions == labels).float().mean().item()


def test_gru_learns_when_the_bump_comes():
    assert _train_accuracy("gru") > 0.9


def test_mean_head_cannot_tell_when_the_bump_comes():
    assert _train_accuracy("mean") <= 0.65


def test_rebuilds_from_its_own_attributes():
    head = _build(kind="bilstm", hidden=[6, 4], merge="ave", pooling="attention")

    rebuilt = build_head(head.config, head.input_dim, head.num_classes)
    rebuilt.load_state_dict(head.state_dict())

    sequences = torch.randn(2, 5, FEATURE_DIM)
    lengths = torch.tensor([5, 3])
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(sequences, lengths), head(sequences, lengths))


def test_head_keeps_its_own_copy_of_the_config():
    config = HeadConfig(kind="gru", hidden=[6])
    head = build_head(config, FEATURE_DIM, NUM_CLASSES)

    config.hidden.append(4)

    assert head.config.hidden == [6]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "transformer"}, r"head.kind = 'transformer' .* lstm, gru, bilstm, bigru, mean"),
        ({"merge": "max"}, r"head.merge = 'max' .* concat, sum, mul, ave"),
        ({"pooling": "max"}, r"head.pooling = 'max' .* last, mean, attention"),
        ({"task": "video"}, r"head.task = 'video' .* clip, frame"),
        ({"hidden": []}, r"head.hidden = \[\] .* positive integers"),
        ({"hidden": [128, 0]}, r"head.hidden = \[128, 0\]"),
        ({"hidden": [64.0]}, r"head.hidden = \[64.0\]"),
        ({"hidden": 256}, r"head.hidden = 256 "),
        ({"dropout": 1.0}, r"head.dropout = 1.0 .* \[0, 1\)"),
        ({"dropout": -0.1}, r"head.dropout = -0.1 "),
    ],
    ids=[
        "kind",
        "merge",
        "pooling",
        "task",
        "hidden-empty",
        "hidden-zero",
        "hidden-float",
        "hidden-not-list",
        "dropout-one",
        "dropout-negative",
    ],
)
def test_bad_config_names_value_and_choices(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_head(HeadConfig(**overrides), FEATURE_DIM, NUM_CLASSES)


@pytest.mark.parametrize(
    ("input_dim", "num_classes", "message"),
    [(0, 3, r"input_dim = 0"), (5, 0, r"num_classes = 0")],
    ids=["input-dim", "num-classes"],
)
def test_bad_sizes_are_config_errors(input_dim, num_classes, message):
    with pytest.raises(ConfigError, match=message):
        build_head(HeadConfig(), input_dim, num_classes)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        ([5, 6], r"lengths \[5, 6\] must lie in 1..5"),
        ([5, 0], r"must lie in 1..5"),
        ([5], r"expected \(2,\) integers"),
    ],
    ids=["too-long", "zero", "wrong-count"],
)
def test_bad_lengths_are_refused(lengths, message):
    head = _build(kind="gru")

    with pytest.raises(ValueError, match=message):
        head(torch.zeros(2, 5, FEATURE_DIM), torch.tensor(lengths))


def test_wrong_feature_width_is_refused():
    head = _build(kind="gru")

    with pytest.raises(ValueError, match=r"expected \(batch, steps, 5\)"):
        head(torch.zeros(2, 5, 7), torch.tensor([5, 5]))


def test_unused_settings_are_warned_about(caplog):
    build_head(HeadConfig(kind="gru", merge="sum", task="frame", pooling="mean"), 4, 2)

    assert "merge = 'sum'" in caplog.text
    assert "pooling = 'mean'" in caplog.text
