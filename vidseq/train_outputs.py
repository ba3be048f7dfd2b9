"""What a run writes into its folder: at its start, after each epoch, and at its end.

Only rank 0 calls these. Checkpoints (`model.pt`, `last.pt`) are written by `vidseq.train`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vidseq.config import TrainConfig
from vidseq.heads import HeadConfig
from vidseq.plots import plot_confusion, plot_curves
from vidseq.run_files import (
    CONFIG_FILE,
    CONFUSION_CSV,
    CONFUSION_PNG,
    CURVES_PNG,
    HISTORY_FILE,
    METRICS_FILE,
    write_config,
    write_confusion_csv,
    write_history,
    write_metrics,
)

log = logging.getLogger(__name__)


def write_start_outputs(run_dir: Path, config: TrainConfig, head_config: HeadConfig) -> None:
    """Create the run folder and save the resolved config (`[train]`, `[train.head]`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir / CONFIG_FILE, {"train": config, "train.head": head_config})
    log.info("run folder %s", run_dir)


def write_epoch_outputs(run_dir: Path, history: list[dict]) -> None:
    write_history(run_dir / HISTORY_FILE, history)


def write_final_outputs(run_dir: Path, history: list[dict], best_metrics: dict,
                        class_names: list[str], task: str, metric: str,
                        best_epoch: int) -> None:
    """metrics.json, the confusion matrix as CSV and PNG, and the training curves PNG."""
    summary = {"task": task, "metric": metric, "best_epoch": best_epoch,
               "epochs_run": len(history) and history[-1]["epoch"],
               "class_names": class_names, **best_metrics}
    write_metrics(run_dir / METRICS_FILE, summary)

    matrix = best_metrics["confusion_matrix"]
    write_confusion_csv(run_dir / CONFUSION_CSV, matrix, class_names)
    unit = "clips" if task == "clip" else "frames"
    plot_confusion(run_dir / CONFUSION_PNG, matrix, class_names,
                   f"validation {unit}, epoch {best_epoch}")
    if history:
        plot_curves(run_dir / CURVES_PNG, history, metric)
    log.info("wrote %s, %s, %s, %s", METRICS_FILE, CONFUSION_CSV, CONFUSION_PNG, CURVES_PNG)
