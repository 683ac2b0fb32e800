"""The loop turned over simulated days: it serves, logs, captures and reconciles."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workbench.exceptions import InvalidArgument, WorkbenchError
from workbench.simulate import simulate
from workbench.store import Store

SMALL = {"days": 3, "users": 120, "items": 150, "seed": 4, "incident_day": 3, "test_day": 2}


@pytest.fixture(scope="module")
def run():
    store = Store.open("duckdb://:memory:")
    return store, simulate(store, **SMALL)


def test_every_shown_item_is_logged_and_every_answer_is_captured(run):
    store, simulation = run
    for day in simulation.days:
        assert day.visitors > 0
        assert day.deliveries_logged == day.visitors * 10  # k items per slate
        assert day.responses == day.events_captured + day.quarantined
    logged = store.sql("SELECT count(*) AS n, min(propensity) AS low FROM deliveries").to_pylist()[
        0
    ]
    assert logged["n"] == sum(day.deliveries_logged for day in simulation.days)
    assert 0 < logged["low"] <= 1
    captured = store.sql(
        "SELECT count(*) AS n FROM events WHERE source = 'village' AND ts >= '2026-01-15'"
    ).to_pylist()
    assert captured[0]["n"] == sum(day.events_captured for day in simulation.days)


def test_the_served_lists_beat_popularity_and_stay_below_the_oracle(run):
    _, simulation = run
    for day in simulation.days:
        assert day.popularity_ctr < day.expected_ctr < day.oracle_ctr
        # The lists shown greedily can do no better than the oracle, which picks from the
        # same unmet tracks knowing the tastes.
        assert day.lists_ctr <= day.oracle_ctr
    # Exploring costs something: over the days, the lists alone earn more than served.
    assert sum(d.lists_ctr for d in simulation.days) > sum(d.expected_ctr for d in simulation.days)
    # Day 1's candidate passes the gate; what serves is it refitted on every event.
    assert simulation.days[0].promoted and simulation.days[0].champion_version == "village@2"


def test_the_planted_incident_shows_in_the_kpis_and_the_scan_flags_it_that_day(run):
    store, simulation = run
    before, during = simulation.days[1], simulation.days[2]
    assert during.incident and not before.incident
    # Half the visitors lose their lists (a draw per visitor); the day before, none do.
    assert during.fallback_share > 0.2 > before.fallback_share
    assert during.kpi_alerts > 0 and before.kpi_alerts == 0
    assert simulation.summary()["incident_flagged_day"] == 3
    series = store.sql("SELECT DISTINCT series_id FROM observations ORDER BY 1").column(0)
    assert series.to_pylist() == [
        "village.answers",
        "village.ctr",
        "village.fallback_share",
        "village.fallbacks",
        "village.fallbacks_6h",
        "village.items_shown",
        "village.plays",
        "village.quarantine_share",
        "village.quarantined",
        "village.slates",
    ]
    # The counts reconcile with the day's figures; the rates follow from the counts.
    day = store.sql(
        "SELECT series_id, sum(value) AS total FROM observations "
        "WHERE ts >= '2026-01-17' AND ts < '2026-01-18' GROUP BY 1"
    ).to_pylist()
    totals = {row["series_id"]: row["total"] for row in day}
    assert totals["village.slates"] == during.visitors
    assert totals["village.items_shown"] == during.items_shown
    assert totals["village.fallbacks"] == round(during.fallback_share * during.visitors)
    assert totals["village.answers"] == during.responses
    assert totals["village.quarantined"] == during.quarantined
    alerted = store.sql("SELECT DISTINCT series_id FROM alerts").column(0).to_pylist()
    assert "village.fallbacks_6h" in alerted


def test_the_challenger_is_judged_off_policy_then_tested_and_both_give_intervals(run):
    store, simulation = run
    for low_value_high in (simulation.ope_lift, simulation.ab_lift):
        value, low, high = low_value_high
        assert low <= value <= high and low < high
    arms = store.sql(
        "SELECT variant, count(*) AS n FROM deliveries WHERE experiment = 'village_policy' "
        "GROUP BY variant ORDER BY variant"
    ).to_pylist()
    assert [row["variant"] for row in arms] == ["control", "treatment"]
    # Only the days of the test are in it: day 1's deliveries have no experiment.
    tested = sum(row["n"] for row in arms)
    assert tested == sum(day.deliveries_logged for day in simulation.days[1:])
    # The treatment shows the greedy slate: every one of its items was the greedy choice.
    greedy = store.sql(
        "SELECT min(propensity) AS p FROM deliveries WHERE variant = 'treatment'"
    ).to_pylist()[0]["p"]
    assert greedy == 1.0


def test_what_serves_is_refitted_on_every_event_whatever_the_gate_said(run):
    store, simulation = run
    log = store.sql(
        "SELECT version, override_reason FROM model_alias_log WHERE alias = 'champion' ORDER BY seq"
    ).to_pylist()
    refits = [row for row in log if row["override_reason"]]
    assert all("refitted on every event" in row["override_reason"] for row in refits)
    passed = [row for row in refits if "passed the gate" in row["override_reason"]]
    refreshed = [row for row in refits if "(a refresh)" in row["override_reason"]]
    assert len(passed) + len(refreshed) == len(refits)
    assert len(passed) >= sum(day.promoted for day in simulation.days) > 0
    # Every night after the first ends with a new champion, whether the candidate won
    # (its recipe) or lost (the champion's, refreshed): no day's events are left out.
    champions = [day.champion_version for day in simulation.days]
    assert len(set(champions)) == len(champions)
    versions = store.sql(
        "SELECT version, params, signature FROM model_versions ORDER BY version"
    ).to_pylist()
    by_version = {row["version"]: row for row in versions}
    for row in refits:
        refit = json.loads(by_version[row["version"]]["params"])
        measured = by_version[refit["refit_of"]]
        rows = [
            json.loads(v["signature"])["training_data"]["rows"]
            for v in (measured, by_version[row["version"]])
        ]
        # The refit learnt from the measured version's rows and its holdout (yesterday).
        assert rows[1] > rows[0]


def test_the_same_seed_gives_the_same_days(run):
    _, simulation = run
    again = simulate(Store.open("duckdb://:memory:"), **SMALL)
    assert again.to_dict() == simulation.to_dict()


def test_a_simulation_refuses_a_store_that_already_holds_events(run):
    store, _ = run
    with pytest.raises(InvalidArgument, match="already holds events"):
        simulate(store, days=1)
    with pytest.raises(InvalidArgument, match="visit_rate"):
        simulate(Store.open("duckdb://:memory:"), visit_rate=0)
    with pytest.raises(InvalidArgument, match="test_day=1 must be a day from 2"):
        simulate(Store.open("duckdb://:memory:"), test_day=1)


def test_the_command_prints_each_day_as_json_and_refuses_a_used_store(tmp_path):
    url = f"duckdb://{tmp_path / 'village.duckdb'}"
    command = [sys.executable, "-m", "workbench.cli", "simulate", "--days", "2"]
    command += ["--users", "80", "--items", "90", "--store", url]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [day["day"] for day in result["days"]] == [1, 2]
    assert result["summary"]["responses"] == result["summary"]["events_captured"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1
    assert again.stderr.startswith("error: ") and len(again.stderr.strip().splitlines()) == 1
    # A job moved without its cron is refused in one line, with an example.
    moved = subprocess.run(
        [*command, "--schedule", "train"], capture_output=True, text=True, timeout=600
    )
    assert moved.returncode == 2 and "JOB=CRON, e.g. --schedule 'train=0 3 * * *'" in moved.stderr
    assert len(moved.stderr.strip().splitlines()) == 1 and "--help" in moved.stderr
    # A job that is not one of the day's, or a cron that is not one, is refused before a
    # store is created for it.
    fresh = tmp_path / "never.duckdb"
    for entry, said in (
        ("retrain=0 2 * * *", "No simulated job retrain"),
        ("train=61 2 * * *", ""),
    ):
        refused = subprocess.run(
            [*command[:-2], "--store", f"duckdb://{fresh}", "--schedule", entry],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert refused.returncode == 1 and said in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert not fresh.exists()


def test_newcomers_start_cold_then_get_lists_and_new_tracks_are_shown_by_exploration():
    store = Store.open("duckdb://:memory:")
    simulation = simulate(
        store, days=3, users=100, items=120, seed=2, new_users=8, new_items=10, epsilon=0.3
    )
    days = simulation.days
    assert [day.new_users for day in days] == [8, 8, 8] and [d.new_items for d in days] == [10] * 3
    # Newcomers arrive in the catalog tables through the capture path, day by day.
    counts = store.count_rows()
    assert counts["users"] == 100 + 3 * 8 and counts["items"] == 120 + 3 * 10
    # The warm-up history holds nobody and nothing that had not arrived yet.
    for table, key in (("users", "user_id"), ("items", "item_id")):
        late = store.sql(
            f"SELECT count(*) AS n FROM events e JOIN {table} t USING ({key}) "
            "JOIN batches b ON t.batch_id = b.batch_id "
            "WHERE e.source <> 'village' AND b.source <> 'village warm-up'"
        ).to_pylist()[0]["n"]
        assert late == 0, table
    # A newcomer's visit gets the fallback while no stored list knows them (cold start).
    assert sum(day.cold_visitors for day in days) > 0
    assert all(day.cold_visitors < day.visitors for day in days)
    # New tracks reach visitors only through exploration (a propensity below the greedy one).
    assert sum(day.new_items_shown for day in days) > 0
    assert simulation.reconciles()
    assert "Do newcomers find their way in?" in simulation.describe()


def test_the_scheduler_runs_the_days_jobs_on_the_simulated_clock(run):
    store, simulation = run
    first, second = simulation.days[0], simulation.days[1]
    # Never handled, every job is due at the first tick (the first day is served), then
    # the nightly slots come round.
    assert first.jobs == (
        "00:00 scan · 00:00 train · 00:00 precompute · 00:00 health · 02:00 train · "
        "02:30 precompute · 05:00 health"
    )
    assert second.jobs == "00:00 scan · 02:00 train · 02:30 precompute · 05:00 health"
    # The morning's data health check judged every day; the app's answers carry their
    # slate in `context`, as the history's carry a device, so no null rate jumps.
    for day in simulation.days:
        assert day.health.startswith(("all ", "failed: ")), day.health
        assert "nulls" not in day.health and "freshness" not in day.health
    assert [day.jobs for day in simulation.days[2:]] == [second.jobs] * (len(simulation.days) - 2)
    # A visit before the night's precompute still gets yesterday's lists.
    served = store.sql(
        "SELECT ts < TIMESTAMP '2026-01-16 02:30' AS early, "
        "list(DISTINCT model || '@' || version) AS versions FROM deliveries "
        "WHERE ts >= '2026-01-16' AND ts < '2026-01-17' AND policy <> 'popularity' "
        "GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert [row["early"] for row in served] == [False, True]
    assert served[0]["versions"] == [second.champion_version]
    assert served[1]["versions"] == [first.champion_version]


def test_blended_delivery_ships_answers_hourly_and_never_repeats_what_a_visitor_met():
    # Lists computed late in the evening: a visitor the next day is served a list that
    # does not know what they played after it was computed.
    late = {"train": "0 22 * * *", "precompute": "0 23 * * *"}
    repeats = {}
    for delivery in ("stored", "blended"):
        store = Store.open("duckdb://:memory:")
        simulation = simulate(
            store, days=3, users=120, items=100, seed=3, delivery=delivery, schedule=late
        )
        assert simulation.reconciles() and simulation.summary()["delivery"] == delivery
        # Slates showing a visitor an item they had played or skipped before.
        repeats[delivery] = store.sql(
            "SELECT count(*) AS n FROM deliveries d JOIN events e ON e.user_id = d.user_id "
            "AND e.item_id = d.item_id AND e.event_type IN ('play', 'skip') AND e.ts < d.ts "
            "AND e.source = 'village'"
        ).to_pylist()[0]["n"]
    assert repeats["stored"] > 0 and repeats["blended"] == 0, repeats
    # Blended, the app's answers arrive every hour of the day, each hour its own batch.
    hourly = store.sql(
        "SELECT count(*) AS n FROM batches WHERE source LIKE 'village day 2 %h'"
    ).to_pylist()[0]["n"]
    assert hourly >= 12
    with pytest.raises(InvalidArgument, match="delivery='live'"):
        simulate(Store.open("duckdb://:memory:"), days=1, delivery="live")


def test_a_schedule_that_precomputes_before_it_trains_serves_a_day_late():
    store = Store.open("duckdb://:memory:")
    late = simulate(store, **{**SMALL, "incident_day": None}, schedule={"precompute": "0 1 * * *"})
    assert late.days[1].jobs == "00:00 scan · 01:00 precompute · 02:00 train · 05:00 health"
    # Each day serves the champion of the night before, never the day's own: the night's
    # new champion (promoted or refreshed) only reaches the lists the next morning.
    from workbench.registry import resolve

    newest = resolve(store, "village@champion").ref
    assert late.days[-1].champion_version != newest


def test_a_schedule_naming_an_unknown_job_or_an_unreadable_cron_is_refused():
    store = Store.open("duckdb://:memory:")
    with pytest.raises(InvalidArgument, match="the day's jobs are scan, train, precompute, health"):
        simulate(store, days=1, schedule={"retrain": "0 2 * * *"})
    assert store.count_rows()["events"] == 0  # refused before anything was written
    with pytest.raises(WorkbenchError, match="The simulated train job: schedule 'at two'"):
        simulate(Store.open("duckdb://:memory:"), days=1, schedule={"train": "at two"})


def test_answers_the_capture_path_refuses_count_as_quarantined_in_their_visits_hour():
    import datetime as dt
    from types import SimpleNamespace

    from workbench.simulate.loop import _write_kpis

    store = Store.open("duckdb://:memory:")
    day = dt.datetime(2026, 1, 15)
    slates = [
        SimpleNamespace(slate_id="d1-0", user_id="u1", items=["a", "b"]),
        SimpleNamespace(slate_id="d1-1", user_id="u2", items=["c", "d"]),
    ]
    events = [
        {
            "event_id": f"d1-{visit}-{position}-{kind}",
            "user_id": f"u{visit + 1}",
            "event_type": kind,
        }
        for visit in (0, 1)
        for position, kind in enumerate(("impression", "impression", "play"))
    ]
    _write_kpis(store, day, 1, slates, events, [3, 9], [False, False], refused=["d1-1-2-play"])
    kpis = store.sql(
        "SELECT series_id, hour(ts) AS hour, value FROM observations "
        "WHERE series_id IN ('village.answers', 'village.quarantined', 'village.quarantine_share') "
        "AND value > 0 ORDER BY series_id, ts"
    ).to_pylist()
    by_series = {}
    for row in kpis:
        by_series.setdefault(row["series_id"], []).append((row["hour"], row["value"]))
    assert by_series["village.answers"] == [(3, 3.0), (9, 3.0)]
    assert by_series["village.quarantined"] == [(9, 1.0)]
    # Over the trailing six hours: from 09:00 to 14:00 the window holds the 09:00 visit's
    # 3 answers, 1 refused; at 15:00 it holds no answers, so no rate.
    share = dict(by_series["village.quarantine_share"])
    assert share[9] == 1 / 3 and share[14] == 1 / 3 and 15 not in share
