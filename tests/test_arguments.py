"""Durations and times read by one set of rules, wherever a function takes them."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from workbench.arguments import looks_like_duration, parse_duration, parse_time
from workbench.exceptions import InvalidArgument
from workbench.features import series_rolling_features


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", pd.Timedelta(days=7)),
        ("2 weeks", pd.Timedelta(weeks=2)),
        ("36h", pd.Timedelta(hours=36)),
        ("90min", pd.Timedelta(minutes=90)),
        ("d", pd.Timedelta(days=1)),
        (dt.timedelta(hours=6), pd.Timedelta(hours=6)),
    ],
)
def test_a_duration_reads_the_same_everywhere(text, expected):
    assert parse_duration(text, name="window") == expected


@pytest.mark.parametrize("value", ["PT1H", "7 fortnights", "-1d", 7, 7.5, True, None, "0d"])
def test_a_duration_that_is_not_one_names_the_argument(value):
    with pytest.raises(InvalidArgument, match=r"^window=.* (is not a|must be a positive) duration"):
        parse_duration(value, name="window")


def test_a_whole_number_is_a_duration_only_where_its_unit_is_declared():
    assert parse_duration(7, name="ttl", int_unit="days") == pd.Timedelta(days=7)
    assert parse_duration("0s", name="tolerance", allow_zero=True) == pd.Timedelta(0)
    assert looks_like_duration("14d") and not looks_like_duration("d")
    assert not looks_like_duration("2026-01-15")


def test_feature_windows_take_the_text_anomaly_windows_take():
    points = ibis.table({"series_id": "string", "ts": "timestamp", "value": "float64"})
    columns = series_rolling_features(points, windows=["1d", "7d"]).columns
    assert columns == series_rolling_features(points, windows=(1, 7)).columns
    assert "mean_7d" in columns


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-15T06:00:00+02:00", dt.datetime(2026, 1, 15, 4)),
        ("2026-01-15", dt.datetime(2026, 1, 15)),
        (dt.date(2026, 1, 15), dt.datetime(2026, 1, 15)),
        (pd.Timestamp("2026-01-15T06:00Z"), dt.datetime(2026, 1, 15, 6)),
    ],
)
def test_a_time_is_naive_utc_whatever_its_zone(value, expected):
    assert parse_time(value, name="since") == expected


@pytest.mark.parametrize("value", [1_700_000_000, 1.5, "last tuesday", ""])
def test_a_number_or_words_are_not_a_time(value):
    with pytest.raises(InvalidArgument, match=r"^since=.* is not a time"):
        parse_time(value, name="since")


def test_reward_windows_refuse_a_bare_number_that_used_to_mean_nanoseconds(memory_store):
    from workbench.offpolicy import logged_deliveries

    with pytest.raises(InvalidArgument, match="window=7 is not a duration"):
        logged_deliveries(memory_store, window=7)


def test_detector_grading_converts_an_offset_start_to_utc():
    from workbench.anomaly import make_detector
    from workbench.datasets import make_metrics
    from workbench.evaluate.anomaly import evaluate_detectors

    data = make_metrics(series=2, days=10, seed=1, anomaly_rate=0.02)
    frame = data.tables["observations"].to_pandas()
    labels = data.tables["labels"].to_pandas()
    frame["ts"] = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    cut = pd.Timestamp("2026-01-06")
    train, test = frame[frame["ts"] < cut], frame[frame["ts"] >= cut].reset_index(drop=True)
    merged = test.merge(
        labels.assign(ts=labels["ts"].dt.tz_convert("UTC").dt.tz_localize(None)),
        on=["series_id", "ts"],
        how="left",
    )
    y = merged["label"].fillna(0).to_numpy()
    # 02:00+02:00 is midnight UTC: the same points as since="2026-01-08" (UTC).
    local = evaluate_detectors(
        {"gaussian": make_detector("gaussian")},
        train,
        test,
        labels=y,
        since="2026-01-08T02:00:00+02:00",
    )
    utc = evaluate_detectors(
        {"gaussian": make_detector("gaussian")}, train, test, labels=y, since="2026-01-08"
    )
    timing = ["fit_score_seconds"]
    pd.testing.assert_frame_equal(local.drop(columns=timing), utc.drop(columns=timing))


def test_table_arguments_take_arrow_and_refuse_a_non_table_in_one_line():
    import pyarrow as pa

    from workbench.evaluate.anomaly import event_windows
    from workbench.offpolicy import estimate_policy_value

    labels = pa.table(
        {
            "series_id": ["a", "a"],
            "ts": pd.to_datetime(["2026-01-01T00:00", "2026-01-01T01:00"]),
            "label": [1, 1],
        }
    )
    # Anomaly event windows used to take a pandas DataFrame only.
    assert len(event_windows(labels)) == 1
    with pytest.raises(InvalidArgument, match="logs must be a table"):
        estimate_policy_value([("a", 0.5, 1.0)], lambda logs: logs)
