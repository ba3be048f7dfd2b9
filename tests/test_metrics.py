from __future__ import annotations

import json

import numpy as np
import pytest

from vidseq.metrics import clip_metrics, confusion_matrix, frame_metrics


def _labels(text: str) -> np.ndarray:
    """'AABC' -> [0, 0, 1, 2]."""
    return np.array(["ABC".index(letter) for letter in text])


def _one_hot(predictions: list[int], num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[predictions]


def test_confusion_matrix_rows_are_true_classes():
    counts = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)

    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_confusion_matrix_refuses_ids_out_of_range():
    with pytest.raises(ValueError, match=r"labels hold ids from 0 to 3; expected class ids 0..2"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


def test_clip_metrics_by_hand():
    # true 0 0 1 2, predicted 0 1 1 1.
    metrics = clip_metrics(np.array([0, 0, 1, 2]), _one_hot([0, 1, 1, 1], 3), 3)

    # Right on clips 0 and 2: 2 / 4.
    assert metrics["accuracy"] == pytest.approx(0.5)
    # Recall per class: 1/2, 1/1, 0/1 -> mean 0.5.
    assert metrics["mean_class_accuracy"] == pytest.approx(0.5)
    # F1 = 2TP / (2TP + FP + FN): class 0 2/3, class 1 2/4, class 2 0 -> 7/18.
    assert metrics["macro_f1"] == pytest.approx(7 / 18)
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert metrics["count"] == 4
    assert "top5_accuracy" not in metrics


def test_clip_metrics_counts_predicted_only_classes_in_f1_not_in_recall():
    # Class 1 is only predicted, class 2 never appears.
    metrics = clip_metrics(np.array([0, 0]), _one_hot([0, 1], 3), 3)

    # Recall over class 0 only: 1/2.
    assert metrics["mean_class_accuracy"] == pytest.approx(0.5)
    # F1 class 0: 2 / (2 + 0 + 1) = 2/3; class 1: no TP -> 0; mean 1/3.
    assert metrics["macro_f1"] == pytest.approx(1 / 3)


def test_top5_accuracy_when_more_than_five_classes():
    # Clip 0: the label has the 5th highest score, clip 1: the 6th.
    scores = np.array([[7, 6, 5, 4, 3, 2, 1], [7, 6, 5, 4, 3, 2, 1]], dtype=float)
    metrics = clip_metrics(np.array([4, 5]), scores, 7)

    assert metrics["top5_accuracy"] == pytest.approx(0.5)
    assert metrics["accuracy"] == 0.0


def test_clip_metrics_go_into_json():
    metrics = clip_metrics(np.array([0, 5]), np.random.default_rng(0).random((2, 6)), 6)

    assert json.loads(json.dumps(metrics)) == metrics


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        (np.array([0, 1]), np.zeros((2, 4)), r"scores have shape \(2, 4\); expected \(2, 3\)"),
        (np.array([], dtype=int), np.zeros((0, 3)), r"no clips to score"),
        (np.array([0, 7]), np.zeros((2, 3)), r"labels hold ids from 0 to 7"),
    ],
    ids=["wrong-width", "empty", "label-out-of-range"],
)
def test_clip_metrics_refuse_bad_input(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        clip_metrics(labels, scores, 3)


def test_frame_metrics_by_hand():
    # True segments A[0,3) B[3,7); predicted A[0,2) B[2,5) C[5,7).
    metrics = frame_metrics([_labels("AAABBBB")], [_labels("AABBBCC")])

    # Frames right: A A . B B . . -> 4/7.
    assert metrics["frame_accuracy"] == pytest.approx(4 / 7)
    # Segment sequences AB vs ABC: one insertion, 1 - 1/3.
    assert metrics["edit_score"] == pytest.approx(200 / 3)
    # IoU: predicted A 2/3, predicted B 2/5, C has no true C.
    # @10 and @25: TP A, B; FP C; FN none -> 2*2 / (4 + 1 + 0) = 80%.
    assert metrics["f1@10"] == pytest.approx(80)
    assert metrics["f1@25"] == pytest.approx(80)
    # @50: TP A; FP B, C; FN true B -> 2 / (2 + 2 + 1) = 40%.
    assert metrics["f1@50"] == pytest.approx(40)
    assert metrics["count_frames"] == 7
    assert metrics["count_videos"] == 1


@pytest.mark.parametrize(
    ("predicted", "expected_f1"),
    [
        # Predicted A[0,6) has IoU 6/10 with true A[0,10): TP; B is FP -> 2 / 3.
        ("AAAAAABBBB", 200 / 3),
        # IoU 4/10 < 0.5: both predicted segments FP, true A FN -> 0.
        ("AAAABBBBBB", 0.0),
    ],
    ids=["overlap-60", "overlap-40"],
)
def test_f1_at_50_needs_half_the_union(predicted, expected_f1):
    metrics = frame_metrics([_labels("AAAAAAAAAA")], [_labels(predicted)])

    assert metrics["f1@50"] == pytest.approx(expected_f1)
    # At 25% both overlaps match.
    assert metrics["f1@25"] == pytest.approx(200 / 3)


def test_a_true_segment_matches_only_once():
    # Predicted A[0,4) IoU 0.4, B[4,5), A[5,10) IoU 0.5, against true A[0,10).
    metrics = frame_metrics([_labels("AAAAAAAAAA")], [_labels("AAAABAAAAA")])

    # @25: first A takes the true A; the second A's best match is taken, so FP.
    # TP 1, FP 2, FN 0 -> 2 / (2 + 2) = 50%.
    assert metrics["f1@25"] == pytest.approx(50)
    # @50: the first A misses (0.4), the second takes it: TP 1, FP 2 -> 50%.
    assert metrics["f1@50"] == pytest.approx(50)
    # Segments ABA vs A: two deletions, 1 - 2/3.
    assert metrics["edit_score"] == pytest.approx(100 / 3)


def test_f1_sums_counts_over_videos_and_edit_averages():
    # Video 1 right (TP 2); video 2 wrong throughout (FP 1, FN 1).
    metrics = frame_metrics(
        [_labels("AABB"), _labels("AAAA")],
        [_labels("AABB"), _labels("BBBB")],
    )

    # Summed: 2*2 / (4 + 1 + 1) = 66.7%, not the mean of 100% and 0%.
    assert metrics["f1@50"] == pytest.approx(200 / 3)
    # Edit: 100 and 0 -> 50.
    assert metrics["edit_score"] == pytest.approx(50)
    assert metrics["frame_accuracy"] == pytest.approx(4 / 8)


def test_ignored_frames_are_dropped_from_both():
    # Kept: true 0 0 1, predicted 0 1 1.
    metrics = frame_metrics(
        [np.array([0, 0, -1, -1, 1]), np.array([-1, -1])],
        [np.array([0, 1, 1, 1, 1]), np.array([2, 2])],
    )

    assert metrics["frame_accuracy"] == pytest.approx(2 / 3)
    assert metrics["count_frames"] == 3
    # The video with no labelled frame is skipped.
    assert metrics["count_videos"] == 1
    # Segments AB vs AB after dropping: perfect edit.
    assert metrics["edit_score"] == pytest.approx(100)


def test_frame_metrics_go_into_json():
    metrics = frame_metrics([_labels("AABC")], [_labels("ABBC")])

    assert json.loads(json.dumps(metrics)) == metrics


@pytest.mark.parametrize(
    ("sequences_true", "sequences_pred", "message"),
    [
        ([np.zeros(3)], [], r"1 true sequences but 0 predicted"),
        ([np.zeros(3)], [np.zeros(4)], r"video 0: true labels \(3,\) and predicted \(4,\)"),
        ([np.full(3, -1)], [np.zeros(3)], r"no frames to score: every frame is labelled -1"),
    ],
    ids=["video-count", "frame-count", "all-ignored"],
)
def test_frame_metrics_refuse_bad_input(sequences_true, sequences_pred, message):
    with pytest.raises(ValueError, match=message):
        frame_metrics(sequences_true, sequences_pred)
