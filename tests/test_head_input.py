from __future__ import annotations

import pytest
import torch
from padding import assert_padding_changes_nothing

from vidseq.errors import ConfigError
from vidseq.head_input import StepPrep
from vidseq.heads import HEAD_KINDS, HeadConfig, build_head


def test_pooling_averages_runs_of_real_steps_only():
    sequences = torch.tensor([[[1.0], [3.0], [5.0], [7.0], [9.0], [99.0]]])  # 5 real steps

    pooled, lengths = StepPrep(center=False, pool_steps=2)(sequences, torch.tensor([5]))

    assert lengths.tolist() == [3]
    assert pooled[0, :, 0].tolist() == [2.0, 6.0, 9.0]


def test_centring_subtracts_the_mean_of_real_steps_and_zeroes_padding():
    sequences = torch.tensor([[[1.0, 10.0], [3.0, 20.0], [50.0, 50.0]]])  # 2 real steps

    centred, lengths = StepPrep(center=True, pool_steps=1)(sequences, torch.tensor([2]))

    assert lengths.tolist() == [2]
    assert centred[0].tolist() == [[-1.0, -5.0], [1.0, 5.0], [0.0, 0.0]]


def test_expand_repeats_each_pooled_output_over_its_steps():
    outputs = torch.tensor([[[0.0], [1.0], [2.0]]])

    expanded = StepPrep(center=False, pool_steps=2).expand(outputs, num_steps=5)

    assert expanded[0, :, 0].tolist() == [0.0, 0.0, 1.0, 1.0, 2.0]


@pytest.mark.parametrize("task", ["clip", "frame"])
@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_padding_never_changes_a_result_with_pooling_and_centring(kind, task):
    torch.manual_seed(0)
    config = HeadConfig(kind=kind, hidden=[6], dropout=0.0, task=task, pool_steps=3,
                        center=(kind, task) != ("mean", "clip"))
    head = build_head(config, 5, 3).eval()
    assert_padding_changes_nothing(head, [8, 4, 2], 5, 3, task)


@pytest.mark.parametrize(("changes", "message"), [
    ({"pool_steps": 0}, "head.pool_steps = 0; expected a positive integer"),
    ({"center": "yes"}, "head.center = 'yes'; expected true or false"),
    ({"center": True, "kind": "mean"}, "a centred clip's mean is 0"),
], ids=["pool-steps-zero", "center-not-bool", "centred-mean-clip"])
def test_bad_input_settings_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        HeadConfig(**changes).validate()
