"""Anomaly evaluation: AUCs against a hand-written rank formula, events, delay, NAB by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.anomaly.detectors import make_detector
from workbench.datasets import make_metrics
from workbench.evaluate.anomaly import (
    NAB_PROFILES,
    detection_delay,
    evaluate_detectors,
    event_recall_score,
    event_windows,
    nab_score,
    pr_auc_score,
    precision_at_budget_score,
    roc_auc_score,
)
from workbench.exceptions import InvalidArgument


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney: the share of (anomalous, normal) pairs ordered right, ties one half."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    wins = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return (wins + 0.5 * ties) / (positive.size * negative.size)


def loop_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision by walking down distinct score levels (the step-wise PR area)."""
    total, found, positives = 0.0, 0, labels.sum()
    for level in np.unique(scores)[::-1]:
        at = scores == level
        seen = (scores >= level).sum()
        new = labels[at].sum()
        found += new
        total += new / positives * (found / seen)
    return total


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=60).filter(
        lambda pairs: len({label for label, _ in pairs}) == 2
    )
)
def test_aucs_agree_with_hand_written_formulas(pairs):
    labels = np.array([label for label, _ in pairs], dtype=float)
    scores = np.array([score for _, score in pairs], dtype=float)  # many ties on purpose
    assert roc_auc_score(labels, scores) == pytest.approx(rank_auc(labels, scores))
    assert pr_auc_score(labels, scores) == pytest.approx(loop_average_precision(labels, scores))


def test_points_not_scored_rank_below_every_scored_point():
    labels = np.array([1, 0, 0, 1])
    scores = np.array([np.nan, 0.2, 0.1, 0.9])
    # The unscored anomaly counts as a miss, not as a dropped point.
    assert roc_auc_score(labels, scores) == pytest.approx(0.5)
    assert roc_auc_score(labels[1:], scores[1:]) == 1.0


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "both"),
        ([1, 0, np.nan], [0.1, 0.2, 0.3], "unknown"),
        ([1, 0], [0.1, 0.2, 0.3], "one label per score"),
        ([2, 0], [0.1, 0.2], "1 \\(anomalous\\) or 0"),
    ],
)
def test_bad_labels_get_a_clear_error(labels, scores, message):
    with pytest.raises(InvalidArgument, match=message):
        roc_auc_score(labels, scores)


def test_precision_at_budget_counts_the_top_alerts_only():
    labels = [1, 0, 1, 0, 1, 0]
    scores = [0.9, 0.8, 0.7, 0.1, np.nan, 0.2]
    assert precision_at_budget_score(labels, scores, alerts=1) == 1.0
    assert precision_at_budget_score(labels, scores, alerts=3) == pytest.approx(2 / 3)
    # More alerts than scored points: the unscored anomaly never alerts.
    assert precision_at_budget_score(labels, scores, alerts=10) == pytest.approx(2 / 5)
    with pytest.raises(InvalidArgument, match="alerts"):
        precision_at_budget_score(labels, scores, alerts=0)


def _series(labels: list[int], series: str = "a") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": series,
            "ts": pd.date_range("2026-01-01", periods=len(labels), freq="h"),
            "label": labels,
        }
    )


def test_event_windows_join_contiguous_points_per_series():
    frame = pd.concat([_series([0, 1, 1, 1, 0, 1]), _series([1, 1, 0, 0, 0, 0], "b")])
    events = event_windows(frame.sample(frac=1.0, random_state=1))
    assert events[["series_id", "points"]].values.tolist() == [["a", 3], ["a", 1], ["b", 2]]
    assert events["end"].iloc[0] == pd.Timestamp("2026-01-01 03:00")


def test_event_windows_on_a_sparse_labels_table_split_at_gaps():
    metrics = make_metrics(series=4, days=7, seed=4, anomaly_rate=0.05)
    events = event_windows(metrics.tables["labels"].to_pandas())
    truth = pd.DataFrame(metrics.truth["anomalies"])
    assert len(events) == len(truth)
    assert events["points"].tolist() == truth["points"].tolist()


def test_event_recall_counts_each_event_once_and_honours_the_tolerance():
    frame = _series([0, 1, 1, 1, 0, 0, 1, 0, 0, 0])
    events = event_windows(frame)
    many_alerts_in_one_event = frame.iloc[[1, 2, 3]]
    assert event_recall_score(events, many_alerts_in_one_event) == 0.5
    late = frame.iloc[[8]]  # two hours after the second event
    assert event_recall_score(events, late) == 0.0
    assert event_recall_score(events, late, tolerance="1h") == 0.0
    assert event_recall_score(events, late, tolerance="2h") == 0.5
    other_series = frame.iloc[[2]].assign(series_id="b")
    assert event_recall_score(events, other_series) == 0.0


def test_detection_delay_measures_time_and_points_to_the_first_alert():
    frame = _series([0, 1, 1, 1, 1, 0, 1, 0])
    events = event_windows(frame)
    delay = detection_delay(events, frame.iloc[[3, 4]], observations=frame)
    assert len(delay) == 1  # the second event was missed, so it has no delay
    assert delay["delay"].iloc[0] == pd.Timedelta(hours=2)
    assert delay["delay_points"].iloc[0] == 2
    # Without observations, points are counted on the event's own spacing.
    assert detection_delay(events, frame.iloc[[3]])["delay_points"].iloc[0] == 2


def _sigmoid(position: float) -> float:
    return 2 / (1 + math.exp(5 * position)) - 1


def test_nab_matches_hand_computed_cases():
    points = _series([0] * 100)[["series_id", "ts"]]
    labelled = points.assign(label=(points.index == 50).astype(int))
    events = event_windows(labelled)  # window of 10 points: 45..54
    perfect, null = _sigmoid(-1.0), -1.0
    normalized = lambda raw: 100 * (raw - null) / (perfect - null)  # noqa: E731
    assert nab_score(events, points.iloc[[45]], points) == pytest.approx(100.0)
    assert nab_score(events, points.iloc[[]], points) == 0.0
    assert nab_score(events, points.iloc[[54]], points) == pytest.approx(normalized(_sigmoid(-0.1)))
    # Only the earliest alert in a window counts; later ones in it cost nothing.
    assert nab_score(events, points.iloc[[47, 48, 53]], points) == pytest.approx(
        normalized(_sigmoid(-0.8))
    )
    # A false positive before any window costs fp, and a missed window costs fn.
    assert nab_score(events, points.iloc[[10]], points) == pytest.approx(normalized(-1.0 - 0.11))
    low_fp = NAB_PROFILES["reward_low_FP_rate"]["fp"]
    assert nab_score(events, points.iloc[[10]], points, profile="reward_low_FP_rate") == (
        pytest.approx(normalized(-1.0 - low_fp))
    )
    # Right after the window a false positive costs little; far after, the full fp.
    just_after = abs(54 - 56) / 9
    assert nab_score(events, points.iloc[[45, 56]], points) == pytest.approx(
        normalized(perfect + 0.11 * _sigmoid(just_after))
    )
    assert nab_score(events, points.iloc[[45, 99]], points) == pytest.approx(
        normalized(perfect - 0.11)
    )


def test_nab_reward_low_fn_doubles_the_weight_of_a_miss():
    points = pd.concat([_series([0] * 100), _series([0] * 100, "b")])
    labelled = points.assign(label=((points.index == 20) | (points.index == 70)).astype(int))
    events = event_windows(labelled)
    hits = points[(points["series_id"] == "a") & points.index.isin([20, 70])]
    # Two events per series, so windows of ceil(0.1 * 100 / 2) = 5 points centred on
    # each event: a hit on the event itself sits at -(3 / 5) in its window.
    hit, perfect = _sigmoid(-0.6), _sigmoid(-1.0)
    standard = nab_score(events, hits, points)
    low_fn = nab_score(events, hits, points, profile="reward_low_FN_rate")
    assert standard == pytest.approx(100 * (2 * hit - 2 + 4) / (4 * perfect + 4))
    assert low_fn == pytest.approx(100 * (2 * hit - 4 + 8) / (4 * perfect + 8))
    with pytest.raises(InvalidArgument, match="reward_low_FN_rate"):
        nab_score(events, hits, points, profile="lenient")


def test_evaluate_detectors_gives_one_row_per_detector_with_every_figure():
    metrics = make_metrics(series=6, days=10, seed=8, anomaly_rate=0.03)
    points = metrics.tables["observations"].to_pandas()
    labels = (
        points[["series_id", "ts"]]
        .merge(
            metrics.tables["labels"].to_pandas()[["series_id", "ts", "label"]],
            on=["series_id", "ts"],
            how="left",
        )["label"]
        .fillna(0)
        .to_numpy()
    )
    table = evaluate_detectors(
        {"gaussian": make_detector("gaussian"), "seasonal": make_detector("seasonal")},
        points,
        points,
        labels=labels,
    )
    assert table["detector"].tolist() == ["gaussian", "seasonal"]
    for column in (
        "pr_auc_score",
        "roc_auc_score",
        "event_recall_score",
        "nab_score",
        "precision_at_budget_score",
    ):
        assert table[column].notna().all()
    assert (table["pr_auc_score"] > labels.mean()).all()  # both better than chance
    assert (table["not_scored"] > 0).all()
    assert table["events"].iloc[0] == len(metrics.truth["anomalies"])


def test_evaluate_detectors_grades_only_points_since_and_keeps_supervised_labels_apart():
    train = make_metrics(series=4, days=10, seed=21, anomaly_rate=0.03)
    test = make_metrics(series=4, days=10, seed=22, anomaly_rate=0.03)
    train_points = train.tables["observations"].to_pandas()
    test_points = test.tables["observations"].to_pandas()
    truth = np.zeros(len(test_points))
    for episode in test.truth["anomalies"]:
        inside = (test_points["series_id"] == episode["series_id"]) & test_points["ts"].between(
            pd.Timestamp(episode["start"]), pd.Timestamp(episode["end"])
        )
        truth[inside.to_numpy()] = 1
    train_labels = np.zeros(len(train_points))
    for episode in train.truth["anomalies"]:
        inside = (train_points["series_id"] == episode["series_id"]) & train_points["ts"].between(
            pd.Timestamp(episode["start"]), pd.Timestamp(episode["end"])
        )
        train_labels[inside.to_numpy()] = 1
    since = pd.Timestamp("2026-01-04")
    table = evaluate_detectors(
        {"seasonal": make_detector("seasonal"), "supervised": make_detector("supervised")},
        train_points,
        test_points,
        labels=truth,
        train_labels=train_labels,
        since=since,
    )
    graded = (test_points["ts"] >= since.tz_localize("UTC")).to_numpy()
    assert table.set_index("detector").loc["seasonal", "not_scored"] == 0  # warm-up is before
    expected_events = len(event_windows(test_points[graded].assign(label=truth[graded])))
    assert (table["events"] == expected_events).all()
    assert table["pr_auc_score"].notna().all()
    with pytest.raises(InvalidArgument, match="since"):
        evaluate_detectors(
            {"seasonal": make_detector("seasonal")},
            train_points,
            test_points,
            labels=truth,
            since="2030-01-01",
        )
