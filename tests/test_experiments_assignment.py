"""Assignment: salted hashing, the assignments table, designs, exposures, outside assignments."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pytest

from workbench.capture import ingest
from workbench.datasets import make_ads
from workbench.exceptions import ExperimentError, InvalidArgument
from workbench.experiments import (
    assign,
    assign_units,
    assign_variant,
    experiment_design,
    exposures,
    list_experiments,
    readout,
)

UNITS = [f"user_{i:05d}" for i in range(10_000)]
START = datetime(2026, 1, 1, tzinfo=UTC)


def test_assignment_is_the_salted_hash_of_the_ads_set_and_honours_weights():
    variants = ["control", "treatment"]
    chosen = assign_units(UNITS[:500], experiment="exp", variants=variants)
    assert chosen == [assign_variant(u, experiment="exp", variants=variants) for u in UNITS[:500]]
    assert chosen == assign_units(UNITS[:500], experiment="exp", variants=variants)  # stable

    weighted = assign_units(UNITS, experiment="exp", variants=["a", "b"], weights=[80, 20])
    assert np.mean(np.array(weighted) == "a") == pytest.approx(0.8, abs=0.015)

    salted = assign_units(UNITS, experiment="exp", variants=variants, salt="exp-rerun")
    same = np.mean(
        np.array(salted) == np.array(assign_units(UNITS, experiment="exp", variants=variants))
    )
    assert same == pytest.approx(0.5, abs=0.03)  # a new salt is an independent split


def test_bad_assignment_arguments_are_refused():
    with pytest.raises(InvalidArgument, match="Unit ids must be non-empty text; found 7"):
        assign_units(["u1", 7], experiment="e", variants=["a", "b"])
    with pytest.raises(InvalidArgument, match="weights must be 2 non-negative numbers"):
        assign_units(["u1"], experiment="e", variants=["a", "b"], weights=[1, -1])
    with pytest.raises(InvalidArgument, match="experiment must be a non-empty name"):
        assign_units(["u1"], experiment=" ", variants=["a", "b"])


def test_assign_writes_rows_with_their_design_and_never_reshuffles(file_store):
    report = assign(
        file_store,
        UNITS[:2000],
        experiment="banner",
        variants=["old", "new"],
        weights=[3, 1],
        assigned_at=START,
    )
    assert report.accepted == 2000 and report.reconciles

    design = experiment_design(file_store, "banner")
    assert design.variants == ["old", "new"] and design.weights == [0.75, 0.25]
    assert design.salt == "banner" and design.recorded
    rows = file_store.sql("SELECT unit_id, variant, assigned_at FROM assignments").to_pandas()
    expected = assign_units(
        list(rows["unit_id"]), experiment="banner", variants=["old", "new"], weights=[3, 1]
    )
    assert list(rows["variant"]) == expected
    assert (rows["assigned_at"] == pd.Timestamp("2026-01-01")).all()

    again = assign(
        file_store, UNITS[1000:3000], experiment="banner", variants=["old", "new"], weights=[3, 1]
    )
    assert (again.accepted, again.duplicates) == (1000, 1000)
    with pytest.raises(ExperimentError, match=r"would reshuffle units. Use a new experiment name"):
        assign(file_store, UNITS[:10], experiment="banner", variants=["old", "new"])

    listed = list_experiments(file_store)
    assert listed.to_dict("records")[0]["units"] == 3000
    assert list(listed["variants"].iloc[0]) == ["new", "old"]


def test_the_split_is_checked_against_the_recorded_weights(memory_store):
    assign(
        memory_store,
        UNITS,
        experiment="banner",
        variants=["old", "new"],
        weights=[3, 1],
        assigned_at=START,
    )
    # One click, so "click" names an event type the store has (a typo would be refused).
    click = {"ts": [START], "user_id": [UNITS[0]], "event_type": ["click"], "item_id": ["b"]}
    ingest(memory_store, pd.DataFrame(click))

    checked = readout(memory_store, "banner", "click", sequential=False)
    assert not checked.srm["flagged"]
    assert checked.srm["expected"] == {"old": 7500.0, "new": 2500.0}
    assert checked.control == "old"

    # read as if the split were meant to be even: a glaring mismatch
    even = readout(memory_store, "banner", "click", weights={"old": 1, "new": 1}, sequential=False)
    assert even.srm["flagged"]


def test_assignments_made_elsewhere_ingest_through_capture_and_read_out_the_same(
    tmp_path, memory_store
):
    from workbench.store import Store

    data = make_ads(users=3000, days=4, seed=8)
    # The other system's export: its own column names.
    outside = data.tables["assignments"].rename_columns(["test_name", "customer", "arm", "when"])
    path = tmp_path / "assignments.csv"
    pacsv.write_csv(outside, path)

    report = ingest(
        memory_store,
        path,
        table="assignments",
        mapping={
            "experiment": "test_name",
            "unit_id": "customer",
            "variant": "arm",
            "assigned_at": "when",
        },
    )
    ingest(memory_store, data.tables["events"])

    assert report.reconciles and report.accepted == data.tables["assignments"].num_rows
    direct = Store.open("duckdb://:memory:")
    for name, rows in data.tables.items():
        ingest(direct, rows, table=name)
    from_file = readout(memory_store, "ads_creative", "click,sum:click", sequential=False)
    original = readout(direct, "ads_creative", "click,sum:click", sequential=False)
    pd.testing.assert_frame_equal(from_file.table, original.table)
    assert not from_file.design.recorded
    assert any("record no design" in note for note in from_file.notes)


def test_exposures_come_from_events_or_deliveries(memory_store):
    assign(memory_store, ["u1", "u2", "u3"], experiment="e", variants=["a", "b"], assigned_at=START)
    hour = pd.Timedelta(hours=1)
    at = pd.Timestamp(START)
    ingest(
        memory_store,
        pd.DataFrame(
            {
                "event_id": ["1", "2", "3", "4"],
                "ts": [at - hour, at + hour, at + 2 * hour, at + hour],
                "user_id": ["u1", "u1", "u1", "u2"],
                "event_type": ["view", "view", "view", "click"],
            }
        ),
    )
    ingest(
        memory_store,
        pd.DataFrame(
            {
                "delivery_id": ["d1", "d2"],
                "ts": [at + 3 * hour, at + hour],
                "user_id": ["u3", "u2"],
                "item_id": ["i", "i"],
                "experiment": ["e", "other"],
            }
        ),
        table="deliveries",
    )

    views = exposures(memory_store, "e", event_type="view").order_by("unit_id").execute()
    assert list(views["exposures"]) == [2, 0, 0]  # the view before assignment does not count
    assert views["first_exposure_at"].iloc[0] == pd.Timestamp("2026-01-01 01:00")
    assert views["first_exposure_at"].iloc[1:].isna().all()

    delivered = exposures(memory_store, "e", source="deliveries").order_by("unit_id").execute()
    assert list(delivered["exposures"]) == [0, 0, 1]  # d2 belongs to another experiment
    with pytest.raises(InvalidArgument, match="source must be"):
        exposures(memory_store, "e", source="clicks")
