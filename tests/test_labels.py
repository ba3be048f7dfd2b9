from __future__ import annotations

import logging

import numpy as np
import pytest
from feature_caches import order_videos, write_cache, write_csv

from vidseq.cache import FeatureCache
from vidseq.labels import (
    LabelError,
    LabelSet,
    Segment,
    check_trainable,
    clip_label_set,
    frame_label_set,
    read_label_csv,
    read_segments_csv,
)
from vidseq.train_data import split_keys


def test_segments_map_onto_timestamps_and_leave_gaps_unlabelled():
    labels = LabelSet("frame", ["a", "b"], ["v"], segments={"v": [
        Segment(0.0, 0.3, "a"),
        Segment(0.3, 0.6, "b"),
        Segment(0.8, 0.9, "a"),
    ]})
    timestamps_s = np.arange(10) / 10  # 0.0, 0.1, ... 0.9

    frame_labels = labels.frame_labels("v", timestamps_s)

    # The frame at 0.3 s starts "b"; 0.6 and 0.7 s lie in no segment; 0.9 s is an end.
    assert frame_labels.tolist() == [0, 0, 0, 1, 1, 1, -1, -1, 0, -1]


def test_a_frame_a_rounding_error_before_a_boundary_still_starts_the_next_segment():
    labels = LabelSet("frame", ["a", "b"], ["v"], segments={"v": [
        Segment(0.0, 0.7, "a"), Segment(0.7, 1.0, "b")]})

    frame_labels = labels.frame_labels("v", np.array([21 / 30 - 1e-12, 20 / 30]))

    assert frame_labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("video,begin,finish,label\na.mp4,0,1,x\n",
                     "has the columns video,begin,finish,label; expected a header with "
                     "video,start,end,label", id="bad-columns"),
        pytest.param("", "has the columns [(]none[)]", id="empty-file"),
        pytest.param("video,start,end,label\na.mp4,2.5,1.0,x\n",
                     "line 2: end 1 s is before start 2.5 s", id="end-before-start"),
        pytest.param("video,start,end,label\na.mp4,zero,1,x\n",
                     "line 2: start 'zero' is not a number of seconds", id="not-a-number"),
        pytest.param("video,start,end,label\na.mp4,-1,1,x\n",
                     "line 2: start '-1' must be a time of 0 seconds or more", id="negative"),
        pytest.param("video,start,end,label\na.mp4,0,1,\n",
                     "line 2: empty label", id="empty-label"),
    ],
)
def test_bad_segment_files_are_refused_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "segments.csv"
    path.write_text(text)

    with pytest.raises(LabelError, match=message):
        read_segments_csv(path)


def test_segments_csv_keeps_every_segment_of_a_video_in_order(tmp_path):
    path = write_csv(tmp_path / "segments.csv", "video,start,end,label",
                     [("a.mp4", 0, 1.5, "x"), ("b.mp4", 0, 2, "y"), ("a.mp4", 1.5, 3, "y")])

    segments = read_segments_csv(path)

    assert segments == {"a.mp4": [Segment(0, 1.5, "x"), Segment(1.5, 3, "y")],
                        "b.mp4": [Segment(0, 2, "y")]}


def test_a_video_labelled_twice_differently_is_refused(tmp_path):
    path = write_csv(tmp_path / "labels.csv", "video,label",
                     [("a.mp4", "x"), ("b.mp4", "y"), ("a.mp4", "y")])

    with pytest.raises(LabelError, match="line 4: video 'a.mp4' is labelled 'y' but was 'x' "
                       "on line 2"):
        read_label_csv(path)


def test_missing_label_file_is_named(tmp_path):
    with pytest.raises(LabelError, match="label file .*nope.csv does not exist"):
        read_label_csv(tmp_path / "nope.csv")


def test_clip_labels_from_class_folders_are_sorted(tmp_path):
    cache = FeatureCache(write_cache(tmp_path / "c.h5", order_videos(2)))

    labels = clip_label_set(cache.entries)

    assert labels.class_names == ["falling", "rising"]
    assert [labels.clip_labels[key] for key in labels.keys] == [0, 0, 1, 1]


def test_csv_names_match_by_path_or_file_name_and_misses_are_counted(tmp_path, caplog):
    cache = FeatureCache(write_cache(tmp_path / "c.h5", order_videos(2)))
    csv_path = write_csv(tmp_path / "labels.csv", "video,label", [
        ("falling/falling_00.mp4", "b"),  # relative path
        ("rising_01.mp4", "a"),  # file name, unique in the cache
        ("elsewhere.mp4", "a"),  # not cached
    ])

    with caplog.at_level(logging.WARNING):
        labels = clip_label_set(cache.entries, csv_path)

    assert labels.class_names == ["a", "b"]
    by_path = {cache_entry.key: cache_entry.path for cache_entry in cache.entries}
    assert {by_path[key]: labels.class_names[label]
            for key, label in labels.clip_labels.items()} == {
        "falling/falling_00.mp4": "b", "rising/rising_01.mp4": "a"}
    assert "1 videos named in labels.csv are not in the cache" in caplog.text
    assert "2 cached videos are not in labels.csv and are left out" in caplog.text


def test_a_fixed_class_list_leaves_out_unknown_classes(tmp_path, caplog):
    cache = FeatureCache(write_cache(tmp_path / "c.h5", order_videos(2)))

    with caplog.at_level(logging.WARNING):
        labels = clip_label_set(cache.entries, class_names=["other", "rising"])

    assert labels.class_names == ["other", "rising"]
    assert set(labels.clip_labels.values()) == {1}
    assert "2 videos have classes the model does not know (e.g. 'falling')" in caplog.text


def test_frame_label_set_takes_classes_from_segments_of_cached_videos(tmp_path):
    cache = FeatureCache(write_cache(tmp_path / "c.h5", order_videos(1)))
    csv_path = write_csv(tmp_path / "s.csv", "video,start,end,label",
                         [("rising_00.mp4", 0, 0.5, "up"), ("gone.mp4", 0, 1, "never")])

    labels = frame_label_set(cache.entries, csv_path)

    assert labels.class_names == ["up"]
    assert len(labels.keys) == 1


def test_one_class_cannot_train():
    labels = LabelSet("clip", ["only"], ["a", "b"], clip_labels={"a": 0, "b": 0})

    with pytest.raises(LabelError, match=r"only one class \(only\) in labels.csv; training "
                       "a classifier needs at least two"):
        check_trainable(labels, "labels.csv")


def test_split_is_stratified_seeded_and_disjoint():
    keys = [f"v{number}" for number in range(30)]
    clip_labels = {key: 0 if number < 20 else 1 for number, key in enumerate(keys)}
    labels = LabelSet("clip", ["a", "b"], keys, clip_labels=clip_labels)

    train_keys, val_keys = split_keys(labels, 0.2, seed=3)

    assert sorted(train_keys + val_keys) == sorted(keys)
    assert [clip_labels[key] for key in val_keys].count(0) == 4
    assert [clip_labels[key] for key in val_keys].count(1) == 2
    assert split_keys(labels, 0.2, seed=3) == (train_keys, val_keys)
    assert split_keys(labels, 0.2, seed=4) != (train_keys, val_keys)


def test_a_split_without_validation_videos_is_refused():
    labels = LabelSet("clip", ["a", "b"], ["x", "y"], clip_labels={"x": 0, "y": 1})

    with pytest.raises(LabelError, match="leaves no validation video among 2; label more "
                       "videos or give --val CACHE"):
        split_keys(labels, 0.2, seed=0)
