"""Data health: planted problems are found, clean data passes, statistics match by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench.capture import ingest
from workbench.datasets import make_music
from workbench.exceptions import InvalidArgument, TableNotFound
from workbench.health import (
    HealthThresholds,
    compare_distributions,
    data_health,
    plot_drift,
    plot_volume,
    population_stability_index,
)
from workbench.runs import read_results
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "data_health.ipynb"
# Live data: make_music(days=42) ending yesterday, checked now. The windows are the whole
# days before today: recent the last 7, reference the 28 before them. Today is read when
# this module's tests start (_today), not when the suite is collected: a run that crosses
# midnight between the two would otherwise check yesterday's data as two days old.
AS_OF = START = RECENT_START = pd.Timestamp(0, tz="UTC")


@pytest.fixture(scope="module", autouse=True)
def _today() -> None:
    global AS_OF, START, RECENT_START
    AS_OF = pd.Timestamp.now(tz="UTC").floor("D")  # where the windows end: today's midnight
    START = AS_OF - pd.Timedelta(days=42)
    RECENT_START = AS_OF - pd.Timedelta(days=7)


def now() -> pd.Timestamp:
    """The time a check runs: after the test ingested its batches."""
    return pd.Timestamp.now(tz="UTC")


def day(offset: int) -> str:
    """The date ``offset`` days after the music set's first day, as text."""
    return (START + pd.Timedelta(days=offset)).strftime("%Y-%m-%d")


FEATURES = {"events", "mean_value_like", "mean_value_play", "mean_value_skip"}


@pytest.fixture(scope="module")
def music_events() -> pd.DataFrame:
    events = make_music(users=300, items=200, days=42, seed=7, start=day(0)).tables["events"]
    return events.to_pandas()


def _ingest(store: Store, events: pd.DataFrame, *, name: str = "music-feed") -> Store:
    report = ingest(store, events.reset_index(drop=True), source_name=name)
    assert report.accepted == len(events)
    return store


def _plant_drift(events: pd.DataFrame) -> pd.DataFrame:
    """Plays in the recent window last 1.6 times as long."""
    events = events.copy()
    recent_plays = (events["ts"] >= RECENT_START) & (events["event_type"] == "play")
    events.loc[recent_plays, "value"] *= 1.6
    return events


def test_clean_data_passes_every_check(file_store, music_events):
    report = data_health(_ingest(file_store, music_events), as_of=now())

    assert report.failures == []
    assert report.passed
    headline = report.headline()
    assert headline.status == "ok" and headline.text.startswith("The data is healthy: all")
    assert headline.figures[0].value == 0
    kinds = {name.partition(":")[0] for name in report.checks}
    assert kinds == {"volume", "freshness", "nulls", "quarantine"}
    assert {"volume:synthetic.music", "freshness:synthetic.music", "quarantine:music-feed"} <= set(
        report.checks
    )
    assert set(report.drift) == {f"user_day.{name}" for name in FEATURES}
    assert report.as_of.date() == AS_OF.date()
    assert report.recent == (RECENT_START.tz_localize(None), AS_OF.tz_localize(None))
    plain = json.loads(json.dumps(report.to_dict()))
    assert plain["passed"] is True
    assert len(plain["tables"]["volume"]) == 35  # one source, 28 + 7 days
    assert "**Data health: passed.**" in report.summary()


def test_a_planted_drift_fails_that_feature_only(file_store, music_events):
    report = data_health(_ingest(file_store, _plant_drift(music_events)), as_of=now())

    drifted = report.drift["user_day.mean_value_play"]
    assert drifted["psi"] > 0.2
    assert drifted["ks_pvalue"] < 0.01
    assert not drifted["passed"]
    for name in FEATURES - {"mean_value_play"}:
        assert report.drift[f"user_day.{name}"]["passed"], name
        assert report.drift[f"user_day.{name}"]["psi"] < 0.2
    assert report.failures == ["drift:user_day.mean_value_play"]
    assert "user_day.mean_value_play" in report.summary()
    headline = report.headline()
    assert headline.status == "act" and headline.figures[0].value == 1
    assert "data checks failed: drift of user_day.mean_value_play." in headline.text


def test_a_stale_source_fails_freshness_for_that_source_only(file_store, music_events):
    events = music_events.copy()
    odd_user = events["user_id"].str[-1].astype(int) % 2 == 1
    events["source"] = np.where(odd_user, "app.android", "app.ios")
    stopped = odd_user & (events["ts"] >= AS_OF - pd.Timedelta(days=5))
    report = data_health(_ingest(file_store, events[~stopped]), as_of=now())

    stale = report.checks["freshness:app.android"]
    assert not stale["passed"]
    assert 5 * 24 < stale["value"] < 6 * 24  # its last event came the day before the cut
    assert report.checks["freshness:app.ios"]["passed"]
    assert report.checks["freshness:store"]["passed"]
    failed = {name for name in report.failures if name.startswith("freshness:")}
    assert failed == {"freshness:app.android"}


def test_a_volume_drop_is_flagged_on_its_day(file_store, music_events):
    events = music_events
    on_day = events["ts"].dt.strftime("%Y-%m-%d") == day(39)
    lost = on_day & (np.arange(len(events)) % 5 != 0)  # four in five events of that day
    report = data_health(_ingest(file_store, events[~lost]), as_of=now())

    check = report.checks["volume:synthetic.music"]
    assert not check["passed"]
    assert check["value"] < 0.5
    assert day(39) in check["detail"]
    flagged = report.volume[report.volume["flagged"]]
    assert flagged["day"].dt.strftime("%Y-%m-%d").tolist() == [day(39)]
    chart = plot_volume(report).to_dict()
    assert chart["layer"][2]["mark"]["shape"] == "diamond"


def test_a_quarantine_burst_is_flagged_for_its_source(file_store, music_events):
    _ingest(file_store, music_events)
    bad = pd.DataFrame(
        {
            "event_id": [f"partner-{i}" for i in range(100)],
            "ts": f"{day(41)}T12:00:00Z",
            "user_id": ["" if i < 60 else "user_0001" for i in range(100)],
            "item_id": "track_0001",
            "event_type": "play",
            "value": 100.0,
            "source": "synthetic.music",
        }
    )
    assert ingest(file_store, bad, source_name="partner-feed").quarantined == 60
    report = data_health(file_store, as_of=now())

    burst = report.checks["quarantine:partner-feed"]
    assert not burst["passed"]
    assert burst["value"] == pytest.approx(0.6)
    assert report.checks["quarantine:music-feed"]["passed"]
    assert report.failures == ["quarantine:partner-feed"]


def test_psi_matches_a_hand_computation():
    reference = np.arange(1, 11)  # the median 5.5 splits it in two halves
    recent = [1, 2, 3, 6, 7, 8, 9, 10, 11, 12]  # 30% below, 70% above
    by_hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert population_stability_index(reference, recent, bins=2) == pytest.approx(by_hand)

    # An empty bin counts as a share of 1e-4, so the index stays finite.
    empty_bin = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + (1.0 - 0.5) * math.log(1.0 / 0.5)
    assert population_stability_index(reference, [8, 9, 10], bins=2) == pytest.approx(empty_bin)
    assert population_stability_index(reference, reference) == 0.0


def test_ks_pvalue_and_feature_tables_from_the_store(file_store, music_events):
    _ingest(file_store, music_events)
    rng = np.random.default_rng(3)
    days = pd.date_range(day(7), day(41), freq="D")
    toy = pd.DataFrame(
        {
            "entity_id": np.tile(np.arange(40), len(days)),
            "feature_ts": np.repeat(days, 40),
            "x": rng.normal(size=40 * len(days)),
            "y": rng.normal(size=40 * len(days)),
        }
    )
    recent = toy["feature_ts"] >= RECENT_START.tz_localize(None)
    toy.loc[recent, "x"] += 1.0
    toy.loc[recent & (toy["entity_id"] < 8), "y"] = np.nan  # 20% nulls, none before
    with file_store.transaction() as raw:
        raw.register("toy", toy)
        raw.execute("CREATE TABLE features_toy AS SELECT * FROM toy")
        raw.execute("CREATE TABLE features_legacy AS SELECT entity_id, x FROM toy")
        raw.unregister("toy")

    report = data_health(file_store, as_of=now())  # the store's features_* replace user_day
    assert report.notes == [
        "features_legacy skipped: it needs a feature_ts column and numeric features"
    ]

    assert set(report.drift) == {"features_toy.x", "features_toy.y"}  # entity_id is a key
    expected = stats.ks_2samp(toy.loc[~recent, "x"], toy.loc[recent, "x"])
    drift = report.drift["features_toy.x"]
    assert drift["ks_pvalue"] == pytest.approx(expected.pvalue, rel=1e-5)
    assert drift["ks_statistic"] == pytest.approx(expected.statistic, rel=1e-5)
    assert not drift["passed"]
    assert report.drift["features_toy.y"]["passed"]
    assert report.checks["nulls:features_toy.y"]["value"] == pytest.approx(0.2)
    assert set(report.failures) == {"drift:features_toy.x", "nulls:features_toy.y"}
    direct = compare_distributions(toy.loc[~recent, "x"], toy.loc[recent, "x"])
    assert direct["ks_pvalue"] == expected.pvalue
    assert plot_drift(report).to_dict()["layer"][1]["mark"]["type"] == "rule"

    only_x = file_store.table("features_toy").select("entity_id", "feature_ts", "x")
    named = data_health(file_store, features={"toy": only_x}, as_of=now())
    assert named.drift["toy.x"] == drift
    assert set(named.drift) == {"toy.x"}


def test_an_explicit_as_of_checks_complete_days_before_it(file_store, music_events):
    _ingest(file_store, music_events)
    report = data_health(file_store, as_of=f"{day(31)}T12:00:00+01:00", reference_days=14)

    assert report.recent == (pd.Timestamp(day(24)), pd.Timestamp(day(31)))
    assert report.reference == (pd.Timestamp(day(10)), pd.Timestamp(day(24)))
    assert report.checks["freshness:synthetic.music"]["value"] < 11  # measured to 11:00 UTC
    assert report.volume["day"].max() == pd.Timestamp(day(30))  # later events unseen
    assert report.quarantine_rates.empty  # the batch was ingested long after that as_of
    assert report.passed


def test_a_store_whose_data_stopped_fails_freshness_by_default(file_store):
    """Checked now, data that ended months ago is stale: the check can fail."""
    old = make_music(users=50, items=40, days=35, start="2026-01-01").tables["events"]
    report = data_health(_ingest(file_store, old.to_pandas()))
    stale = report.checks["freshness:synthetic.music"]
    assert not stale["passed"] and stale["value"] > 24 * 30
    assert "silent through both windows: has synthetic.music stopped sending?" in stale["detail"]
    assert "latest event (event time) 2026-02-04" in stale["detail"]
    assert not report.checks["freshness:store"]["passed"]
    assert "**Data health: FAILED.**" in report.summary()


def test_a_store_without_events_says_how_to_get_some(memory_store):
    with pytest.raises(TableNotFound, match=r"no events to check.*workbench ingest"):
        data_health(memory_store)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"recent_days": 0}, "recent_days must be an integer >= 1"),
        ({"reference_days": 3, "recent_days": 7}, "shorter than recent_days"),
        ({"as_of": "last tuesday"}, "as_of='last tuesday' is not a time"),
        ({"thresholds": {"max_psi": -1}}, r"max_psi must be a number in \[0.0, inf\]"),
        ({"thresholds": {"psi": 0.1}}, "Unknown thresholds psi"),
        ({"thresholds": 0.2}, "thresholds must be a HealthThresholds"),
        ({"features": "features_x"}, "features must be a list"),
        ({"features": [3]}, r"features\[0\] is a int"),
        ({"features": ["users"]}, "has no feature_ts timestamp column"),
    ],
)
def test_bad_arguments_are_refused_with_advice(memory_store, arguments, message):
    ingest(
        memory_store,
        pd.DataFrame({"ts": ["2026-01-01T00:00:00Z"], "user_id": "u", "event_type": "play"}),
    )
    with pytest.raises(InvalidArgument, match=message):
        data_health(memory_store, **arguments)


def test_unknown_feature_tables_and_thresholds_are_named():
    with pytest.raises(InvalidArgument, match="min_volume_ratio"):
        HealthThresholds(min_volume_ratio=1.5)
    with pytest.raises(InvalidArgument, match="bins must be an integer >= 2"):
        population_stability_index([1.0], [1.0], bins=1)
    with pytest.raises(InvalidArgument, match="NaN"):
        population_stability_index([1.0, float("nan")], [1.0])
    store = Store.open("duckdb://:memory:")
    ingest(store, pd.DataFrame({"ts": ["2026-01-01T00:00:00Z"], "user_id": "u", "event_type": "x"}))
    with pytest.raises(TableNotFound, match="features_missing"):
        data_health(store, features=["features_missing"])


@pytest.mark.slow
def test_the_notebook_records_checks_and_the_planted_drift(tmp_path, music_events):
    import papermill

    url = f"duckdb://{tmp_path / 'drifted.duckdb'}"
    _ingest(Store.open(url), _plant_drift(music_events))
    output = tmp_path / "data_health.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(output),
        parameters={"store": url, "reference_days": 28, "recent_days": 7},
        progress_bar=False,
        cwd=str(ROOT),
    )

    results = read_results(output)
    assert set(results) == {"checks", "drift", "passed", "headline"}
    assert results["headline"]["status"] == "act"  # the planted drift
    assert results["passed"] is False
    assert all(set(check) == {"passed", "value"} for check in results["checks"].values())
    assert all(check["passed"] for check in results["checks"].values())
    assert set(results["drift"]) == {f"user_day.{name}" for name in FEATURES}
    assert results["drift"]["user_day.mean_value_play"] > 0.2
    assert all(psi < 0.2 for name, psi in results["drift"].items() if "play" not in name)
    # Committed without outputs: the source notebook stays clean.
    source = json.loads(NOTEBOOK.read_text())
    assert all(not cell.get("outputs") for cell in source["cells"] if cell["cell_type"] == "code")
