"""PNG figures of a run: the confusion matrix and the training curves (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from vidseq.run_files import write_atomic  # noqa: E402


def plot_confusion(path: Path, matrix: list[list[int]], class_names: list[str],
                   title: str) -> None:
    """Rows true, columns predicted; cells coloured by the row's fraction, labelled by count."""
    counts = np.asarray(matrix)
    row_totals = counts.sum(axis=1, keepdims=True)
    fractions = counts / np.maximum(row_totals, 1)

    size = 2.5 + 0.45 * len(class_names)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, label="fraction of true class")
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)

    if len(class_names) <= 30:
        for row, col in np.ndindex(counts.shape):
            colour = "white" if fractions[row, col] > 0.5 else "black"
            axes.text(col, row, str(counts[row, col]), ha="center", va="center",
                      color=colour, fontsize=8)
    _save(figure, path)


def plot_curves(path: Path, history: list[dict], metric: str) -> None:
    """Loss per epoch beside accuracy per epoch; a monitored metric other than accuracy
    (F1@k, edit score: percent) gets its own axis on the right."""
    epochs = [row["epoch"] for row in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))

    loss_axes.plot(epochs, [row["train_loss"] for row in history], label="training")
    loss_axes.plot(epochs, [row["val_loss"] for row in history], label="validation")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("cross-entropy")
    loss_axes.legend()

    val_accuracy = "val_accuracy" if "val_accuracy" in history[0] else "val_frame_accuracy"
    accuracy_axes.plot(epochs, [row["train_accuracy"] for row in history], label="training")
    accuracy_axes.plot(epochs, [row[val_accuracy] for row in history], label="validation")
    accuracy_axes.set_xlabel("epoch")
    accuracy_axes.set_ylabel("accuracy")
    accuracy_axes.set_ylim(0, 1.02)
    accuracy_axes.legend(loc="lower left")
    if f"val_{metric}" != val_accuracy:
        metric_axes = accuracy_axes.twinx()
        metric_axes.plot(epochs, [row[f"val_{metric}"] for row in history], color="tab:green",
                         linestyle="--", label=f"validation {metric}")
        metric_axes.set_ylabel(f"{metric} (%)")
        metric_axes.set_ylim(0, 102)
        metric_axes.legend(loc="lower right")
    figure.tight_layout()
    _save(figure, path)


def _save(figure, path: Path) -> None:
    try:
        write_atomic(path, lambda part: figure.savefig(part, format="png", dpi=100,
                                                        bbox_inches="tight"))
    finally:
        plt.close(figure)
