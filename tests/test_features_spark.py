"""The feature helpers, training sets and splits give the same rows on PySpark as on DuckDB.

On DuckDB `training_set` uses the engine's ASOF join; on PySpark, which has none,
the portable plan. Equal rows here also prove the two plans agree.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from spark_parity import assert_same_rows

from workbench.datasets import make_metrics, make_music
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

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return make_music(users=30, items=40, days=12, seed=5).tables["events"]


@pytest.fixture(scope="module")
def labels(events) -> pa.Table:
    """Every fifth event's user, an hour later: labels between and on feature times."""
    picked = events.take(list(range(0, events.num_rows, 5)))
    later = pc.add(picked["ts"], pa.scalar(dt.timedelta(hours=1), pa.duration("us")))
    return pa.table({"user_id": picked["user_id"], "ts": later, "target": picked["value"]})


def test_user_activity_features(spark, events):
    assert_same_rows(
        lambda t: user_activity_features(t["events"], windows=(1, 7), event_types=("play", "like")),
        {"events": events},
        spark=spark,
    )


def test_item_popularity_features(spark, events):
    assert_same_rows(
        lambda t: item_popularity_features(t["events"], windows=(1, 7), trend_window=3),
        {"events": events},
        spark=spark,
    )


def test_user_item_affinity_features(spark, events):
    assert_same_rows(
        lambda t: user_item_affinity_features(t["events"], half_life=3, lookback=30),
        {"events": events},
        spark=spark,
    )


def test_series_rolling_features(spark):
    observations = make_metrics(series=4, days=5, seed=2).tables["observations"]
    assert_same_rows(
        lambda t: series_rolling_features(t["observations"], windows=(1, 2)),
        {"observations": observations},
        spark=spark,
    )


@pytest.mark.parametrize("ttl", [None, 2])
def test_training_set(spark, events, labels, ttl):
    def build(t):
        features = user_activity_features(t["events"], windows=(7,))
        return training_set(t["labels"], features, ttl=ttl)

    assert_same_rows(build, {"events": events, "labels": labels}, spark=spark)


@pytest.mark.parametrize(
    "split",
    [
        lambda e: temporal_split(e, cut="2026-01-08T00:00:00"),
        lambda e: leave_last_n_split(e, n=2),
        lambda e: stratified_split(e, test_ratio=0.25, seed=7),
    ],
    ids=["temporal", "leave_last_n", "stratified"],
)
@pytest.mark.parametrize("side", [0, 1], ids=["train", "test"])
def test_splits(spark, events, split, side):
    assert_same_rows(lambda t: split(t["events"])[side], {"events": events}, spark=spark)
