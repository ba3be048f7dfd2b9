"""Training a head on a feature cache: the epoch loop, checkpoints, early stopping, resume.

Each epoch trains on length-bucketed batches, then scores the validation videos. The best
epoch so far (by the monitored validation metric, ties broken by validation loss) is
saved as `model.pt`; every epoch ends with `last.pt`, which also holds the optimizer and
random states, so `resume` continues as if never stopped. See `vidseq.run_files` for the
run folder's other files.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from vidseq import distributed
from vidseq.config import TrainConfig
from vidseq.dataset import LengthBatchSampler, SequenceDataset, make_loader
from vidseq.distributed import Processes
from vidseq.errors import ConfigError, VidseqError
from vidseq.evaluate import predict, resolve_device, score
from vidseq.heads import HeadConfig, SequenceHead, build_head
from vidseq.labels import IGNORE_LABEL
from vidseq.loss import balanced_class_weights, mean_loss
from vidseq.model_file import ModelFile, load_model, save_model
from vidseq.run_files import LAST_FILE, MODEL_FILE
from vidseq.summary import summarize
from vidseq.train_data import RunData, load_run_data
from vidseq.train_outputs import write_epoch_outputs, write_final_outputs, write_start_outputs

log = logging.getLogger(__name__)


class RunFolderError(VidseqError):
    """The run folder holds another run, or nothing to resume."""


@dataclass
class Progress:
    """Where a run stands after its last finished epoch; saved in `last.pt`."""

    epoch: int = 0
    step: int = 0
    best_epoch: int = 0
    best_value: float = -math.inf
    best_loss: float = math.inf
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)


@dataclass
class TrainResult:
    """What `train` did: the best epoch's validation metrics and where files went."""

    run_dir: Path
    metric: str
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    metrics: dict
    seconds: float


def train(
    cache_path: Path,
    head_config: HeadConfig,
    config: TrainConfig,
    resume: bool = False,
    progress_bar: bool = True,
) -> TrainResult:
    """Train a head on the cache `cache_path`; files go to the run folder `config.output`.

    Under torchrun every process calls this; they split the batches and only rank 0
    writes. Raises before any heavy work on bad settings, labels or run folders:
    ConfigError, LabelError, CacheError, RunFolderError.
    """
    started = time.perf_counter()
    head_config.validate()
    config.validate()
    metric = config.monitored_metric(head_config.task)
    run_dir = _check_run_dir(config.output, resume)
    processes = distributed.start(resolve_device(config.device))
    try:
        return _train(cache_path, head_config, config, run_dir, resume, metric, processes,
                      progress_bar, started)
    finally:
        distributed.stop(processes)


def _train(cache_path, head_config, config, run_dir, resume, metric, processes, progress_bar,
           started) -> TrainResult:
    device = processes.device
    set_torch_threads(config.threads, device)
    torch.manual_seed(config.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    data = load_run_data(cache_path, config, head_config.task)
    data.train.crop_fraction = config.temporal_crop
    head = build_head(head_config, data.feature_dim, len(data.class_names)).to(device)
    if processes.is_main:
        log.info("%s", summarize(head, data.feature_dim, max(data.train.lengths),
                                 config.batch_size))
        write_start_outputs(run_dir, config, head_config)

    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    state = Progress()
    if resume:
        state = _restore(run_dir / LAST_FILE, head, optimizer, scaler, device)

    model = distributed.wrap(head, processes)
    sampler = LengthBatchSampler(data.train.lengths, config.batch_size, shuffle=True,
                                 bucket=config.bucket, seed=config.seed,
                                 rank=processes.rank, world_size=processes.world_size)
    loader = make_loader(data.train, sampler, config.workers, device.type == "cuda")
    class_weights = _class_weights(config, data, device)
    schedule = _Schedule(config, len(sampler))

    stopped_early = 0 < config.patience <= state.bad_epochs
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if stopped_early:
            break
        epoch_started = time.perf_counter()
        sampler.set_epoch(epoch)

        # Train, then score the validation videos (every rank the same, so all agree when
        # to stop).
        train_stats = _train_epoch(model, loader, optimizer, scaler, schedule, state,
                                   class_weights, config, processes, epoch,
                                   progress_bar and processes.is_main)
        predictions = predict(head, data.val, config.batch_size, device, config.workers,
                              class_weights)
        val_metrics = score(predictions, head_config.task, len(data.class_names))

        # Book-keeping: best epoch, history, files.
        improved = _update(state, epoch, val_metrics, metric)
        state.history.append(_history_row(epoch, schedule, state.step, train_stats,
                                          val_metrics, time.perf_counter() - epoch_started))
        if processes.is_main:
            extraction = data.extraction
            if improved:
                _save(run_dir / MODEL_FILE, head, data.class_names, extraction,
                      _model_extra(epoch, metric, val_metrics, config))
            _save(run_dir / LAST_FILE, head, data.class_names, extraction,
                  _checkpoint_extra(state, optimizer, scaler, val_metrics, device))
            write_epoch_outputs(run_dir, state.history)
            log.info("%s", _epoch_line(epoch, config.epochs, state.history[-1], metric,
                                        improved))
        stopped_early = 0 < config.patience <= state.bad_epochs

    if stopped_early:
        log.info("stopped early: no better validation %s for %d epochs", metric,
                 config.patience)
    best_metrics = _best_metrics(run_dir, state, processes)
    if processes.is_main:
        write_final_outputs(run_dir, state.history, best_metrics, data.class_names,
                            head_config.task, metric, state.best_epoch)
    return TrainResult(run_dir, metric, state.best_epoch, state.epoch, stopped_early,
                       best_metrics, time.perf_counter() - started)


def _train_epoch(model, loader, optimizer, scaler, schedule, state, class_weights, config,
                 processes: Processes, epoch: int, progress_bar: bool) -> dict:
    """One pass over the training batches; returns mean loss and accuracy over all ranks."""
    model.train()
    device = processes.device
    totals = [0.0, 0.0, 0.0, 0.0]  # loss sum, loss count, right, labelled
    bar = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False,
               disable=not progress_bar, dynamic_ncols=True)
    for batch in bar:
        batch = batch.to(device)
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr(state.step)

        # Forward and backward; AMP and its loss scaling only on CUDA.
        with torch.autocast(device.type, enabled=scaler.is_enabled()):
            logits = model(batch.sequences, batch.lengths)
        logits = logits.float()
        loss = mean_loss(logits, batch.targets, class_weights)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        state.step += 1

        # Running figures for the bar.
        labelled = batch.targets != IGNORE_LABEL
        count = int(labelled.sum())
        totals[0] += loss.item() * count
        totals[1] += count
        totals[2] += int((logits.argmax(-1) == batch.targets)[labelled].sum())
        totals[3] += count
        bar.set_postfix(loss=f"{totals[0] / max(totals[1], 1):.3f}",
                        acc=f"{totals[2] / max(totals[3], 1):.3f}", refresh=False)
    bar.close()

    loss_sum, loss_count, right, labelled_total = distributed.sum_across(totals, processes)
    return {"loss": loss_sum / max(loss_count, 1), "accuracy": right / max(labelled_total, 1)}


class _Schedule:
    """Learning rate per optimizer step: linear warm-up, then cosine decay to 0 or constant."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int):
        self.base_lr = config.lr
        self.kind = config.schedule
        self.total_steps = max(1, config.epochs * steps_per_epoch)
        self.warmup_steps = min(config.warmup_epochs * steps_per_epoch, self.total_steps - 1)

    def lr(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return self.base_lr
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return self.base_lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _update(state: Progress, epoch: int, val_metrics: dict, metric: str) -> bool:
    """Record the epoch in `state`; True when it is the best so far."""
    value, loss = float(val_metrics[metric]), float(val_metrics["loss"])
    improved = value > state.best_value or (value == state.best_value and loss < state.best_loss)
    state.epoch = epoch
    if improved:
        state.best_epoch, state.best_value, state.best_loss = epoch, value, loss
        state.bad_epochs = 0
    else:
        state.bad_epochs += 1
    return improved


def _history_row(epoch, schedule, step, train_stats, val_metrics, seconds) -> dict:
    row = {"epoch": epoch, "lr": schedule.lr(max(step - 1, 0)),
           "train_loss": train_stats["loss"], "train_accuracy": train_stats["accuracy"]}
    for name, value in val_metrics.items():
        if isinstance(value, float):
            row[f"val_{name}"] = value
    row["seconds"] = round(seconds, 2)
    return row


def _epoch_line(epoch: int, epochs: int, row: dict, metric: str, improved: bool) -> str:
    width = len(str(epochs))
    return (f"epoch {epoch:>{width}}/{epochs}  loss {row['train_loss']:.4f}  "
            f"acc {row['train_accuracy']:.3f}  val loss {row['val_loss']:.4f}  "
            f"val {metric} {row[f'val_{metric}']:.3f}  lr {row['lr']:.2e}  "
            f"{row['seconds']:.1f} s{'  *' if improved else ''}")


def _class_weights(config: TrainConfig, data: RunData, device) -> torch.Tensor | None:
    if not config.class_weights:
        return None
    counts = [0] * len(data.class_names)
    dataset: SequenceDataset = data.train
    for index in range(len(dataset)):
        target = dataset.targets_of(index)
        if isinstance(target, int):
            counts[target] += 1
        else:
            for label, count in zip(*torch.unique(torch.as_tensor(target), return_counts=True)):
                if label >= 0:
                    counts[int(label)] += int(count)
    weights = balanced_class_weights(counts)
    log.info("class weights: %s", ", ".join(
        f"{name} {weight:.2f}" for name, weight in zip(data.class_names, weights.tolist())))
    return weights.to(device)


def _save(path: Path, head: SequenceHead, class_names, extraction, extra: dict) -> None:
    save_model(path, ModelFile(head, class_names, extraction, extra))


def _model_extra(epoch: int, metric: str, val_metrics: dict, config: TrainConfig) -> dict:
    return {"epoch": epoch, "metric": metric, "val_metrics": val_metrics,
            "train_config": dataclasses.asdict(config)}


def _checkpoint_extra(state: Progress, optimizer, scaler, val_metrics: dict, device) -> dict:
    extra = {
        "progress": dataclasses.asdict(state),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "val_metrics": val_metrics,
    }
    if device.type == "cuda":
        extra["rng_cuda"] = torch.cuda.get_rng_state(device)
    return extra


def _restore(path: Path, head, optimizer, scaler, device) -> Progress:
    """Load `last.pt` into the head and optimizer; returns the saved progress."""
    checkpoint = load_model(path, device)
    saved_config = dataclasses.asdict(checkpoint.head.config)
    if saved_config != dataclasses.asdict(head.config):
        differences = [f"{key}: {value!r} vs {getattr(head.config, key)!r}"
                       for key, value in saved_config.items()
                       if getattr(head.config, key) != value]
        raise ConfigError(f"{path} holds another head (saved vs now: {'; '.join(differences)})"
                          "; resume with the run's own settings")
    head.load_state_dict(checkpoint.head.state_dict())
    extra = checkpoint.extra
    optimizer.load_state_dict(extra["optimizer"])
    scaler.load_state_dict(extra["scaler"])
    torch.set_rng_state(extra["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in extra:
        torch.cuda.set_rng_state(extra["rng_cuda"], device)
    state = Progress(**extra["progress"])
    log.info("resuming %s after epoch %d (best so far: epoch %d)", path.parent, state.epoch,
             state.best_epoch)
    return state


def _best_metrics(run_dir: Path, state: Progress, processes: Processes) -> dict:
    """Validation metrics of the best epoch, from model.pt (rank 0 wrote it)."""
    if not processes.is_main:
        return {}
    return dict(load_model(run_dir / MODEL_FILE).extra["val_metrics"])


def _check_run_dir(output: str, resume: bool) -> Path:
    if not output:
        raise RunFolderError("no run folder given; pass -o RUN_DIR (or set output in the "
                             "[train] table)")
    run_dir = Path(output)
    last = run_dir / LAST_FILE
    if resume and not last.is_file():
        raise RunFolderError(f"nothing to resume: {last} does not exist")
    if not resume and last.exists():
        raise RunFolderError(f"{run_dir} already holds a run ({LAST_FILE}); continue it with "
                             "--resume, or choose another -o")
    return run_dir


def set_torch_threads(threads: int, device: torch.device) -> None:
    """Use `threads` torch threads; 0 means one on the CPU and torch's default on CUDA."""
    # One thread per process unless asked: with the other cores busy, two threads ran the
    # recurrent heads up to ten times slower than one on the 2-core development machine.
    if threads == 0 and device.type == "cpu":
        threads = 1
    if threads:
        torch.set_num_threads(threads)
    log.debug("%d torch threads", torch.get_num_threads())
