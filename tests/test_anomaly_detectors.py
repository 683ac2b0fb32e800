"""Anomaly detectors and thresholds: the estimator contract, causality, budgets, bad input."""

from __future__ import annotations

import datetime as dt
import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from workbench.anomaly.detectors import (
    DETECTORS,
    GaussianDetector,
    SeasonalDetector,
    make_detector,
    window_features,
)
from workbench.anomaly.thresholds import AlertBudget, FalseAlarmRate, parse_threshold
from workbench.datasets import make_metrics
from workbench.exceptions import InvalidArgument, WorkbenchError

SERIES = [name for name, cls in DETECTORS.items() if cls.kind == "series"]
UNSUPERVISED_SERIES = [name for name in SERIES if name != "supervised"]
TABULAR = [name for name, cls in DETECTORS.items() if cls.kind == "tabular"]


def truth_labels(metrics, observations: pd.DataFrame) -> np.ndarray:
    """1 for every planted anomalous point, 0 for every other point."""
    labels = np.zeros(len(observations))
    ts = observations["ts"].dt.tz_localize(None) if observations["ts"].dt.tz else observations["ts"]
    for episode in metrics.truth["anomalies"]:
        start = pd.Timestamp(episode["start"]).tz_localize(None)
        end = pd.Timestamp(episode["end"]).tz_localize(None)
        inside = (observations["series_id"] == episode["series_id"]) & ts.between(start, end)
        labels[inside.to_numpy()] = 1
    return labels


@pytest.fixture(scope="module")
def metrics():
    return make_metrics(series=12, days=14, seed=2, anomaly_rate=0.03)


@pytest.fixture(scope="module")
def observations(metrics) -> pd.DataFrame:
    return metrics.tables["observations"].to_pandas()


@pytest.fixture(scope="module")
def labels(metrics, observations) -> np.ndarray:
    return truth_labels(metrics, observations)


def as_input(name: str, observations: pd.DataFrame) -> pd.DataFrame:
    """The observations as the detector takes them: the counts detector reads counts."""
    if name != "counts":
        return observations
    return observations.assign(value=observations["value"].round().clip(lower=0))


def fitted(name: str, observations: pd.DataFrame, labels: np.ndarray):
    detector = make_detector(name)
    return detector.fit(as_input(name, observations), labels if name == "supervised" else None)


# --- thresholds ------------------------------------------------------------------------


def test_alert_budget_gives_about_the_budgeted_alerts_on_clean_data():
    clean = make_metrics(series=6, days=14, seed=5, anomaly_rate=0.0)
    points = clean.tables["observations"].to_pandas()
    # The seasonal baseline scores 11 of the 14 days (three cycles first): the budget is
    # spent over those.
    for budget, periods in (
        (AlertBudget(1, "1d"), 6 * 11),
        (AlertBudget(2, "7d"), round(6 * 2 * 11 / 7)),
    ):
        detector = SeasonalDetector(threshold=budget).fit(points)
        alerts = int(detector.predict(points).sum())
        assert 0.8 * periods <= alerts <= periods


def test_alert_budget_holds_on_new_data_from_the_same_process():
    train = make_metrics(series=6, days=21, seed=6, anomaly_rate=0.0).tables["observations"]
    later = make_metrics(series=6, days=21, seed=7, anomaly_rate=0.0).tables["observations"]
    detector = GaussianDetector(threshold=AlertBudget(2, "1d")).fit(train.to_pandas())
    alerts = int(detector.predict(later.to_pandas()).sum())
    assert 0.5 * 2 * 6 * 21 <= alerts <= 1.5 * 2 * 6 * 21


def test_false_alarm_rate_counts_only_known_normal_points():
    scores = np.r_[np.linspace(0, 1, 1000), np.full(50, 10.0)]
    labels = np.r_[np.zeros(1000), np.ones(50)]
    threshold = FalseAlarmRate(0.01).threshold(scores, None, labels)
    assert (scores[labels == 0] > threshold).mean() <= 0.01
    assert (scores[labels == 1] > threshold).all()
    # Without labels the anomalies themselves use up the rate.
    blind = FalseAlarmRate(0.01).threshold(scores, None)
    assert (scores > blind).sum() <= 10


def test_false_alarm_rate_bounds_false_alarms_of_a_detector(observations, labels):
    detector = SeasonalDetector(threshold=FalseAlarmRate(0.005)).fit(observations, labels)
    flagged = detector.predict(observations)
    scored = ~np.isnan(detector.score(observations))
    normal = (labels == 0) & scored
    assert flagged[normal].mean() <= 0.005
    assert flagged[(labels == 1) & scored].mean() > 20 * 0.005


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2/1d", AlertBudget(2.0, "1d")),
        ("1/7d", AlertBudget(1.0, "7d")),
        ("0.5/12h", AlertBudget(0.5, "12h")),
        ("fpr:0.001", FalseAlarmRate(0.001)),
        ("FPR: 0.01", FalseAlarmRate(0.01)),
    ],
)
def test_parse_threshold_reads_the_text_forms_and_writes_them_back(text, expected):
    parsed = parse_threshold(text)
    assert parsed == expected
    assert parse_threshold(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text", ["", "2", "two/1d", "2/1 fortnight", "fpr:lots", "fpr:1.5", "-1/1d"]
)
def test_parse_threshold_rejects_other_text_with_the_forms_it_takes(text):
    with pytest.raises(InvalidArgument, match=r"fpr|per|rate|alerts"):
        parse_threshold(text)


def test_alert_budget_rejects_a_negative_or_zero_period():
    with pytest.raises(InvalidArgument, match="positive"):
        AlertBudget(1, dt.timedelta(0))
    with pytest.raises(InvalidArgument, match="alerts"):
        AlertBudget(-1, "1d")


def test_threshold_without_any_scored_point_says_to_fit_on_more_history():
    points = pd.DataFrame(
        {"series_id": "a", "ts": pd.date_range("2026-01-01", periods=5, freq="h"), "value": 1.0}
    )
    with pytest.raises(InvalidArgument, match="longer history"):
        SeasonalDetector().fit(points)


# --- the estimator contract ------------------------------------------------------------


@pytest.mark.parametrize("name", list(DETECTORS))
def test_detectors_follow_the_scikit_learn_parameter_contract(name):
    detector = make_detector(name)
    check_no_attributes_set_in_init(name, detector)
    check_get_params_invariance(name, detector)
    check_set_params(name, detector)
    # (sklearn's check_parameters_default_constructible allows only builtin types as
    # defaults; the thresholds are frozen dataclasses, so the same promise is checked here.)
    defaults = inspect.signature(DETECTORS[name]).parameters
    assert {p: v.default for p, v in defaults.items()} == detector.get_params()
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert DETECTORS[name].kind in {"series", "tabular"}


def test_clone_keeps_parameters_and_drops_learned_state(observations):
    detector = SeasonalDetector(history=5, threshold="2/1d").fit(observations)
    copy = clone(detector)
    assert copy.get_params()["history"] == 5
    assert copy.get_params()["threshold"] == "2/1d"
    assert not hasattr(copy, "threshold_")
    with pytest.raises(InvalidArgument, match="not fitted"):
        copy.score(observations)


def test_thresholds_may_be_given_as_text(observations):
    detector = SeasonalDetector(threshold="fpr:0.01").fit(observations)
    scores = detector.score(observations)
    assert (scores[~np.isnan(scores)] > detector.threshold_).mean() <= 0.01
    with pytest.raises(InvalidArgument, match="ALERTS/PERIOD"):
        SeasonalDetector(threshold="often").fit(observations)


def test_default_thresholds_are_a_daily_or_24_point_budget_for_series_and_a_rate_for_tables():
    assert SeasonalDetector().threshold == AlertBudget(1, "1d", points=24)
    assert str(SeasonalDetector().threshold) == "1/1d or 24 points"
    assert make_detector("iforest").threshold == FalseAlarmRate(0.01)


# --- series detectors: behaviour a person relies on -------------------------------------


@pytest.mark.parametrize("name", SERIES)
def test_scores_are_causal_a_prefix_scores_the_same_after_more_points_arrive(
    name, observations, labels
):
    observations = as_input(name, observations)
    detector = fitted(name, observations, labels)
    cut = observations["ts"].sort_values().iloc[len(observations) * 2 // 3]
    prefix = observations[observations["ts"] < cut]
    full = detector.score(observations)[observations["ts"].to_numpy() < cut]
    np.testing.assert_allclose(detector.score(prefix), full, rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("name", SERIES)
def test_results_come_back_in_the_callers_row_order(name, observations, labels):
    observations = as_input(name, observations)
    detector = fitted(name, observations, labels)
    shuffled = observations.sample(frac=1.0, random_state=0)
    expected = pd.Series(detector.score(observations), index=observations.index)
    np.testing.assert_allclose(
        detector.score(shuffled), expected.loc[shuffled.index].to_numpy(), equal_nan=True
    )


@pytest.mark.parametrize("name", UNSUPERVISED_SERIES)
def test_planted_spikes_score_far_above_normal_points(name, metrics, observations, labels):
    observations = as_input(name, observations)
    detector = fitted(name, observations, labels)
    scores = detector.score(observations)
    ts = observations["ts"].dt.tz_localize(None)
    spikes = [
        (
            (observations["series_id"] == e["series_id"])
            & (ts == pd.Timestamp(e["start"]).tz_localize(None))
        ).to_numpy()
        for e in metrics.truth["anomalies"]
        if e["kind"] == "spike"
    ]
    spike_scores = np.array([scores[mask][0] for mask in spikes])
    spike_scores = spike_scores[~np.isnan(spike_scores)]
    normal = scores[(labels == 0) & ~np.isnan(scores)]
    assert spike_scores.size >= 5
    assert np.median(spike_scores) > np.quantile(normal, 0.99)


@pytest.mark.parametrize("name", [name for name in SERIES if name != "counts"])
def test_warm_up_points_are_reported_not_dropped(name, observations, labels):
    observations = as_input(name, observations)
    detector = fitted(name, observations, labels)
    scores = detector.score(observations)
    explained = detector.explain(observations)
    assert len(scores) == len(explained) == len(observations)
    warm = np.isnan(scores)
    assert warm.sum() == detector.n_warmup_ > 0
    assert explained.loc[warm, "reason"].str.startswith("not scored").all()
    assert (detector.predict(observations)[warm] == 0).all()
    first = observations["ts"] == observations["ts"].min()
    assert warm[first.to_numpy()].all()


def test_counts_judges_a_series_first_points_against_the_points_after_them():
    rng = np.random.default_rng(7)
    values = rng.poisson(2, 120).astype(float)
    values[3:6] = [14, 17, 12]  # an outbreak in the first weeks of the history
    points = pd.DataFrame(
        {
            "series_id": "cases",
            "ts": pd.date_range("2001-01-01", periods=120, freq="W-MON", tz="UTC"),
            "value": values,
        }
    )
    detector = make_detector("counts", threshold="fpr:0.05").fit(points)
    explained = detector.explain(points)
    # Every point is scored, the first ones against the weeks after them, and said so.
    assert detector.n_warmup_ == 0 and explained["score"].notna().all()
    assert explained["reason"].iloc[3].startswith("value 14 is")
    assert "above the rate after it" in explained["reason"].iloc[3]
    assert "the trailing rate" in explained["reason"].iloc[-1]
    assert detector.predict(points)[3:6].tolist() == [1, 1, 1]
    # Those first scores settle once the year after them has passed; the rest never move.
    assert np.allclose(detector.score(points.iloc[:100]), detector.score(points)[:100])
    # A series too short for any baseline is reported, not guessed at.
    short = detector.explain(points.iloc[:8])
    assert short["reason"].str.startswith("not scored: only").all()


def test_counts_guard_keeps_an_outbreak_out_of_its_own_baseline():
    values = np.r_[np.tile([1.0, 2.0, 1.0, 0.0, 3.0, 1.0], 10), [9, 12, 14, 15, 15, 16]]
    points = pd.DataFrame(
        {
            "series_id": "cases",
            "ts": pd.date_range("2001-01-01", periods=values.size, freq="W-MON", tz="UTC"),
            "value": values,
        }
    )
    guarded = make_detector("counts").fit(points).explain(points)
    unguarded = make_detector("counts", guard=0).fit(points).explain(points)
    # The outbreak's fifth week is judged against the weeks before the outbreak began
    # (a guard of a month of a weekly series), not against its own first weeks.
    assert guarded["expected"].iloc[-2] == pytest.approx(values[:-6].mean(), rel=0.05)
    assert unguarded["expected"].iloc[-2] > 1.5 * guarded["expected"].iloc[-2]
    assert guarded["score"].iloc[-3:].min() > unguarded["score"].iloc[-3:].max()


@pytest.mark.parametrize("name", ["gaussian", "seasonal"])
def test_the_band_holds_exactly_the_values_that_do_not_alert(name, observations):
    detector = make_detector(name).fit(observations)
    explained = detector.explain(observations)
    flagged = detector.predict(observations) == 1
    value = observations["value"].to_numpy()
    inside = (value >= explained["low"]) & (value <= explained["high"])
    scored = explained["score"].notna().to_numpy()
    assert flagged.sum() > 0
    assert not inside[flagged].any()
    assert inside[scored & ~flagged].all()
    reason = explained.loc[flagged, "reason"].iloc[0]
    assert "SDs" in reason and "band" in reason and "over the threshold" in reason


def quiet_then_surge(seed: int, *, surge_hours: int = 6) -> pd.DataFrame:
    """Hourly counts of a rare event (about 0.3 an hour) for three days, then 20 times as many."""
    rng = np.random.default_rng(seed)
    values = np.r_[rng.poisson(0.3, 72), rng.poisson(6.0, surge_hours)]
    return pd.DataFrame(
        {
            "series_id": "fallbacks",
            "ts": pd.date_range("2026-01-01", periods=values.size, freq="h", tz="UTC"),
            "value": values.astype(float),
        }
    )


@pytest.mark.parametrize("seed", range(5))
def test_counts_flags_a_surge_of_a_rare_event_and_not_its_lone_occurrences(seed):
    points = quiet_then_surge(seed)
    quiet = points.iloc[:72]
    detector = make_detector("counts", threshold="fpr:0.001").fit(quiet)
    # Scored against the history before it, as a scan does.
    assert detector.predict(points)[72:].sum() >= 1
    # A fresh quiet day from the same process raises nothing.
    later = quiet_then_surge(seed + 100, surge_hours=0).iloc[:24]
    later = later.assign(ts=later["ts"] + pd.Timedelta(days=3))
    assert detector.predict(pd.concat([quiet, later]))[72:].sum() <= 1


def test_counts_explains_with_the_trailing_rate_and_a_zero_scores_nothing():
    points = quiet_then_surge(0)
    detector = make_detector("counts", window="1d").fit(points.iloc[:72])
    explained = detector.explain(points)
    scored = explained["score"].notna().to_numpy()
    assert np.allclose(explained.loc[scored & (points["value"] == 0).to_numpy(), "score"], 0.0)
    last = explained.iloc[-1]
    assert 0 < last["expected"] < points["value"].iloc[-1]
    assert "the trailing rate" in last["reason"] or "not" in last["reason"]


def test_counts_refuses_values_that_are_not_counts_and_names_the_detector_for_them(
    observations,
):
    with pytest.raises(InvalidArgument, match=r"whole numbers.*use 'gaussian'") as refused:
        make_detector("counts").fit(observations)
    assert "\n" not in str(refused.value)


def test_window_iforest_names_the_features_that_deviate(observations):
    detector = make_detector("window_iforest").fit(observations)
    explained = detector.explain(observations)
    top = explained.loc[explained["score"].idxmax(), "reason"]
    assert "above the alert threshold" in top and "most unusual:" in top
    # In words, not column names: "3.0 SDs above its value one day earlier".
    assert "SDs" in top and not any(jargon in top for jargon in ("_z", "z_", "_score", "_1d"))


def test_the_supervised_detector_gives_its_reasons_as_a_chance_and_in_words(observations, labels):
    detector = make_detector("supervised").fit(observations, labels)
    explained = detector.explain(observations)
    top = explained.loc[explained["score"].idxmax(), "reason"]
    assert "chance of being an anomaly" in top and "it alerts above 50%" in top
    assert not any(jargon in top for jargon in ("_z", "z_", "_score", "_1d")), top


def test_supervised_needs_labels_of_both_classes_and_says_how_many(observations, labels):
    with pytest.raises(InvalidArgument, match=r"at least 5 labelled anomalous .* got 0"):
        make_detector("supervised").fit(observations)
    only_normal = np.where(labels == 1, np.nan, labels)
    with pytest.raises(InvalidArgument, match="got 0 anomalous"):
        make_detector("supervised").fit(observations, only_normal)


def test_supervised_learns_from_other_series_and_ranks_anomalies_first(labels):
    train = make_metrics(series=8, days=14, seed=11, anomaly_rate=0.02)
    test = make_metrics(series=8, days=14, seed=12, anomaly_rate=0.02)
    train_points = train.tables["observations"].to_pandas()
    test_points = test.tables["observations"].to_pandas()
    detector = make_detector("supervised").fit(train_points, truth_labels(train, train_points))
    scores = detector.score(test_points)
    truth = truth_labels(test, test_points)
    scored = ~np.isnan(scores)
    assert scores[scored & (truth == 1)].mean() > 5 * scores[scored & (truth == 0)].mean()


def test_a_generous_budget_never_makes_the_supervised_detector_alert_on_likely_normal_points():
    data = make_metrics(series=4, days=14, seed=3, anomaly_rate=0.01)
    points = data.tables["observations"].to_pandas()
    # Ten alerts per series per day, far more than there are anomalies: the budget alone
    # would reach down to points the model scores near zero.
    detector = make_detector("supervised", threshold="10/1d")
    detector.fit(points, truth_labels(data, points))
    assert detector.threshold_ >= 0.5
    flagged = detector.predict(points) == 1
    assert (detector.score(points)[flagged] > 0.5).all()
    assert flagged.sum() < 10 * 4 * 14


def test_series_without_two_points_per_period_get_a_robust_level():
    rng = np.random.default_rng(0)
    values = rng.normal(100, 1, 60)
    values[-1] = 130
    points = pd.DataFrame(
        {
            "series_id": "daily",
            "ts": pd.date_range("2026-01-01", periods=60, freq="D"),
            "value": values,
        }
    )
    detector = SeasonalDetector(period="1d").fit(points)
    scores = detector.score(points)
    assert np.nanargmax(scores) == 59
    assert detector.explain(points)["expected"].iloc[-1] == pytest.approx(100, abs=1)


def test_window_features_see_only_the_past(observations):
    features = window_features(observations)
    cut = observations["ts"].sort_values().iloc[len(observations) // 2]
    early = observations["ts"] < cut
    np.testing.assert_allclose(
        window_features(observations[early]).to_numpy(),
        features[early.to_numpy()].to_numpy(),
        equal_nan=True,
    )
    assert {"z_1d", "z_7d", "count_7d", "step_z", "lag_1d_z"} <= set(features.columns)


# --- bad input --------------------------------------------------------------------------


def _points(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "series_id": "a",
            "ts": pd.date_range("2026-01-01", periods=100, freq="h"),
            "value": np.arange(100.0),
        }
    )
    return frame.assign(**changes)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_points().drop(columns="value"), "lacks the column"),
        (_points(value=["x"] * 100), "must be numeric"),
        (_points().iloc[:0], "no rows"),
        (_points(value=np.r_[np.nan, np.arange(99.0)]), "missing or infinite"),
        (_points(ts=["2026-01-01"] * 100), "datetime"),
        (pd.concat([_points(), _points()]), "repeated"),
        ("observations.csv", "DataFrame"),
    ],
)
@pytest.mark.parametrize("name", ["gaussian", "seasonal", "window_iforest"])
def test_bad_observations_get_a_clear_error(name, frame, message):
    with pytest.raises(InvalidArgument, match=message):
        make_detector(name).fit(frame)


def test_unknown_detector_lists_the_names():
    with pytest.raises(InvalidArgument, match=r"Did you mean 'seasonal'.*gaussian") as error:
        make_detector("seasonl")
    assert isinstance(error.value, WorkbenchError)
    with pytest.raises(InvalidArgument, match="no parameter windw"):
        make_detector("gaussian", windw="1d")


@pytest.mark.parametrize(
    ("params", "message"),
    [({"window": "soon"}, "window"), ({"min_points": 1}, "min_points")],
)
def test_bad_parameters_are_reported_at_fit(params, message):
    with pytest.raises(InvalidArgument, match=message):
        GaussianDetector(**params).fit(_points())


# --- tabular detectors ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(400, 4)), columns=["amount", "items", "age", "hour"])
    frame.loc[:9, "amount"] = np.linspace(10.0, 30.0, 10)  # ten cases with an absurd amount
    truth = np.r_[np.ones(10), np.zeros(390)]
    return frame, truth


@pytest.mark.parametrize("name", ["iforest", "lof"])
def test_tabular_detectors_rank_planted_outliers_first_and_name_the_feature(name, cases):
    frame, truth = cases
    train, test = frame.iloc[::2], frame.iloc[1::2]
    detector = make_detector(name).fit(train)
    scores = detector.score(test)
    ranked = np.argsort(-scores)
    # Every planted case is in the top 5% of 200, the most anomalous one first.
    assert truth[1::2][ranked[:10]].sum() == truth[1::2].sum() == 5
    top = ranked[:1]
    explained = detector.explain(test)
    assert explained.loc[top[0], "contributions"].startswith("amount +")
    assert (detector.predict(train) == 1).mean() <= 0.05


def test_tabular_supervised_needs_both_classes_and_learns_them(cases):
    from sklearn.metrics import roc_auc_score

    frame, _ = cases
    with pytest.raises(InvalidArgument, match="got 0 anomalous and 0 normal"):
        make_detector("tabular_supervised").fit(frame)
    # Fraud that a person recognizes only in combination: many items at an odd hour.
    truth = ((frame["items"] > 0.8) & (frame["hour"] > 0.8)).to_numpy(dtype=float)
    detector = make_detector("tabular_supervised").fit(frame.iloc[::2], truth[::2])
    assert detector.n_labels_["anomalous"] >= 5
    assert roc_auc_score(truth[1::2], detector.score(frame.iloc[1::2])) > 0.95


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"a": ["x", "y"]}), "non-numeric"),
        (pd.DataFrame({"a": [1.0, np.nan]}), "missing or infinite"),
        (pd.DataFrame(), "no rows"),
    ],
)
@pytest.mark.parametrize("name", TABULAR)
def test_bad_features_get_a_clear_error(name, frame, message):
    with pytest.raises(InvalidArgument, match=message):
        make_detector(name).fit(frame, np.zeros(len(frame)))


def test_tabular_scoring_needs_the_fitted_columns(cases):
    frame, _ = cases
    detector = make_detector("iforest").fit(frame)
    with pytest.raises(InvalidArgument, match="same features"):
        detector.score(frame[["items", "amount", "age", "hour"]])


@pytest.mark.parametrize("name", ["gaussian", "counts"])
@pytest.mark.parametrize(("freq", "periods"), [("h", 24 * 14), ("D", 120), ("W", 80)])
def test_the_default_window_fits_hourly_daily_and_weekly_series(name, freq, periods):
    rng = np.random.default_rng(3)
    values = rng.poisson(20, periods).astype(float)
    values[-1] = 80.0  # a surge on the last point
    points = pd.DataFrame(
        {
            "series_id": "orders",
            "ts": pd.date_range("2024-01-01", periods=periods, freq=freq, tz="UTC"),
            "value": values,
        }
    )
    detector = make_detector(name, threshold="fpr:0.01").fit(points.iloc[:-1])
    scores = detector.score(points)
    # With 30 points of history every later point is scored, whatever the cadence.
    assert np.isfinite(scores[30:]).all()
    assert detector.predict(points)[-1] == 1


def test_a_given_window_is_the_same_for_every_series():
    import datetime

    from workbench.anomaly.detectors._frames import series_windows

    daily = pd.DataFrame(
        {
            "series_id": ["a"] * 3 + ["b"] * 3,
            "ts": list(pd.date_range("2024-01-01", periods=3, freq="D"))
            + list(pd.date_range("2024-01-01", periods=3, freq="h")),
            "value": 1.0,
        }
    )
    day = datetime.timedelta(days=1)
    fitted = series_windows(daily, None, least=day, points=24)
    assert fitted == {"a": 24 * day, "b": day}  # 24 daily points; an hourly series keeps a day
    given = series_windows(daily, "6h", least=day, points=24)
    assert set(given.values()) == {datetime.timedelta(hours=6)}
