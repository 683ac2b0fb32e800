"""Broad scans (alerts, scans, time budget), deep dives (investigate) and their charts."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from workbench.anomaly.charts import plot_alerts_overview, plot_decomposition, plot_series_band
from workbench.anomaly.investigation import investigate
from workbench.anomaly.observations import load_observations
from workbench.anomaly.scans import scan
from workbench.capture import ingest
from workbench.charts import chart_to_svg
from workbench.datasets import make_metrics
from workbench.exceptions import InvalidArgument, WorkbenchError

SERIES, DAYS = 8, 14


@pytest.fixture(scope="module")
def metrics():
    return make_metrics(series=SERIES, days=DAYS, seed=3, anomaly_rate=0.02)


@pytest.fixture
def store(file_store, metrics):
    ingest(file_store, metrics.tables["observations"], table="observations")
    return file_store


def _truth_points(metrics) -> set[tuple[str, pd.Timestamp]]:
    labels = metrics.tables["labels"].to_pandas()
    positive = labels[labels["label"] == 1]
    return {(s, _naive(t)) for s, t in zip(positive["series_id"], positive["ts"], strict=True)}


def _naive(when) -> pd.Timestamp:
    """A naive UTC timestamp, as the store returns times."""
    stamp = pd.Timestamp(when)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


# --- load_observations -------------------------------------------------------------------


def test_load_observations_filters_by_time_and_series(store):
    frame = load_observations(
        store, since="2026-01-02T00:00:00Z", until="2026-01-03", series="host_00.cpu"
    )
    assert list(frame.columns) == ["series_id", "ts", "value"]
    assert len(frame) == 24 and set(frame["series_id"]) == {"host_00.cpu"}
    assert frame["ts"].is_monotonic_increasing
    assert frame["ts"].min() == pd.Timestamp("2026-01-02")


def test_unknown_series_are_named_with_close_matches(store):
    with pytest.raises(InvalidArgument, match=r"did you mean host_00\.cpu"):
        load_observations(store, series=["host_00.cpuu"])
    with pytest.raises(InvalidArgument, match=r"did you mean host_01\.latency_ms"):
        scan(store, "seasonal", series=["host_01.latncy_ms"])


# --- scan -------------------------------------------------------------------------------


def test_a_scan_writes_one_alert_per_flagged_point_and_a_scan_record(store):
    report = scan(store, "seasonal")
    newest = store.sql("SELECT max(ts) AS t FROM observations").to_pylist()[0]["t"]
    # Default window: the last day of data, the newest point included.
    assert report.until > newest and report.until - report.since == dt.timedelta(days=1)
    assert report.status == "complete" and report.series_skipped == []
    assert (report.series_total, report.series_scanned) == (SERIES, SERIES)
    assert report.points == SERIES * 24
    stored = store.sql("SELECT * FROM alerts ORDER BY series_id, ts").to_pandas()
    assert len(stored) == len(report.alerts) > 0
    assert set(stored["scan_id"]) == {report.scan_id} and set(stored["detector"]) == {"seasonal"}
    assert (stored["ts"] >= report.since).all() and (stored["ts"] < report.until).all()
    assert (stored["score"] > stored["threshold"]).all()
    assert stored["reason"].str.len().min() > 10
    assert (stored["window_start"] == pd.Timestamp(report.since)).all()
    row = store.sql("SELECT * FROM scans").to_pylist()
    assert len(row) == 1
    assert row[0]["alerts"] == len(stored) and row[0]["status"] == "complete"
    assert row[0]["points"] == report.points and json.loads(row[0]["series_skipped"]) == []
    assert json.loads(row[0]["params"])["threshold"] == "1/1d or 24 points"
    assert report.summary().startswith(f"Scan {report.scan_id} (seasonal, complete)")
    # The alerts are set against the budget: the threshold came from the history.
    rate = len(report.alerts) / SERIES  # one day scanned
    assert f"{rate:.2g} per series per 1d; budget 1/1d or 24 points" in report.summary()
    # Each flagged series comes with its scored window, ready to chart, most alerts first.
    assert set(report.flagged) == set(stored["series_id"])
    counts = [int(points["alert"].sum()) for points in report.flagged.values()]
    assert counts == sorted(counts, reverse=True)
    first = next(iter(report.flagged.values()))
    assert len(first) == 24 and chart_to_svg(plot_series_band(first)).lstrip().startswith("<svg")
    # `since` may be a span before `until`.
    week = scan(store, "seasonal", since="7d", until="2026-01-15")
    assert week.since == dt.datetime(2026, 1, 8)
    assert json.loads(json.dumps(report.to_dict()))["alerts"][0]["series_id"]


def test_a_rescan_replaces_its_alerts_rather_than_duplicating_them(store):
    first = scan(store, "seasonal", since="2026-01-08", until="2026-01-15")
    second = scan(store, "seasonal", since="2026-01-08", until="2026-01-15")
    stored = store.sql("SELECT scan_id, series_id, ts FROM alerts").to_pandas()
    assert len(stored) == len(second.alerts) == len(first.alerts) > 0
    assert set(stored["scan_id"]) == {second.scan_id}
    assert not stored.duplicated(["series_id", "ts"]).any()
    assert store.count_rows()["scans"] == 2


def test_a_scan_finds_planted_anomalies(store, metrics):
    report = scan(store, "seasonal", since="2026-01-06", until="2026-01-15", threshold="2/1d")
    truth = _truth_points(metrics)
    in_window = {
        (s, t) for s, t in truth if pd.Timestamp("2026-01-06") <= t < pd.Timestamp("2026-01-15")
    }
    flagged = set(zip(report.alerts["series_id"], report.alerts["ts"], strict=True))
    hits = len(flagged & in_window)
    base_rate = len(in_window) / report.points
    # Alerts are anomalous many times more often than points at random are.
    assert hits / len(flagged) > 5 * base_rate, (hits, len(flagged), base_rate)
    assert hits >= 0.3 * len(in_window), (hits, len(in_window))


def test_the_time_budget_skips_series_and_lists_them_and_they_go_first_next_time(store):
    first = scan(store, "seasonal", time_budget=1e-9)
    assert first.status == "partial"
    assert first.series_scanned == 1 and len(first.series_skipped) == SERIES - 1
    assert first.series_total == first.series_scanned + len(first.series_skipped)
    assert "skipped by the time budget" in first.summary()
    recorded = store.sql("SELECT series_skipped, status FROM scans").to_pylist()[0]
    assert json.loads(recorded["series_skipped"]) == first.series_skipped
    assert recorded["status"] == "partial"
    # The next scan starts with what the last one skipped.
    second = scan(store, "seasonal", time_budget=1e-9)
    assert second.series_skipped[: SERIES - 2] == first.series_skipped[1:]
    assert first.series_skipped[0] not in second.series_skipped
    # A generous budget covers everything.
    assert scan(store, "seasonal", time_budget=600).status == "complete"


def test_points_without_enough_history_are_counted_not_dropped(store):
    report = scan(store, "seasonal", since="2026-01-01T06:00:00Z", until="2026-01-02")
    assert report.points == SERIES * 18
    assert report.not_scored == report.points  # six hours of history is too little
    assert "not scored" in report.summary()
    assert report.alerts.empty


def test_auto_uses_the_seasonal_detector_until_labels_allow_the_supervised_one(store, metrics):
    report = scan(store, "auto")
    assert report.detector == "seasonal"
    assert "0 anomalous and 0 normal" in report.detector_reason
    ingest(store, metrics.tables["labels"], table="labels")
    report = scan(store, "auto")
    assert report.detector == "supervised"
    assert "trained on" in report.detector_reason
    assert set(store.sql("SELECT detector FROM scans")["detector"].to_pylist()) == {
        "seasonal",
        "supervised",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detector": "nope"}, "Unknown detector 'nope'"),
        ({"since": "2026-01-10", "until": "2026-01-09"}, "must be before"),
        ({"since": "yesterday-ish"}, "is not a time"),
        ({"time_budget": 0}, "time_budget"),
        ({"history": "-3d"}, "not a duration"),
        ({"history": "0h"}, "positive duration"),
    ],
)
def test_bad_scan_arguments_say_what_to_do(store, kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        scan(store, **kwargs)


def test_scanning_an_empty_store_says_to_ingest_first(file_store):
    with pytest.raises(WorkbenchError, match="workbench ingest"):
        scan(file_store, "seasonal")


# --- investigate ------------------------------------------------------------------------


def _spike(metrics, *, after: str = "2026-01-04"):
    spikes = [
        a
        for a in metrics.truth["anomalies"]
        if a["kind"] == "spike" and a["start"] >= after and a["start"] < "2026-01-13"
    ]
    assert spikes, "the synthetic data should hold a spike"
    return spikes[0]


def test_investigate_shows_the_band_decomposition_and_features_around_a_point(store, metrics):
    spike = _spike(metrics)
    found = investigate(store, spike["series_id"], around=spike["start"], window="2d")
    at = _naive(spike["start"])
    obs = found.observations
    assert list(obs.columns) == [
        "ts",
        "value",
        "score",
        "expected",
        "low",
        "high",
        "alert",
        "reason",
    ]
    assert obs["ts"].min() >= at - pd.Timedelta(days=2) and obs["ts"].max() <= at + pd.Timedelta(
        days=2
    )
    point = obs[obs["ts"] == at].iloc[0]
    assert point["alert"] == 1 and point["value"] > point["high"]
    assert list(found.decomposition.columns) == ["ts", "trend", "seasonal", "resid"]
    assert len(found.decomposition) == len(obs)
    # STL adds up: trend + seasonal + residual is the value.
    joined = obs.merge(found.decomposition, on="ts")
    np.testing.assert_allclose(
        joined["trend"] + joined["seasonal"] + joined["resid"], joined["value"], rtol=1e-6
    )
    assert list(found.contributions.columns) == ["feature", "value", "typical", "z"]
    assert len(found.contributions) > 0
    assert found.contributions["z"].abs().is_monotonic_decreasing
    assert spike["series_id"] in found.summary()
    svgs = {name: chart_to_svg(chart) for name, chart in found.charts().items()}
    assert set(svgs) == {"series", "decomposition"}
    assert all(svg.lstrip().startswith("<svg") for svg in svgs.values())
    assert json.loads(json.dumps(found.to_dict()))["series_id"] == spike["series_id"]


def test_investigate_names_the_series_that_moved_with_it(store, metrics):
    frame = load_observations(store, series="host_00.cpu")
    rng = np.random.default_rng(0)
    twin = frame.assign(
        series_id="twin.cpu", value=frame["value"] * 2 + rng.normal(0, 0.1, len(frame))
    )
    ingest(store, twin, table="observations")
    found = investigate(store, "host_00.cpu", around="2026-01-10", neighbours=3)
    assert list(found.neighbours.columns) == ["series_id", "correlation", "points"]
    assert len(found.neighbours) == 3
    assert found.neighbours["series_id"].iloc[0] == "twin.cpu"
    assert found.neighbours["correlation"].iloc[0] > 0.95
    assert found.neighbours["correlation"].iloc[1] < 0.9


def test_similar_incidents_come_from_past_alerts_and_labels_nearest_first(store, metrics):
    ingest(store, metrics.tables["labels"], table="labels")
    scan(store, "seasonal", since="2026-01-03", until="2026-01-15", threshold="2/1d")
    spike = _spike(metrics, after="2026-01-06")
    found = investigate(store, spike["series_id"], around=spike["start"], incidents=4)
    similar = found.similar_incidents
    assert list(similar.columns) == ["series_id", "start", "end", "distance", "label", "source"]
    assert len(similar) == 4
    assert similar["distance"].is_monotonic_increasing
    at = _naive(spike["start"])
    itself = (similar["series_id"] == spike["series_id"]) & (similar["start"] == at)
    assert not itself.any()
    assert set(similar["source"]) <= {"alert", "label", "alert+label"}
    # The nearest shapes of a spike are mostly other labelled anomalies.
    assert (similar["label"] == 1).sum() >= 2


def test_investigate_refuses_an_unknown_series_or_an_empty_window(store):
    with pytest.raises(InvalidArgument, match=r"did you mean host_00\.requests"):
        investigate(store, "host_00.request")
    with pytest.raises(InvalidArgument, match="Choose --around inside"):
        investigate(store, "host_00.cpu", around="2027-01-01", window="1d")


# --- charts -----------------------------------------------------------------------------


def test_the_alert_charts_render_offline(store):
    report = scan(store, "seasonal", since="2026-01-05", until="2026-01-15")
    overview = chart_to_svg(plot_alerts_overview(report.alerts))
    assert overview.lstrip().startswith("<svg")
    assert f"{len(report.alerts)} alerts in" in overview
    empty = chart_to_svg(plot_alerts_overview(report.alerts.iloc[0:0]))
    assert "No alerts" in empty
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2026-01-01", periods=30, freq="h"),
            "value": np.arange(30.0),
            "expected": np.arange(30.0),
            "low": np.arange(30.0) - 2,
            "high": np.arange(30.0) + 2,
            "alert": [0] * 29 + [1],
        }
    )
    band = chart_to_svg(plot_series_band(frame, title="a series"))
    assert "a series" in band
    parts = pd.DataFrame({"ts": frame["ts"], "trend": 1.0, "seasonal": 0.0, "resid": 0.0})
    assert chart_to_svg(plot_decomposition(parts)).lstrip().startswith("<svg")
    with pytest.raises(InvalidArgument, match="lacks the columns low, high"):
        plot_series_band(frame.drop(columns=["low", "high"]))


# --- detector_quality --------------------------------------------------------------------


def test_detector_quality_grades_by_default_the_labelled_points_that_have_history(store, metrics):
    from workbench.anomaly import detector_quality

    ingest(store, metrics.tables["labels"], table="labels")
    quality = detector_quality(store, history="3d").set_index("detector")
    labels = metrics.tables["labels"].to_pandas()
    first = pd.Timestamp("2026-01-01") + pd.Timedelta(days=3)
    graded = labels[labels["ts"].map(_naive) >= first]
    # Only the labels after the first three days are graded, and every one of them is
    # scored: a window without history would leave all of them unscored (a flat 0.5).
    assert (quality["labelled_points"] == len(graded)).all()
    assert quality.loc["window_iforest", "not_scored"] == 0
    assert quality.loc["window_iforest", "pr_auc_score"] > graded["label"].mean() + 0.2
    assert quality.loc["window_iforest", "event_recall_score"] > 0


def test_detector_quality_says_when_no_label_has_the_history_asked_for(store, metrics):
    from workbench.anomaly import detector_quality

    ingest(store, metrics.tables["labels"], table="labels")
    with pytest.raises(InvalidArgument, match="No labelled point has history='30d'"):
        detector_quality(store, history="30d")


def test_alerts_group_into_incidents_one_row_per_run_of_alerted_points():
    import pandas as pd

    from workbench.anomaly import ScanReport

    stamps = pd.date_range("2026-01-01", periods=12, freq="h")
    alert = [0, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0]  # one run (bridging one calm point), one lone
    frame = pd.DataFrame(
        {
            "ts": stamps,
            "value": range(12),
            "score": [0, 5, 9, 0, 4, 0, 0, 0, 6, 0, 0, 0],
            "expected": 0.0,
            "low": -1.0,
            "high": 1.0,
            "alert": alert,
            "reason": [f"point {n}" for n in range(12)],
        }
    )
    report = ScanReport(
        scan_id="s",
        detector="gaussian",
        detector_reason="asked",
        since=stamps[0],
        until=stamps[-1],
        series_total=1,
        series_scanned=1,
        series_skipped=[],
        points=12,
        not_scored=0,
        alerts=pd.DataFrame({"series_id": ["cpu"] * 4}),
        status="complete",
        flagged={"cpu": frame},
    )
    found = report.incidents()
    assert found["alerts"].tolist() == [3, 1]
    first = found.iloc[0]
    assert (first["start"], first["end"], first["peak_ts"]) == (stamps[1], stamps[4], stamps[2])
    assert first["reason"] == "point 2" and first["series_id"] == "cpu"
    assert len(report.incidents(bridge=0)) == 3
    assert "2 incident(s) (4 alerted points) on 1 of 1 series" in report.headline().text
