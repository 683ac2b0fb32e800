"""Materialization: feature tables in the store, and an online table updated incrementally."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from workbench.capture import ingest
from workbench.datasets import make_music
from workbench.exceptions import InvalidArgument
from workbench.features import (
    FeatureSet,
    item_popularity_features,
    materialize,
    user_activity_features,
)
from workbench.store import Store

START = datetime(2026, 1, 1)
CUTS = [START + timedelta(days=d, hours=h) for d, h in [(10, 0), (13, 7), (13, 19), (20, 0)]]


@pytest.fixture(scope="module")
def music_events() -> pa.Table:
    """Three weeks of synthetic plays, skips and likes."""
    return make_music(users=40, items=60, days=21, seed=3).tables["events"]


def _events_before(events: pa.Table, cut: datetime) -> pa.Table:
    return events.filter(pc.less(events["ts"], pa.scalar(cut, pa.timestamp("us", tz="UTC"))))


def _rows(store: Store, table: str, keys: list[str]) -> list[dict]:
    return store.table(table).order_by(keys).to_pyarrow().to_pylist()


FEATURE_SETS = {
    # Recency reads an entity's whole history: lookback=None keeps updates exact.
    "users": FeatureSet(
        "users",
        partial(user_activity_features, windows=(1, 7), event_types=("play", "like")),
        entity=("user_id",),
    ),
    # Windowed counts only: updates read just the last 7 + 7 days plus a day.
    "items": FeatureSet(
        "items",
        partial(item_popularity_features, windows=(1, 7), trend_window=7),
        entity=("item_id",),
        lookback=timedelta(days=14),
    ),
}


@pytest.mark.parametrize("name", list(FEATURE_SETS))
def test_incremental_updates_equal_a_full_recompute(name, music_events):
    feature_set = FEATURE_SETS[name]
    keys = [*feature_set.entity, "feature_ts"]
    incremental = Store.open("duckdb://:memory:")
    reports = []
    previous = START
    for cut in CUTS:
        # Events arrive in time order: each batch holds what happened since the last cut.
        arrived = _events_before(music_events, cut).filter(
            pc.greater_equal(
                _events_before(music_events, cut)["ts"],
                pa.scalar(previous, pa.timestamp("us", tz="UTC")),
            )
        )
        ingest(incremental, arrived, source_name=f"until {cut}")
        reports.append(materialize(incremental, feature_set, as_of=cut))
        previous = cut

    full = Store.open("duckdb://:memory:")
    ingest(full, _events_before(music_events, CUTS[-1]))
    full_report = materialize(full, feature_set, as_of=CUTS[-1])

    assert [r.mode for r in reports] == ["full", "incremental", "incremental", "incremental"]
    assert all(r.entities_recomputed for r in reports[1:])
    assert reports[-1].entities_recomputed < full_report.online_rows or name == "users"
    assert _rows(incremental, f"features_{name}", keys) == _rows(full, f"features_{name}", keys)
    assert _rows(incremental, f"online_{name}", keys) == _rows(full, f"online_{name}", keys)
    assert reports[-1].feature_rows == full_report.feature_rows > 0


def test_online_table_holds_the_latest_row_per_entity(music_events):
    store = Store.open("duckdb://:memory:")
    ingest(store, _events_before(music_events, CUTS[-1]))
    report = materialize(store, FEATURE_SETS["users"], as_of=CUTS[-1])

    features = store.table("features_users")
    latest = features.group_by("user_id").agg(feature_ts=features.feature_ts.max())
    online = store.table("online_users").select("user_id", "feature_ts")
    assert _sorted(online) == _sorted(latest)
    assert report.online_rows == latest.count().execute()
    # Nothing after as_of is kept: rows of the bucket still in progress are left out.
    assert features.feature_ts.max().execute() <= CUTS[-1]


def _sorted(expr) -> list[dict]:
    return expr.order_by("user_id").to_pyarrow().to_pylist()


def test_going_back_in_time_needs_a_full_rebuild(music_events):
    store = Store.open("duckdb://:memory:")
    ingest(store, _events_before(music_events, CUTS[-1]))
    materialize(store, FEATURE_SETS["users"], as_of=CUTS[-1])
    with pytest.raises(InvalidArgument, match="full=True"):
        materialize(store, FEATURE_SETS["users"], as_of=CUTS[0])
    report = materialize(store, FEATURE_SETS["users"], as_of=CUTS[0], full=True)
    assert report.mode == "full"
    assert store.table("features_users").feature_ts.max().execute() <= CUTS[0]


def test_materialized_tables_survive_in_a_store_file(tmp_path, music_events):
    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    store = Store.open(url)
    ingest(store, _events_before(music_events, CUTS[0]))
    first = materialize(store, FEATURE_SETS["items"], as_of=CUTS[0])
    reopened = Store.open(url)
    assert reopened.table("online_items").count().execute() == first.online_rows
    ingest(reopened, _events_before(music_events, CUTS[1]))  # overlap: duplicates are skipped
    second = materialize(reopened, FEATURE_SETS["items"], as_of=CUTS[1])
    assert second.mode == "incremental"
    assert second.previous_watermark == CUTS[0].isoformat()


def test_bad_names_are_refused():
    store = Store.open("duckdb://:memory:")
    with pytest.raises(InvalidArgument, match="letters, digits and underscores"):
        materialize(store, FeatureSet("bad-name; drop", user_activity_features))
    # online_states holds incremental delivery state: a feature set may not overwrite it.
    with pytest.raises(InvalidArgument, match="online_states"):
        materialize(store, FeatureSet("states", user_activity_features))


def test_an_entity_that_went_quiet_before_the_watermark_still_gets_its_last_row():
    # "quiet" acts at 05:00 on day 13, then never again; its row for that day appears at
    # midnight, after the 07:00 and 19:00 runs, so a later run must still produce it.
    def event(n: int, user: str, when: datetime) -> dict:
        return {
            "event_id": f"e{n}",
            "ts": when,
            "user_id": user,
            "item_id": "i1",
            "event_type": "play",
        }

    rows = [
        event(0, "quiet", START + timedelta(days=2)),
        event(1, "quiet", CUTS[0] + timedelta(days=3, hours=5)),
    ]
    rows += [event(10 + d, "busy", START + timedelta(days=d, hours=12)) for d in range(20)]
    events = pa.Table.from_pylist(rows)
    feature_set = FeatureSet("quiet", partial(user_activity_features, windows=(7,)))

    incremental = Store.open("duckdb://:memory:")
    ingest(incremental, events)
    for cut in CUTS:
        materialize(incremental, feature_set, as_of=cut)
    full = Store.open("duckdb://:memory:")
    ingest(full, events)
    materialize(full, feature_set, as_of=CUTS[-1])

    keys = ["user_id", "feature_ts"]
    assert _rows(incremental, "features_quiet", keys) == _rows(full, "features_quiet", keys)
    quiet = [r for r in _rows(incremental, "online_quiet", keys) if r["user_id"] == "quiet"]
    assert quiet[0]["feature_ts"] == START + timedelta(days=14)
