"""Heads that classify sequences of frame features: LSTM, GRU, their bidirectional forms, and a
mean baseline.

A head reads a padded batch of sequences `(B, T, D)` float with each clip's real length `(B,)`
and returns logits, `(B, C)` for the clip task or `(B, T, C)` for the frame task.

Padding never changes a result. A causal cell never looks ahead, so steps after a clip's end
cannot reach its real steps. The backward direction reverses each clip within its own length,
which keeps the padding at the end, runs a forward cell and reverses back. Pooling masks out
padded steps. This costs two gathers per layer instead of `pack_padded_sequence`, which made
CPU training run at 0.45x the speed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from vidseq.errors import ConfigError
from vidseq.head_input import StepPrep

logger = logging.getLogger(__name__)

HEAD_KINDS = ("lstm", "gru", "bilstm", "bigru", "mean")
MERGE_MODES = ("concat", "sum", "mul", "ave")
POOLINGS = ("last", "mean", "attention")
TASKS = ("clip", "frame")

_RNN_TYPES = {"lstm": nn.LSTM, "gru": nn.GRU, "bilstm": nn.LSTM, "bigru": nn.GRU}


@dataclass
class HeadConfig:
    """How the head on top of the frame features is built.

    kind: "lstm", "gru", "bilstm", "bigru", or "mean" (no recurrence, see `MeanHead`).
    hidden: widths of the stacked recurrent layers, first to last. The "mean" head uses
        only `hidden[0]`, as the width of its MLP.
    dropout: drop probability between stacked layers and before the classifier.
    merge: how a bidirectional layer joins its two directions at each step, as Keras
        `Bidirectional(merge_mode=...)` does: "concat" doubles the width; "sum", "mul" and
        "ave" keep it. Unidirectional heads ignore it.
    pooling: clip task only. "last" takes the output at each clip's last real step
        (bidirectional heads merge it with the backward output at step 0, its final
        state); "mean" averages over real steps; "attention" weighs the real steps by a
        learned score, softmaxed over them.
    task: "clip" gives one label per clip (many-to-one), "frame" one per step
        (many-to-many).
    pool_steps: average each run of this many steps into one before the layers (1: off);
        the frame task repeats each averaged step's output over its steps.
    center: subtract each clip's mean over its real steps, so the head sees change rather
        than appearance (see `vidseq.head_input`).
    """

    kind: str = "bigru"
    hidden: list[int] = field(default_factory=lambda: [256])
    dropout: float = 0.2
    merge: str = "concat"
    pooling: str = "last"
    task: str = "clip"
    pool_steps: int = 1
    center: bool = False

    def validate(self) -> None:
        """Raise ConfigError naming the first bad setting and the values accepted."""
        _check_choice("kind", self.kind, HEAD_KINDS)
        _check_choice("merge", self.merge, MERGE_MODES)
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("task", self.task, TASKS)

        widths_ok = (
            isinstance(self.hidden, (list, tuple))
            and len(self.hidden) > 0
            and all(_is_positive_int(width) for width in self.hidden)
        )
        if not widths_ok:
            raise ConfigError(
                f"head.hidden = {self.hidden!r} is not a list of layer widths; "
                "expected one or more positive integers, e.g. [256] or [128, 256]"
            )

        is_number = isinstance(self.dropout, numbers.Real) and not isinstance(self.dropout, bool)
        if not (is_number and 0 <= self.dropout < 1):
            raise ConfigError(
                f"head.dropout = {self.dropout!r} is not a probability in [0, 1); "
                "use e.g. 0.2, or 0 for none"
            )
        if not _is_positive_int(self.pool_steps):
            raise ConfigError(
                f"head.pool_steps = {self.pool_steps!r}; expected a positive integer (1: off)"
            )
        if not isinstance(self.center, bool):
            raise ConfigError(f"head.center = {self.center!r}; expected true or false")
        if self.center and self.kind == "mean" and self.task == "clip":
            raise ConfigError(
                "head.center = true with the mean head on the clip task leaves it nothing to "
                "classify (a centred clip's mean is 0); set center = false for that head"
            )


def _check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(
            f"head.{key} = {value!r} is not supported; choose one of: {', '.join(choices)}"
        )


def _is_positive_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def merge_directions(forward_out: Tensor, backward_out: Tensor, mode: str) -> Tensor:
    """Join the two directions' outputs `(..., H)` as Keras `Bidirectional` does.

    "concat" gives `(..., 2H)`; "sum", "mul" and "ave" (their mean) give `(..., H)`.
    """
    if mode == "concat":
        return torch.cat([forward_out, backward_out], dim=-1)
    if mode == "sum":
        return forward_out + backward_out
    if mode == "mul":
        return forward_out * backward_out
    if mode == "ave":
        return (forward_out + backward_out) / 2
    raise ConfigError(
        f"merge mode {mode!r} is not supported; choose one of: {', '.join(MERGE_MODES)}"
    )


class DirectionMerge(nn.Module):
    """`merge_directions` as a layer, so that it shows in summaries."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, forward_out: Tensor, backward_out: Tensor) -> Tensor:
        return merge_directions(forward_out, backward_out, self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class RecurrentLayer(nn.Module):
    """One layer of a stack: a forward LSTM or GRU, and a backward one when bidirectional.

    `forward(sequences (B, T, D_in), reverse_index (B, T) int64)` returns the forward
    direction's outputs `(B, T, H)` and the backward direction's `(B, T, H)` in original
    step order, or None for a unidirectional layer. `reverse_index` comes from
    `_reverse_index` and is only read when bidirectional.
    """

    def __init__(
        self,
        rnn_type: type[nn.RNNBase],
        input_dim: int,
        width: int,
        bidirectional: bool,
        merge: str,
    ) -> None:
        super().__init__()
        self.forward_rnn = rnn_type(input_dim, width, batch_first=True)
        self.backward_rnn = None
        if bidirectional:
            self.backward_rnn = rnn_type(input_dim, width, batch_first=True)
        self.merge = DirectionMerge(merge) if bidirectional else None
        self.output_dim = 2 * width if bidirectional and merge == "concat" else width

    def forward(
        self, sequences: Tensor, reverse_index: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        forward_out, _ = self.forward_rnn(sequences)
        if self.backward_rnn is None:
            return forward_out, None

        # Reversing within each length keeps padding at the end, out of the real steps' way.
        reversed_sequences = _gather_steps(sequences, reverse_index)
        reversed_out, _ = self.backward_rnn(reversed_sequences)
        backward_out = _gather_steps(reversed_out, reverse_index)
        return forward_out, backward_out

    def merged(self, forward_out: Tensor, backward_out: Tensor | None) -> Tensor:
        """The layer's output per step `(B, T, output_dim)`."""
        if self.merge is None:
            return forward_out
        return self.merge(forward_out, backward_out)


def _reverse_index(lengths: Tensor, num_steps: int) -> Tensor:
    """Index `(B, T)` that maps step t to length-1-t within each clip and leaves padding put."""
    steps = torch.arange(num_steps, device=lengths.device)
    mirrored = lengths[:, None] - 1 - steps
    return torch.where(steps < lengths[:, None], mirrored, steps)


def _gather_steps(outputs: Tensor, index: Tensor) -> Tensor:
    """Pick `outputs[b, index[b, t]]` for every b, t; `(B, T, H)` in and out."""
    return outputs.gather(1, index[:, :, None].expand(-1, -1, outputs.shape[2]))


def _step_mask(lengths: Tensor, num_steps: int) -> Tensor:
    """Bool `(B, T)`, True at real steps."""
    return torch.arange(num_steps, device=lengths.device) < lengths[:, None]


class LastStepPool(nn.Module):
    """Forward output at each clip's last real step; with a backward direction, merged with its
    output at step 0 (its final state). `(B, T, H)` in, `(B, H)` or `(B, 2H)` out."""

    def __init__(self, merge: str | None) -> None:
        super().__init__()
        self.merge = merge

    def forward(self, forward_out: Tensor, backward_out: Tensor | None, lengths: Tensor) -> Tensor:
        batch_index = torch.arange(len(lengths), device=lengths.device)
        forward_last = forward_out[batch_index, lengths - 1]
        if backward_out is None:
            return forward_last
        return merge_directions(forward_last, backward_out[:, 0], self.merge)


class MeanPool(nn.Module):
    """Mean over each clip's real steps: `(B, T, H)` in, `(B, H)` out."""

    def forward(self, sequences: Tensor, lengths: Tensor) -> Tensor:
        mask = _step_mask(lengths, sequences.shape[1])
        summed = sequences.masked_fill(~mask[:, :, None], 0).sum(dim=1)
        return summed / lengths[:, None].to(summed.dtype)


class AttentionPool(nn.Module):
    """Weighted sum of the real steps, weights softmaxed over a learned score per step.

    `(B, T, H)` in, `(B, H)` out. The score is a dot product with one learned vector;
    a bias would cancel in the softmax.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(width)
        self.weight = nn.Parameter(torch.empty(width).uniform_(-bound, bound))

    def forward(self, sequences: Tensor, lengths: Tensor) -> Tensor:
        mask = _step_mask(lengths, sequences.shape[1])
        real_steps = sequences.masked_fill(~mask[:, :, None], 0)

        scores = (real_steps @ self.weight).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.einsum("bt,bth->bh", weights, real_steps)


class SequenceHead(nn.Module):
    """Base of all heads: keeps what `build_head` needs to rebuild it and checks inputs.

    `forward(sequences (B, T, D) float, lengths (B,) int)` returns logits `(B, C)` for the
    clip task or `(B, T, C)` for the frame task; values at padded steps are arbitrary.
    Raises ValueError when shapes disagree or a length is outside 1..T.
    """

    def __init__(self, config: HeadConfig, input_dim: int, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.input_dim = input_dim
        self.num_classes = num_classes
        self.prepare = None
        if config.center or config.pool_steps > 1:
            self.prepare = StepPrep(config.center, config.pool_steps)

    def forward(self, sequences: Tensor, lengths: Tensor) -> Tensor:
        lengths = self._checked_lengths(sequences, lengths)
        if self.prepare is None:
            return self._classify(sequences, lengths)

        num_steps = sequences.shape[1]
        sequences, lengths = self.prepare(sequences, lengths)
        logits = self._classify(sequences, lengths)
        return self.prepare.expand(logits, num_steps) if logits.dim() == 3 else logits

    def _classify(self, sequences: Tensor, lengths: Tensor) -> Tensor:
        raise NotImplementedError

    def _checked_lengths(self, sequences: Tensor, lengths: Tensor) -> Tensor:
        if sequences.dim() != 3 or sequences.shape[2] != self.input_dim:
            raise ValueError(
                f"sequences have shape {tuple(sequences.shape)}; "
                f"expected (batch, steps, {self.input_dim})"
            )

        batch_size, num_steps = sequences.shape[:2]
        if lengths.shape != (batch_size,) or lengths.is_floating_point():
            raise ValueError(
                f"lengths have shape {tuple(lengths.shape)} and dtype {lengths.dtype}; "
                f"expected ({batch_size},) integers, one per clip"
            )

        # One host sync per batch; cheap next to the recurrent layers.
        if bool(((lengths < 1) | (lengths > num_steps)).any()):
            raise ValueError(
                f"lengths {lengths.tolist()} must lie in 1..{num_steps}, the padded clip length"
            )
        return lengths.to(device=sequences.device, dtype=torch.long)


class RecurrentHead(SequenceHead):
    """Stacked LSTM or GRU layers, one or two directions each, then pooling and a classifier.

    Layer i has width `hidden[i]`; dropout sits between layers and before the classifier.
    """

    def __init__(self, config: HeadConfig, input_dim: int, num_classes: int) -> None:
        super().__init__(config, input_dim, num_classes)
        rnn_type = _RNN_TYPES[config.kind]
        self.bidirectional = config.kind.startswith("bi")

        layers = []
        layer_input_dim = input_dim
        for width in config.hidden:
            layer = RecurrentLayer(
                rnn_type, layer_input_dim, width, self.bidirectional, config.merge
            )
            layers.append(layer)
            layer_input_dim = layer.output_dim
        self.layers = nn.ModuleList(layers)
        self.layer_dropouts = nn.ModuleList(nn.Dropout(config.dropout) for _ in layers[1:])

        self.pool = None
        if config.task == "clip":
            self.pool = _build_pool(
                config.pooling, layer_input_dim, self.bidirectional, config.merge
            )
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(layer_input_dim, num_classes)

    def _classify(self, sequences: Tensor, lengths: Tensor) -> Tensor:
        reverse_index = None
        if self.bidirectional:
            reverse_index = _reverse_index(lengths, sequences.shape[1])

        # Every layer but the last hands its merged outputs on.
        outputs = sequences
        for layer, dropout in zip(self.layers[:-1], self.layer_dropouts):
            forward_out, backward_out = layer(outputs, reverse_index)
            outputs = dropout(layer.merged(forward_out, backward_out))
        last_layer = self.layers[-1]
        forward_out, backward_out = last_layer(outputs, reverse_index)

        if self.pool is None:
            outputs = last_layer.merged(forward_out, backward_out)
            return self.classifier(self.dropout(outputs))  # (B, T, C)

        if isinstance(self.pool, LastStepPool):
            pooled = self.pool(forward_out, backward_out, lengths)
        else:
            pooled = self.pool(last_layer.merged(forward_out, backward_out), lengths)
        return self.classifier(self.dropout(pooled))  # (B, C)


def _build_pool(pooling: str, width: int, bidirectional: bool, merge: str) -> nn.Module:
    if pooling == "last":
        return LastStepPool(merge if bidirectional else None)
    if pooling == "mean":
        return MeanPool()
    return AttentionPool(width)


class MeanHead(SequenceHead):
    """The baseline without recurrence, blind to frame order.

    Clip task: the mean of the features over each clip's real steps, then an MLP
    (Linear to `hidden[0]`, ReLU, dropout) and a Linear classifier. Frame task: the same
    MLP and classifier on each frame alone, with no temporal context at all.
    `pooling`, `merge` and `hidden[1:]` are not used.
    """

    def __init__(self, config: HeadConfig, input_dim: int, num_classes: int) -> None:
        super().__init__(config, input_dim, num_classes)
        width = config.hidden[0]
        self.pool = MeanPool() if config.task == "clip" else None
        self.hidden_layer = nn.Linear(input_dim, width)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(width, num_classes)

    def _classify(self, sequences: Tensor, lengths: Tensor) -> Tensor:
        features = sequences if self.pool is None else self.pool(sequences, lengths)
        hidden = self.dropout(self.activation(self.hidden_layer(features)))
        return self.classifier(hidden)  # (B, C) or (B, T, C)


def build_head(config: HeadConfig, input_dim: int, num_classes: int) -> SequenceHead:
    """Check `config` and build the head it describes, for features of width `input_dim`.

    The head keeps a copy of `config`, so `build_head(head.config, head.input_dim,
    head.num_classes)` rebuilds it. Raises ConfigError on a bad setting; logs a warning
    for settings the chosen kind or task does not use.
    """
    config.validate()
    if not _is_positive_int(input_dim):
        raise ConfigError(
            f"input_dim = {input_dim!r}; expected the positive feature width D"
        )
    if not _is_positive_int(num_classes):
        raise ConfigError(
            f"num_classes = {num_classes!r}; expected a positive number of classes"
        )

    config = dataclasses.replace(config, hidden=list(config.hidden))
    _warn_unused(config)

    head_type = MeanHead if config.kind == "mean" else RecurrentHead
    head = head_type(config, input_dim, num_classes)
    num_params = sum(param.numel() for param in head.parameters())
    logger.debug("built %s head for %s task: %d parameters", config.kind, config.task, num_params)
    return head


def _warn_unused(config: HeadConfig) -> None:
    unused = []
    if config.kind == "mean" and len(config.hidden) > 1:
        unused.append(f"hidden[1:] = {config.hidden[1:]}")
    if config.task == "frame" and config.pooling != "last":
        unused.append(f"pooling = {config.pooling!r} (frame task)")
    if config.kind == "mean" and config.pooling == "attention":
        unused.append("pooling = 'attention' (the mean head always averages)")
    if not config.kind.startswith("bi") and config.merge != "concat":
        unused.append(f"merge = {config.merge!r} (unidirectional head)")
    if unused:
        logger.warning("head %r ignores: %s", config.kind, "; ".join(unused))
