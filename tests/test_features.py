"""Feature helpers, point-in-time training sets and splits, on tiny hand-made data."""

from __future__ import annotations

import datetime as dt
import random

import ibis
import ibis.config
import pandas as pd
import pyarrow as pa
import pytest

from workbench.capture import ingest
from workbench.datasets import make_music
from workbench.exceptions import InvalidArgument
from workbench.features import (
    item_popularity_features,
    leave_last_n_split,
    series_rolling_features,
    stratified_split,
    temporal_split,
    training_set,
    user_activity_features,
    user_item_affinity_features,
)

EVENT_SCHEMA = {
    "event_id": "string",
    "ts": "timestamp",
    "user_id": "string",
    "item_id": "string",
    "event_type": "string",
    "value": "float64",
}


def at(text: str) -> dt.datetime:
    """A naive UTC time from ``"MM-DD HH:MM"`` in January 2026."""
    return dt.datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M")


def table(columns: dict[str, list], *, shuffle_seed: int | None = None) -> ibis.Table:
    """An Ibis memtable with naive-UTC timestamps, optionally with its rows shuffled."""
    frame = pa.table(
        {
            name: pa.array(values, pa.timestamp("us"))
            if values and isinstance(values[0], dt.datetime)
            else values
            for name, values in columns.items()
        }
    )
    if shuffle_seed is not None:
        order = list(range(frame.num_rows))
        random.Random(shuffle_seed).shuffle(order)
        frame = frame.take(order)
    return ibis.memtable(frame)


def events_table(rows: list[tuple], **kwargs) -> ibis.Table:
    """Events from (event_id, user, item, type, "MM-DD HH:MM") tuples."""
    event_id, user, item, kind, when = zip(*rows, strict=True)
    return table(
        {
            "event_id": list(event_id),
            "ts": [at(w) for w in when],
            "user_id": list(user),
            "item_id": list(item),
            "event_type": list(kind),
            "value": [1.0] * len(rows),
        },
        **kwargs,
    )


def records(expr: ibis.Table, *, by: list[str]) -> list[dict]:
    """Executed rows as dicts, sorted, with NaN/NaT turned into None."""
    frame = expr.to_pyarrow().to_pandas().sort_values(by, kind="stable")
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def ids(expr: ibis.Table) -> list[str]:
    return sorted(expr.select("event_id").to_pyarrow()["event_id"].to_pylist())


# --- helpers -------------------------------------------------------------------------------

ACTIVITY = [
    ("e1", "u1", "i1", "play", "01-01 10:00"),
    ("e2", "u1", "i2", "skip", "01-01 12:00"),
    ("e3", "u1", "i1", "play", "01-03 00:00"),
    ("e4", "u1", "i3", "like", "01-09 06:00"),
    ("e5", "u2", "i1", "play", "01-02 00:00"),
]


def test_user_activity_counts_items_days_and_recency_per_window():
    features = user_activity_features(events_table(ACTIVITY), windows=[1, 7], event_types=["play"])
    got = records(features, by=["user_id", "feature_ts"])
    columns = ["user_id", "feature_ts", "events_1d", "play_events_1d", "distinct_items_1d"]
    columns += ["active_days_1d", "events_7d", "play_events_7d", "distinct_items_7d"]
    columns += ["active_days_7d", "days_since_last_event"]
    assert list(features.columns) == columns
    expected = [
        ("u1", at("01-02 00:00"), 2, 1, 2, 1, 2, 1, 2, 1, 0.5),
        # e3 sits exactly at the start of the day: in the 1-day window of the next cutoff.
        ("u1", at("01-04 00:00"), 1, 1, 1, 1, 3, 2, 2, 2, 1.0),
        # The 7-day window [01-03, 01-10) includes e3 at its lower bound.
        ("u1", at("01-10 00:00"), 1, 0, 1, 1, 2, 1, 2, 2, 0.75),
        ("u2", at("01-03 00:00"), 1, 1, 1, 1, 1, 1, 1, 1, 1.0),
    ]
    assert got == [dict(zip(columns, row, strict=True)) for row in expected]


def test_user_activity_window_shorter_than_the_bucket_still_gives_a_row():
    features = user_activity_features(
        events_table(ACTIVITY[:2]), windows=dt.timedelta(hours=1), every="1d"
    )
    got = records(
        features.select("feature_ts", "events_1h", "days_since_last_event"), by=["feature_ts"]
    )
    assert got == [{"feature_ts": at("01-02 00:00"), "events_1h": 0, "days_since_last_event": 0.5}]


def test_user_activity_hourly_snapshots_end_at_the_next_hour():
    features = user_activity_features(events_table(ACTIVITY[:2]), windows=1, every="1h")
    got = records(
        features.select("feature_ts", "events_1d", "days_since_last_event"), by=["feature_ts"]
    )
    assert got == [
        {"feature_ts": at("01-01 11:00"), "events_1d": 1, "days_since_last_event": 1 / 24},
        {"feature_ts": at("01-01 13:00"), "events_1d": 2, "days_since_last_event": 1 / 24},
    ]


def test_item_popularity_counts_users_and_trend():
    events = events_table(
        [
            ("a", "u1", "i1", "play", "01-01 09:00"),
            ("b", "u2", "i1", "play", "01-01 10:00"),
            ("c", "u3", "i1", "play", "01-01 11:00"),
            ("d", "u1", "i1", "play", "01-02 09:00"),
            ("e", "u1", "i1", "play", "01-02 10:00"),
            ("f", "u2", "i2", "play", "01-02 11:00"),
        ]
    )
    features = item_popularity_features(events, windows=[1, 2], trend_window=1)
    columns = ["item_id", "feature_ts", "events_1d", "distinct_users_1d", "events_2d"]
    columns += ["distinct_users_2d", "trend_1d"]
    assert list(features.columns) == columns
    expected = [
        ("i1", at("01-02 00:00"), 3, 3, 3, 3, 3),
        ("i1", at("01-03 00:00"), 2, 1, 5, 3, -1),  # 2 events on day 2 against 3 on day 1
        ("i2", at("01-03 00:00"), 1, 1, 1, 1, 1),
    ]
    got = records(features, by=["item_id", "feature_ts"])
    assert got == [dict(zip(columns, row, strict=True)) for row in expected]


AFFINITY = [
    ("a", "u1", "i1", "play", "01-01 00:00"),
    ("b", "u1", "i1", "skip", "01-02 06:00"),
    ("c", "u1", "i1", "like", "01-02 12:00"),
    ("d", "u1", "i2", "play", "01-02 18:00"),
]


def test_user_item_affinity_decays_with_age_and_weighs_event_types():
    features = user_item_affinity_features(
        events_table(AFFINITY), half_life=1, weights={"play": 1.0, "like": 3.0}
    )
    got = records(features, by=["user_id", "item_id", "feature_ts"])
    assert [(r["item_id"], r["feature_ts"], r["interactions"]) for r in got] == [
        ("i1", at("01-02 00:00"), 1),
        ("i1", at("01-03 00:00"), 3),
        ("i2", at("01-03 00:00"), 1),
    ]
    assert [r["last_interaction_ts"] for r in got] == [
        at("01-01 00:00"),
        at("01-02 12:00"),
        at("01-02 18:00"),
    ]
    assert [r["days_since_last_interaction"] for r in got] == [1.0, 0.5, 0.25]
    # A play one day old is worth 0.5; the skip weighs 0; a like half a day old 3 * 0.5**0.5.
    assert [r["affinity_score"] for r in got] == pytest.approx(
        [0.5, 0.25 + 3 * 0.5**0.5, 0.5**0.25]
    )


def test_user_item_affinity_unweighted_and_bounded_by_lookback():
    features = user_item_affinity_features(events_table(AFFINITY), half_life=1, lookback=1)
    got = records(features.filter(features.item_id == "i1"), by=["feature_ts"])
    # With a one-day look-back the play of 01-01 no longer counts at the 01-03 cutoff.
    assert [r["interactions"] for r in got] == [1, 2]
    assert got[1]["affinity_score"] == pytest.approx(0.5**0.75 + 0.5**0.5)


def test_series_rolling_features_match_pandas_closed_left_rolling():
    rng = random.Random(3)
    rows = []
    for series in ("cpu", "latency"):
        moment = at("01-01 00:00")
        for _ in range(40):
            moment += dt.timedelta(minutes=rng.choice([10, 30, 45, 120, 300]))
            rows.append((series, moment, rng.gauss(50, 10)))
    frame = pd.DataFrame(rows, columns=["series_id", "ts", "value"])
    observations = table({name: frame[name].tolist() for name in frame.columns})
    windows = {"3h": dt.timedelta(hours=3), "1d": dt.timedelta(days=1)}
    features = series_rolling_features(observations, windows=list(windows.values()))
    got = features.to_pyarrow().to_pandas().sort_values(["series_id", "feature_ts"])
    assert len(got) == len(frame)

    for suffix, window in windows.items():
        rolling = (
            frame.set_index("ts")
            .groupby("series_id")["value"]
            .rolling(window, closed="left")
            .agg(["mean", "std", "min", "max", "count"])
            .reset_index()
            .sort_values(["series_id", "ts"])
        )
        for stat in ["mean", "std", "min", "max"]:
            assert got[f"{stat}_{suffix}"].to_numpy(dtype=float) == pytest.approx(
                rolling[stat].to_numpy(dtype=float), nan_ok=True
            ), (stat, suffix)
        assert got[f"count_{suffix}"].tolist() == rolling["count"].fillna(0).astype(int).tolist()
    first = got.groupby("series_id").head(1)
    assert first["count_1d"].tolist() == [0, 0] and first["mean_1d"].isna().all()


def test_helpers_build_on_unbound_tables_without_executing():
    events = ibis.table(EVENT_SCHEMA, name="events")
    observations = ibis.table({"series_id": "string", "ts": "timestamp", "value": "float64"})
    expressions = [
        user_activity_features(events, event_types=["play", "like"]),
        item_popularity_features(events),
        user_item_affinity_features(events, weights={"like": 2.0}),
        series_rolling_features(observations),
    ]
    assert all(isinstance(expr, ibis.Table) for expr in expressions)


@pytest.fixture
def spark_compiler(monkeypatch):
    """Let Ibis compile to Spark SQL even without pyspark installed (no session needed)."""
    if ibis.options.pyspark is None:

        class PySparkOptions(ibis.config.Config):
            treat_nan_as_null: bool = False

        monkeypatch.setattr(ibis.options, "pyspark", PySparkOptions())


def test_every_function_compiles_to_spark_sql(spark_compiler):
    events = ibis.table(EVENT_SCHEMA, name="events")
    observations = ibis.table({"series_id": "string", "ts": "timestamp", "value": "float64"})
    labels = ibis.table({"user_id": "string", "ts": "timestamp", "y": "int8"}, name="labels")
    features = user_activity_features(events, event_types=["play"])
    expressions = [
        features,
        item_popularity_features(events),
        user_item_affinity_features(events, weights={"like": 2.0}),
        series_rolling_features(observations),
        training_set(labels, features, ttl=7),
        *temporal_split(events, cut="2026-01-10"),
        *leave_last_n_split(events, n=2),
        *stratified_split(events, seed=1),
    ]
    for expr in expressions:
        sql = ibis.to_sql(expr, dialect="pyspark")
        assert "ASOF" not in sql.upper()


# --- training sets -------------------------------------------------------------------------

FEATURES = {
    "user_id": ["u1", "u1", "u1", "u2"],
    "feature_ts": [at("01-02 00:00"), at("01-05 00:00"), at("01-10 00:00"), at("01-03 00:00")],
    "x": [1, 2, 3, 10],
}
LABELS = {
    "user_id": ["u1", "u1", "u1", "u1", "u1", "u1", "u2", "u3"],
    "ts": [
        at("01-01 12:00"),  # before any feature row
        at("01-05 00:00"),  # exactly at a feature_ts: that row is eligible
        at("01-07 00:00"),
        at("01-07 00:00"),  # a duplicate label: kept twice
        at("01-15 00:00"),  # exactly ttl=5 days after 01-10: still eligible
        at("01-20 00:00"),
        at("01-04 00:00"),
        at("01-04 00:00"),  # an entity with no features at all
    ],
    "y": [0, 1, 0, 0, 1, 1, 1, 0],
}


def pairs(expr: ibis.Table) -> list[tuple]:
    return [
        (r["user_id"], r["ts"], r["feature_ts"], r["x"])
        for r in records(expr, by=["user_id", "ts"])
    ]


@pytest.mark.parametrize("method", ["portable", "asof"])
def test_training_set_takes_latest_feature_row_at_or_before_each_label(method):
    result = training_set(table(LABELS), table(FEATURES), method=method)
    assert list(result.columns) == ["user_id", "ts", "y", "feature_ts", "x"]
    assert pairs(result) == [
        ("u1", at("01-01 12:00"), None, None),
        ("u1", at("01-05 00:00"), at("01-05 00:00"), 2),
        ("u1", at("01-07 00:00"), at("01-05 00:00"), 2),
        ("u1", at("01-07 00:00"), at("01-05 00:00"), 2),
        ("u1", at("01-15 00:00"), at("01-10 00:00"), 3),
        ("u1", at("01-20 00:00"), at("01-10 00:00"), 3),
        ("u2", at("01-04 00:00"), at("01-03 00:00"), 10),
        ("u3", at("01-04 00:00"), None, None),
    ]


@pytest.mark.parametrize("method", ["portable", "asof"])
def test_training_set_ttl_drops_stale_features_and_keeps_every_label(method):
    result = training_set(table(LABELS), table(FEATURES), ttl=5, method=method)
    got = pairs(result)
    assert len(got) == len(LABELS["ts"])
    assert got[4] == ("u1", at("01-15 00:00"), at("01-10 00:00"), 3)
    assert got[5] == ("u1", at("01-20 00:00"), None, None)  # ten days old: too stale
    assert [r[3] for r in got] == [None, 2, 2, 2, 3, None, 10, None]
    hourly = pairs(
        training_set(table(LABELS), table(FEATURES), ttl=dt.timedelta(hours=12), method=method)
    )
    assert [r[3] for r in hourly] == [None, 2, None, None, None, None, None, None]


@pytest.mark.parametrize("method", ["portable", "asof"])
def test_training_set_does_not_depend_on_row_order(method):
    expected = pairs(training_set(table(LABELS), table(FEATURES), ttl=5, method=method))
    for seed in range(3):
        shuffled = training_set(
            table(LABELS, shuffle_seed=seed),
            table(FEATURES, shuffle_seed=seed + 10),
            ttl=5,
            method=method,
        )
        assert pairs(shuffled) == expected


@pytest.mark.parametrize("method", ["portable", "asof"])
def test_training_set_with_a_two_column_entity(method):
    features = user_item_affinity_features(events_table(AFFINITY), half_life=1)
    labels = table(
        {
            "user_id": ["u1", "u1", "u1"],
            "item_id": ["i1", "i2", "i1"],
            "ts": [at("01-02 08:00"), at("01-02 20:00"), at("01-03 01:00")],
        }
    )
    result = training_set(labels, features, entity=["user_id", "item_id"], method=method)
    got = records(result, by=["ts"])
    assert [r["interactions"] for r in got] == [1, None, 3]


@pytest.mark.parametrize("method", ["portable", "asof"])
def test_training_set_has_no_leakage_where_a_naive_join_leaks(method):
    # Events sit exactly at label times and later on label days, so counting any
    # event at or after a label's time changes that label's answer.
    events = events_table(
        [
            ("e1", "u1", "i1", "play", "01-01 10:00"),
            ("e2", "u1", "i1", "play", "01-02 00:00"),
            ("e3", "u1", "i2", "play", "01-02 15:00"),
            ("e4", "u1", "i2", "play", "01-02 16:00"),
            ("e5", "u1", "i3", "play", "01-04 09:00"),
            ("e6", "u1", "i3", "play", "01-05 00:00"),
            ("e7", "u1", "i3", "play", "01-05 13:00"),
        ]
    )
    event_times = [at(w) for w in ["01-01 10:00", "01-02 00:00", "01-02 15:00", "01-02 16:00"]]
    event_times += [at(w) for w in ["01-04 09:00", "01-05 00:00", "01-05 13:00"]]
    label_times = [at(f"01-0{day} 00:00") for day in (2, 3, 4, 5, 6)]
    labels = table({"user_id": ["u1"] * 5, "ts": label_times})
    features = user_activity_features(events, windows=[30])

    result = records(training_set(labels, features, method=method), by=["ts"])
    strictly_before = [sum(t < label for t in event_times) for label in label_times]
    assert strictly_before == [1, 4, 4, 5, 7]
    assert [r["events_30d"] for r in result] == strictly_before
    assert all(r["feature_ts"] <= r["ts"] for r in result)

    # The naive join: every label gets the user's latest feature row.
    latest = features.group_by("user_id").agg(feature_ts=features.feature_ts.max())
    newest = features.join(latest, ["user_id", "feature_ts"])
    naive = records(labels.join(newest, "user_id"), by=["ts"])
    assert [r["events_30d"] for r in naive] == [7] * 5
    assert [r["events_30d"] for r in naive] != strictly_before


def test_training_set_rejects_bad_arguments():
    labels, features = table(LABELS), table(FEATURES)
    with pytest.raises(InvalidArgument, match="'customer'"):
        training_set(labels, features, entity="customer")
    with pytest.raises(InvalidArgument, match="ttl"):
        training_set(labels, features, ttl=0)
    with pytest.raises(InvalidArgument, match="both have the column"):
        training_set(labels.mutate(x=1), features)
    with pytest.raises(InvalidArgument, match="timestamp"):
        training_set(labels.mutate(ts=labels.ts.cast("string")), features)


def test_helpers_reject_bad_arguments():
    events = ibis.table(EVENT_SCHEMA, name="events")
    with pytest.raises(InvalidArgument, match="'customer'"):
        user_activity_features(events, user="customer")
    with pytest.raises(InvalidArgument, match="positive"):
        user_activity_features(events, windows=[7, 0])
    with pytest.raises(InvalidArgument, match="positive"):
        series_rolling_features(
            ibis.table({"series_id": "string", "ts": "timestamp", "value": "float64"}),
            windows=dt.timedelta(hours=-1),
        )
    with pytest.raises(InvalidArgument, match="every"):
        item_popularity_features(events, every="2d")
    with pytest.raises(InvalidArgument, match="half_life"):
        user_item_affinity_features(events, half_life=-3)
    with pytest.raises(InvalidArgument, match="event_types"):
        user_activity_features(events, event_types=["add to cart"])
    with pytest.raises(InvalidArgument, match="timestamp"):
        user_activity_features(events.mutate(ts=events.ts.date()))


# --- splits --------------------------------------------------------------------------------

SPLIT = [
    ("e1", "u1", "i1", "play", "01-01 00:00"),
    ("e2", "u1", "i2", "play", "01-02 00:00"),
    ("e3", "u1", "i3", "play", "01-03 00:00"),
    ("e4", "u1", "i4", "play", "01-03 00:00"),  # same time as e3, larger id: later
    ("e5", "u2", "i1", "play", "01-02 00:00"),
]


def test_temporal_split_cuts_at_one_moment():
    events = events_table(SPLIT)
    train, test = temporal_split(events, cut=dt.datetime(2026, 1, 2))
    assert ids(train) == ["e1"]
    assert ids(test) == ["e2", "e3", "e4", "e5"]
    aware = dt.datetime(2026, 1, 3, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert ids(temporal_split(events, cut=aware).test) == ["e3", "e4"]  # 00:00 UTC
    assert ids(temporal_split(events, cut="2026-01-03").train) == ["e1", "e2", "e5"]
    with pytest.raises(InvalidArgument, match="ISO"):
        temporal_split(events, cut="next tuesday")


def test_leave_last_n_split_holds_out_each_users_latest():
    events = events_table(SPLIT, shuffle_seed=1)
    train, test = leave_last_n_split(events, n=1)
    assert ids(test) == ["e4", "e5"]
    assert ids(train) == ["e1", "e2", "e3"]
    assert ids(leave_last_n_split(events, n=3).test) == ["e2", "e3", "e4", "e5"]
    assert list(test.columns) == list(events.columns)
    with pytest.raises(InvalidArgument, match="n must be"):
        leave_last_n_split(events, n=0)


@pytest.fixture(scope="module")
def many_events() -> ibis.Table:
    """Users with 1 to 12 events each."""
    rows = [
        (f"e{user:02d}-{k:02d}", f"u{user:02d}", f"i{k}", "play", f"01-{1 + k:02d} 00:00")
        for user in range(1, 13)
        for k in range(user)
    ]
    return events_table(rows)


def per_user_counts(expr: ibis.Table) -> dict[str, int]:
    counts = expr.group_by("user_id").agg(n=expr.count()).to_pyarrow().to_pylist()
    return {row["user_id"]: row["n"] for row in counts}


def test_stratified_split_respects_the_ratio_per_user(many_events):
    train, test = stratified_split(many_events, test_ratio=0.25, seed=7)
    held_out = per_user_counts(test)
    for user in range(1, 13):
        assert held_out.get(f"u{user:02d}", 0) == int(0.25 * user + 0.5), user
    assert sorted(ids(train) + ids(test)) == ids(many_events)
    assert not set(ids(train)) & set(ids(test))


def test_stratified_split_is_deterministic_for_a_seed(many_events):
    first = ids(stratified_split(many_events, seed=7).test)
    again = ids(stratified_split(many_events, seed=7).test)
    assert first == again
    assert ids(stratified_split(many_events, seed=8).test) != first
    shuffled = table(many_events.to_pyarrow().to_pydict(), shuffle_seed=5)
    assert ids(stratified_split(shuffled, seed=7).test) == first


def test_splits_reject_bad_arguments(many_events):
    for ratio in (0, 1, 1.5, -0.1):
        with pytest.raises(InvalidArgument, match="test_ratio"):
            stratified_split(many_events, test_ratio=ratio)
    with pytest.raises(InvalidArgument, match="seed"):
        stratified_split(many_events, seed="7")
    with pytest.raises(InvalidArgument, match="'uid'"):
        stratified_split(many_events, row_id="uid")


# --- end to end on generated data ----------------------------------------------------------


def test_helpers_run_end_to_end_on_generated_music(memory_store):
    ingest(memory_store, make_music(users=50, items=80, days=20).tables["events"])
    events = memory_store.table("events")
    total = events.count().execute()

    activity = user_activity_features(events, event_types=["play", "skip", "like"])
    popularity = item_popularity_features(events)
    affinity = user_item_affinity_features(events, weights={"play": 1, "like": 3, "skip": -1})
    for features, keys in [
        (activity, ["user_id"]),
        (popularity, ["item_id"]),
        (affinity, ["user_id", "item_id"]),
    ]:
        rows = features.count().execute()
        assert rows > 0
        assert features.select(*keys, "feature_ts").distinct().count().execute() == rows

    labels = events.filter(events.event_type == "like").select("user_id", "ts", liked=1)
    result = memory_store.execute(training_set(labels, activity, ttl=7))
    assert len(result) == labels.count().execute()
    assert (result["feature_ts"].dropna() <= result["ts"][result["feature_ts"].notna()]).all()

    for train, test in [
        temporal_split(events, cut="2026-01-15"),
        leave_last_n_split(events, n=2),
        stratified_split(events, seed=3),
    ]:
        assert train.count().execute() + test.count().execute() == total
