"""Scores for clip labels and for per-frame labels (temporal action segmentation).

Inputs are numpy arrays; outputs are plain Python floats, ints and lists, ready for JSON.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

SEGMENT_OVERLAPS = (10, 25, 50)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Count label/prediction pairs: `(C, C)` int64, rows true class, columns predicted.

    `labels` and `predictions` are `(N,)` integer class ids in 0..C-1; anything else
    raises ValueError.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(
            f"labels {labels.shape} and predictions {predictions.shape} must be equal (N,) arrays"
        )

    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} hold ids from {values.min()} to {values.max()}; "
                f"expected class ids 0..{num_classes - 1}"
            )

    pair_ids = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    counts = np.bincount(pair_ids, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def clip_metrics(labels: np.ndarray, scores: np.ndarray, num_classes: int) -> dict:
    """Score one label per clip against `(N, C)` logits or probabilities.

    Returns fractions in 0..1: `accuracy`, `top5_accuracy` (only when C > 5),
    `mean_class_accuracy` (recall averaged over the classes present in `labels`) and
    `macro_f1` (F1 averaged over the classes present in `labels` or in the predictions;
    a class with no true positive scores 0). Also `confusion_matrix` as C lists of C
    counts (rows true, columns predicted) and `count`, the number of clips.
    Raises ValueError on mismatched shapes, an empty input or a label outside 0..C-1.
    """
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape != (len(labels), num_classes):
        raise ValueError(
            f"scores have shape {scores.shape}; expected ({len(labels)}, {num_classes}), "
            "one row per label and one column per class"
        )
    if len(labels) == 0:
        raise ValueError("no clips to score: labels are empty")

    predictions = scores.argmax(axis=1)
    counts = confusion_matrix(labels, predictions, num_classes)
    true_positives = np.diag(counts)
    true_totals = counts.sum(axis=1)
    predicted_totals = counts.sum(axis=0)

    present = true_totals > 0
    class_accuracy = true_positives[present] / true_totals[present]

    # F1 = 2TP / (2TP + FP + FN); the denominator is 2TP + FP + FN = true + predicted.
    seen = present | (predicted_totals > 0)
    class_f1 = 2 * true_positives[seen] / (true_totals[seen] + predicted_totals[seen])

    metrics = {"accuracy": float(true_positives.sum() / len(labels))}
    if num_classes > 5:
        top5 = np.argsort(-scores, axis=1, kind="stable")[:, :5]
        metrics["top5_accuracy"] = float((top5 == labels[:, None]).any(axis=1).mean())
    metrics["mean_class_accuracy"] = float(class_accuracy.mean())
    metrics["macro_f1"] = float(class_f1.mean())
    metrics["confusion_matrix"] = counts.tolist()
    metrics["count"] = len(labels)
    return metrics


def frame_metrics(
    sequences_true: list[np.ndarray],
    sequences_pred: list[np.ndarray],
    ignore_label: int = -1,
) -> dict:
    """Score per-frame labels as MS-TCN does (Farha & Gall, CVPR 2019).

    Each video gives a `(T,)` array of true labels and one of predicted labels. Frames
    whose true label is `ignore_label` (padding, unlabelled) are dropped from both first,
    and videos left without frames are skipped. A segment is a run of equal labels.

    Returns:
        frame_accuracy: fraction 0..1 of frames right, over all frames of all videos.
        edit_score: percent 0..100, (1 - Levenshtein distance between the predicted and
            true segment label sequences / the longer one's length), averaged over videos.
        f1@10, f1@25, f1@50: percent 0..100. Each predicted segment is matched to the
            true segment of its label with the highest IoU; it counts as a true positive
            when IoU >= k/100 and that true segment is not matched yet, else as a false
            positive. Unmatched true segments are false negatives. Counts are summed
            over videos before F1 is taken.
        count_frames, count_videos: what was scored.

    Limitations: every label forms segments (MS-TCN can leave out a background class),
    and segments are exact frame ranges, where MS-TCN's code ends a video's last segment
    one frame early, so short videos can score slightly differently.
    Raises ValueError when the lists or a video's two arrays differ in length, or when
    no labelled frame is left.
    """
    if len(sequences_true) != len(sequences_pred):
        raise ValueError(
            f"{len(sequences_true)} true sequences but {len(sequences_pred)} predicted; "
            "expected one of each per video"
        )

    videos = []
    for index, (labels_true, labels_pred) in enumerate(zip(sequences_true, sequences_pred)):
        labels_true = np.asarray(labels_true)
        labels_pred = np.asarray(labels_pred)
        if labels_true.ndim != 1 or labels_true.shape != labels_pred.shape:
            raise ValueError(
                f"video {index}: true labels {labels_true.shape} and predicted "
                f"{labels_pred.shape} must be equal (T,) arrays"
            )

        labelled = labels_true != ignore_label
        if labelled.any():
            videos.append((labels_true[labelled], labels_pred[labelled]))
        else:
            logger.debug("video %d has no labelled frames; skipped", index)
    if not videos:
        raise ValueError(f"no frames to score: every frame is labelled {ignore_label}")

    num_correct = sum(int((true == pred).sum()) for true, pred in videos)
    num_frames = sum(len(true) for true, _ in videos)
    edit_scores = [_edit_score(true, pred) for true, pred in videos]

    metrics = {
        "frame_accuracy": num_correct / num_frames,
        "edit_score": float(np.mean(edit_scores)),
    }
    for overlap in SEGMENT_OVERLAPS:
        metrics[f"f1@{overlap}"] = _segment_f1(videos, overlap / 100)
    metrics["count_frames"] = num_frames
    metrics["count_videos"] = len(videos)
    return metrics


def _segments(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal labels: their labels, first frames and end frames (exclusive)."""
    change_frames = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change_frames])
    ends = np.concatenate([change_frames, [len(labels)]])
    return labels[starts], starts, ends


def _edit_score(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Segmental edit score of one video, percent."""
    segments_true = _segments(labels_true)[0].tolist()
    segments_pred = _segments(labels_pred)[0].tolist()
    distance = _levenshtein(segments_pred, segments_true)
    return (1 - distance / max(len(segments_pred), len(segments_true))) * 100


def _levenshtein(source: list, target: list) -> int:
    """Fewest insertions, deletions and substitutions that turn source into target."""
    previous = list(range(len(target) + 1))
    for i, source_item in enumerate(source, start=1):
        current = [i]
        for j, target_item in enumerate(target, start=1):
            substitution = previous[j - 1] + (source_item != target_item)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1]


def _segment_f1(videos: list[tuple[np.ndarray, np.ndarray]], min_iou: float) -> float:
    """F1@k in percent, true/false positives and false negatives summed over videos."""
    totals = np.zeros(3, dtype=np.int64)
    for labels_true, labels_pred in videos:
        totals += _match_segments(labels_true, labels_pred, min_iou)

    true_positives, false_positives, false_negatives = totals.tolist()
    denominator = 2 * true_positives + false_positives + false_negatives
    if denominator == 0:
        return 0.0
    return 2 * true_positives / denominator * 100


def _match_segments(labels_true: np.ndarray, labels_pred: np.ndarray, min_iou: float) -> list:
    """[true positives, false positives, false negatives] of one video."""
    true_labels, true_starts, true_ends = _segments(labels_true)
    pred_labels, pred_starts, pred_ends = _segments(labels_pred)

    # IoU of every predicted segment (rows) with every true one (columns), 0 across labels.
    intersection = np.minimum(pred_ends[:, None], true_ends) - np.maximum(
        pred_starts[:, None], true_starts
    )
    union = np.maximum(pred_ends[:, None], true_ends) - np.minimum(
        pred_starts[:, None], true_starts
    )
    same_label = pred_labels[:, None] == true_labels
    iou = np.where(same_label, np.clip(intersection, 0, None) / union, 0.0)

    matched = np.zeros(len(true_labels), dtype=bool)
    true_positives = 0
    for pred_index in range(len(pred_labels)):
        best = int(iou[pred_index].argmax())
        if iou[pred_index, best] >= min_iou and not matched[best]:
            matched[best] = True
            true_positives += 1

    false_positives = len(pred_labels) - true_positives
    false_negatives = len(true_labels) - true_positives
    return [true_positives, false_positives, false_negatives]
