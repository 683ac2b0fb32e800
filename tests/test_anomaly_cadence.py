"""Detector defaults that fit each series' cadence: hourly, daily and weekly series alike."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from workbench.anomaly.detectors import DETECTORS, make_detector
from workbench.anomaly.detectors.cadence import default_history, infer_cadence
from workbench.anomaly.thresholds import AlertBudget, parse_threshold
from workbench.capture import ingest
from workbench.exceptions import InvalidArgument

# (pandas frequency, points, points per cycle): three cycles of history before the last
# one for hourly and daily series; three years of a weekly one.
CADENCES = {"hourly": ("h", 96, 24), "daily": ("D", 42, 7), "weekly": ("7D", 156, 52)}
SPIKE_AT = -3  # the planted anomaly: three points before the end


def _series(freq: str, points: int, per_cycle: int, spikes=(SPIKE_AT,)) -> pd.DataFrame:
    """Seasonal counts with noise and planted spikes."""
    rng = np.random.default_rng(0)
    phase = np.arange(points) % per_cycle
    level = 20 + 8 * np.sin(2 * np.pi * phase / per_cycle)
    values = rng.poisson(level).astype(float)
    values[list(spikes)] += 40
    ts = pd.date_range("2026-01-05", periods=points, freq=freq)
    return pd.DataFrame({"series_id": "s", "ts": ts, "value": values})


def test_the_cadence_is_read_from_the_timestamps():
    weekly = infer_cadence(pd.date_range("2026-01-05", periods=60, freq="7D"))
    assert weekly.step == dt.timedelta(weeks=1) and weekly.cycle == dt.timedelta(weeks=52)
    assert weekly.describe() == "weekly (yearly cycle of 52 points)"
    assert infer_cadence(pd.date_range("2026-01-01", periods=60, freq="D")).cycle == (
        dt.timedelta(days=7)
    )
    assert infer_cadence(pd.date_range("2026-01-01", periods=60, freq="min")).cycle == (
        dt.timedelta(days=1)
    )
    # A day of seconds is too long a cycle to decompose; a single point has no spacing.
    assert infer_cadence(pd.date_range("2026-01-01", periods=60, freq="s")).cycle is None
    lone = infer_cadence(pd.to_datetime(["2026-01-01"]))
    assert lone.step is None and "too few" in lone.describe()
    gappy = pd.date_range("2026-01-01", periods=48, freq="h").delete(range(10, 20))
    assert infer_cadence(gappy).gaps == 1 and "1 gap(s)" in infer_cadence(gappy).describe()


def test_a_scan_reads_history_in_the_series_own_cadence():
    hourly, weekly = (
        infer_cadence(pd.date_range("2026-01-01", periods=100, freq=f)) for f in ("h", "7D")
    )
    assert default_history(hourly) == dt.timedelta(days=14)
    assert default_history(weekly) == dt.timedelta(weeks=156)


@pytest.mark.parametrize("cadence", CADENCES)
@pytest.mark.parametrize("name", [n for n, c in DETECTORS.items() if c.kind == "series"])
def test_every_series_detector_scores_every_cadence_with_its_defaults(name, cadence):
    freq, points, per_cycle = CADENCES[cadence]
    frame = _series(freq, points, per_cycle)
    labels = None
    if getattr(DETECTORS[name], "needs_labels", False):
        # Labelled spikes to learn from, over twice the history; the newest one unlabelled.
        points *= 2
        learnt = [-points + per_cycle * k for k in (2, 3, 4)] + [-30, -20]
        frame = _series(freq, points, per_cycle, spikes=[*learnt, SPIKE_AT])
        labels = np.zeros(points)
        labels[learnt] = 1
        labels[SPIKE_AT] = np.nan
    detector = make_detector(name).fit(frame, labels)
    scores = detector.score(frame)
    # The last cycle is scored, and the spike stands out in it.
    last_cycle = scores[-per_cycle:]
    assert not np.isnan(last_cycle).any(), detector.explain(frame)["reason"].iloc[-per_cycle]
    assert scores[SPIKE_AT] == np.nanmax(last_cycle)  # (a learnt spike in it may tie)
    if labels is None:
        assert detector.predict(frame)[SPIKE_AT] == 1
    else:
        # The budget allows fewer alerts than there are spikes, which tie: the model's
        # own verdict is the probability.
        assert scores[SPIKE_AT] > 0.5


def test_a_young_weekly_series_is_judged_against_its_level_after_30_points():
    frame = _series("7D", 60, 52)
    explained = make_detector("seasonal").fit(frame).explain(frame)
    assert explained["score"].iloc[:30].isna().all()
    assert explained["score"].iloc[30:].notna().all()
    assert "or 30 points for a level" in explained["reason"].iloc[0]


@pytest.mark.parametrize("name", [n for n, c in DETECTORS.items() if c.kind == "series"])
@pytest.mark.parametrize("cadence", ["hourly", "daily"])
def test_a_series_of_two_cycles_is_scored_with_the_defaults(name, cadence):
    # Two days of an hourly series, two weeks of a daily one: too young for the
    # seasonal decomposition, old enough to be judged.
    freq, _, per_cycle = CADENCES[cadence]
    frame = _series(freq, 2 * per_cycle + 6, per_cycle)
    labels, params = None, {}
    if getattr(DETECTORS[name], "needs_labels", False):
        # So short a series holds few labels: two are enough for this check.
        learnt = [len(frame) - 6, len(frame) - 8]
        labels = np.zeros(len(frame))
        labels[learnt] = 1
        frame.loc[learnt, "value"] += 40
        params = {"min_labels": 2}
    detector = make_detector(name, **params).fit(frame, labels)
    explained = detector.explain(frame)
    scored = explained["score"].notna()
    assert scored.iloc[-6:].all(), explained["reason"].iloc[-1]
    assert explained["score"].iloc[SPIKE_AT] == explained["score"][scored].max()


def test_a_young_hourly_series_waits_for_30_points_and_says_so():
    frame = _series("h", 40, 24)
    explained = make_detector("seasonal").fit(frame).explain(frame)
    assert explained["score"].iloc[:30].isna().all()
    assert explained["score"].iloc[30:].notna().all()
    assert "needs 3 periods of 1d, or 30 points for a level" in explained["reason"].iloc[0]
    # Once three days are in, the daily cycle is followed and the first three days wait.
    older = make_detector("seasonal").fit(_series("h", 96, 24)).explain(_series("h", 96, 24))
    assert older["score"].iloc[:72].isna().all() and older["score"].iloc[72:].notna().all()


def test_the_default_budget_allows_a_weekly_series_an_alert_per_24_points():
    weekly = _series("7D", 156, 52)
    hourly = _series("h", 72, 24)  # three days
    default = parse_threshold("1/1d or 24 points")
    assert default == AlertBudget(1, "1d", points=24)
    # An hourly series: one a day, as "1/1d"; a weekly one: one per 24 weeks, not per day.
    assert default.allowed(hourly) == AlertBudget(1, "1d").allowed(hourly) == 3
    assert default.allowed(weekly) == round(156 / 24)
    assert AlertBudget(1, "1d").allowed(weekly) == 156 * 7
    detector = make_detector("gaussian").fit(weekly)
    assert detector.predict(weekly).sum() <= round(156 / 24)
    with pytest.raises(InvalidArgument, match="points must be a whole number"):
        AlertBudget(1, "1d", points=-1)


def test_a_scan_of_weekly_counts_with_the_defaults_scores_the_newest_week(file_store):
    ingest(file_store, _series("7D", 156, 52), table="observations")
    from workbench.anomaly import scan

    report = scan(file_store, "seasonal", since="70d")
    # Ten weeks scanned, three years of history before them: every week scored, the
    # planted spike alerted, and about as many alerts as one per 24 weeks allows.
    assert report.points == 10 and report.not_scored == 0
    spike = pd.Timestamp("2026-01-05") + pd.Timedelta(weeks=156 + SPIKE_AT)
    assert spike in set(report.alerts["ts"]) and len(report.alerts) <= 10 / 24 + 1
    # The summary measures the alerts in each series' own budget period (24 weeks here).
    rate = len(report.alerts) / (10 / 24)
    assert f"{rate:.2g} per series per budget period; budget 1/1d or 24 points" in (
        report.summary()
    )


def test_the_budget_is_spent_over_the_scored_days_not_the_warm_up():
    # Five hourly days: the seasonal baseline scores the last two (three cycles first).
    frame = _series("h", 120, 24, spikes=())
    detector = make_detector("seasonal").fit(frame)
    scored = ~np.isnan(detector.score(frame))
    assert scored.sum() == 48
    # One alert a day over the two scored days, not five (the warm-up's share).
    assert detector.predict(frame).sum() == 2


def test_auto_chooses_per_series_by_its_values_and_says_why(file_store):
    import json

    from workbench.anomaly import scan

    rng = np.random.default_rng(1)
    hours = pd.date_range("2026-01-01", periods=24 * 20, freq="h")
    errors = rng.poisson(0.8, hours.size).astype(float)
    errors[-5] = 9  # a burst of errors: rare at a rate below one an hour
    latency = 100 + 10 * np.sin(2 * np.pi * np.arange(hours.size) / 24) + rng.normal(0, 1, 480)
    latency[-3] += 25
    ingest(
        file_store,
        pd.concat(
            [
                pd.DataFrame({"series_id": "api.errors", "ts": hours, "value": errors}),
                pd.DataFrame({"series_id": "api.latency_ms", "ts": hours, "value": latency}),
            ]
        ),
        table="observations",
    )
    report = scan(file_store)  # detector="auto", the default
    assert report.detector == "auto"
    assert "counts for 1 series, seasonal for 1 series" in report.detector_reason
    params = json.loads(
        file_store.sql("SELECT params FROM scans WHERE scan_id = ?", [report.scan_id]).to_pylist()[
            0
        ]["params"]
    )
    assert params["detectors"]["api.errors"].startswith("counts: small counts")
    assert report.detectors == params["detectors"] == report.to_dict()["detectors"]
    assert params["detectors"]["api.latency_ms"] == (
        "seasonal: measurements, hourly (daily cycle of 24 points)"
    )
    # Each alert names the detector its series got; both planted points alerted.
    alerted = dict(zip(report.alerts["series_id"], report.alerts["detector"], strict=False))
    assert alerted == {"api.errors": "counts", "api.latency_ms": "seasonal"}
    assert hours[-5] in set(report.alerts["ts"]) and hours[-3] in set(report.alerts["ts"])
    # A rescan of the window replaces its alerts rather than adding to them.
    again = scan(file_store)
    stored = file_store.sql("SELECT count(*) AS n FROM alerts").to_pylist()[0]["n"]
    assert stored == len(again.alerts) == len(report.alerts)


def test_a_count_band_stops_at_zero_and_reads_in_whole_numbers():
    rng = np.random.default_rng(0)
    ts = pd.date_range("2026-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"series_id": "s", "ts": ts, "value": rng.poisson(2, 200).astype(float)})
    explained = make_detector("counts").fit(frame).explain(frame)
    assert explained["low"].min() == 0.0
    whole = explained.loc[explained["score"].notna()].iloc[-1]
    assert f"value {whole['reason'].split()[1]}" == f"value {int(frame['value'].iloc[-1])}"


def test_a_budget_of_none_never_alerts_not_even_on_a_tie():
    # Every scored point ties: "0/1d" must still mean no alert at all.
    frame = _series("h", 96, 24)
    frame["value"] = 5.0
    frame.loc[frame.index[-1], "value"] = 50.0
    for name in ("gaussian", "counts", "seasonal"):
        detector = make_detector(name, threshold="0/1d").fit(frame)
        assert detector.predict(frame).sum() == 0
        assert "the alert budget allows no alerts" in detector.explain(frame)["reason"].iloc[-1]
