"""Synthetic generators: deterministic, well-typed, and their planted truth is recoverable."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from workbench.datasets import (
    SyntheticDataset,
    make_ads,
    make_metrics,
    make_music,
)
from workbench.exceptions import InvalidArgument, WorkbenchError
from workbench.experiments import assign_variant

TS = pa.timestamp("us", tz="UTC")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EVENTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", TS),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("event_type", pa.string()),
        ("value", pa.float64()),
        ("context", pa.string()),
        ("source", pa.string()),
    ]
)
SCHEMAS = {
    "events": EVENTS,
    "items": pa.schema([("item_id", pa.string()), ("attributes", pa.string()), ("updated_at", TS)]),
    "users": pa.schema([("user_id", pa.string()), ("attributes", pa.string()), ("updated_at", TS)]),
    "assignments": pa.schema(
        [
            ("experiment", pa.string()),
            ("unit_id", pa.string()),
            ("variant", pa.string()),
            ("assigned_at", TS),
        ]
    ),
    "observations": pa.schema([("series_id", pa.string()), ("ts", TS), ("value", pa.float64())]),
    "labels": pa.schema(
        [
            ("target", pa.string()),
            ("series_id", pa.string()),
            ("ts", TS),
            ("label", pa.int8()),
            ("source", pa.string()),
            ("labeled_at", TS),
        ]
    ),
}
SMALL = {
    "music": lambda seed: make_music(users=40, items=80, days=10, seed=seed),
    "ads": lambda seed: make_ads(users=300, days=5, seed=seed),
    "metrics": lambda seed: make_metrics(series=6, days=7, seed=seed, anomaly_rate=0.03),
}
TABLES = {
    "music": ["items", "users", "events"],
    "ads": ["assignments", "events"],
    "metrics": ["observations", "labels"],
}


@pytest.fixture(scope="module")
def music() -> SyntheticDataset:
    return make_music()


@pytest.fixture(scope="module")
def ads() -> SyntheticDataset:
    return make_ads(users=20_000)


@pytest.fixture(scope="module")
def metrics() -> SyntheticDataset:
    return make_metrics()


def ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


# --------------------------------------------------------------------------- all generators


@pytest.mark.parametrize("kind", SMALL)
def test_same_seed_gives_identical_bytes_and_truth(kind):
    first, second = SMALL[kind](7), SMALL[kind](7)
    assert first.kind == kind
    assert list(first.tables) == TABLES[kind]  # ingest order
    for name in first.tables:
        assert ipc_bytes(first.tables[name]) == ipc_bytes(second.tables[name]), name
    assert first.truth == second.truth


@pytest.mark.parametrize("kind", SMALL)
def test_different_seed_gives_different_data(kind):
    first, second = SMALL[kind](1), SMALL[kind](2)
    last = list(first.tables)[-1]  # events / labels: the rows that carry the behaviour
    assert not first.tables[last].equals(second.tables[last])
    if kind == "ads":
        # assignment hashes the experiment name, not the seed: same split, same truth
        for column in ("unit_id", "variant"):
            assert first.tables["assignments"][column].equals(second.tables["assignments"][column])
        assert first.truth == second.truth
    else:
        assert first.truth != second.truth


@pytest.mark.parametrize("kind", SMALL)
def test_columns_and_types_are_exactly_the_store_schemas(kind):
    for name, table in SMALL[kind](0).tables.items():
        assert table.schema.equals(SCHEMAS[name]), f"{kind}.{name}: {table.schema}"


@pytest.mark.parametrize("kind", SMALL)
def test_truth_is_plain_json(kind):
    truth = SMALL[kind](0).truth
    assert json.loads(json.dumps(truth)) == truth


@pytest.mark.parametrize("kind", ["music", "ads"])
def test_events_have_unique_prefixed_ids_sorted_by_time(kind):
    events = SMALL[kind](0).tables["events"]
    ids = events["event_id"].to_pylist()
    assert len(set(ids)) == len(ids) > 0
    assert all(i.startswith(f"{kind}-") for i in ids)
    ts = events["ts"].to_numpy()
    assert (np.diff(ts.astype(np.int64)) >= 0).all()
    assert set(events["source"].to_pylist()) == {f"synthetic.{kind}"}
    assert all(isinstance(json.loads(c), dict) for c in set(events["context"].to_pylist()))


def test_music_and_ads_event_ids_never_collide():
    music_ids = set(SMALL["music"](0).tables["events"]["event_id"].to_pylist())
    ads_ids = set(SMALL["ads"](0).tables["events"]["event_id"].to_pylist())
    assert not music_ids & ads_ids


# --------------------------------------------------------------------------- music


def test_music_sizes_and_time_window_are_honoured():
    data = make_music(users=30, items=70, days=9, genres=5, start="2026-03-02")
    assert data.tables["users"].num_rows == len(data.truth["user_taste"]) == 30
    assert data.tables["items"].num_rows == len(data.truth["item_genre"]) == 70
    assert len(data.truth["genres"]) == 5
    assert all(len(t) == 5 and abs(sum(t) - 1) < 1e-9 for t in data.truth["user_taste"].values())
    ts = data.tables["events"]["ts"]
    first = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert pc.min(ts).as_py() >= first
    assert pc.max(ts).as_py() < first + dt.timedelta(days=9)
    events = data.tables["events"]
    assert set(events["user_id"].to_pylist()) <= set(data.truth["user_taste"])
    assert set(events["item_id"].to_pylist()) <= set(data.truth["item_genre"])


def test_music_item_attributes_carry_genre_and_popularity(music):
    items = music.tables["items"].to_pylist()
    for row in items[:50]:
        attributes = json.loads(row["attributes"])
        assert (
            attributes["genre"] == music.truth["genres"][music.truth["item_genre"][row["item_id"]]]
        )
        assert attributes["popularity"] == music.truth["item_popularity"][row["item_id"]]
    assert abs(sum(music.truth["item_popularity"].values()) - 1) < 1e-9


def test_music_values_are_seconds_for_plays_and_one_otherwise(music):
    events = music.tables["events"]
    value = events["value"].to_numpy()
    kind = np.asarray(events["event_type"].to_pylist())
    assert set(kind) == {"play", "skip", "like"}
    assert (value[kind != "play"] == 1.0).all()
    assert (value[kind == "play"] > 0).all() and value[kind == "play"].mean() > 60


def test_music_users_play_their_favourite_genre_more_than_their_least(music):
    events = music.tables["events"].filter(pc.equal(music.tables["events"]["event_type"], "play"))
    genre_of = music.truth["item_genre"]
    plays = Counter(
        zip(
            events["user_id"].to_pylist(),
            (genre_of[i] for i in events["item_id"].to_pylist()),
            strict=True,
        )
    )
    favourite, least = [], []
    for user, taste in music.truth["user_taste"].items():
        favourite.append(plays[user, int(np.argmax(taste))])
        least.append(plays[user, int(np.argmin(taste))])
    favourite, least = np.array(favourite), np.array(least)
    assert favourite.sum() > 20 * least.sum()
    assert (favourite > least).mean() > 0.9


def test_music_taste_times_popularity_beats_popularity_alone(music):
    # The planted scorer is an oracle recommender; the point is that the data
    # rewards personalization, so a learned model has room to beat popularity.
    truth = music.truth
    items = list(truth["item_genre"])
    popularity = np.array([truth["item_popularity"][i] for i in items])
    genre = np.array([truth["item_genre"][i] for i in items])
    users = list(truth["user_taste"])
    taste = np.array([truth["user_taste"][u] for u in users])
    k = 20
    personal = np.argsort(-(taste[:, genre] * popularity), axis=1)[:, :k]
    popular = np.argsort(-popularity)[:k]
    events = music.tables["events"]
    user_index = {u: n for n, u in enumerate(users)}
    item_index = {i: n for n, i in enumerate(items)}
    rows = np.array([user_index[u] for u in events["user_id"].to_pylist()])
    cols = np.array([item_index[i] for i in events["item_id"].to_pylist()])
    personal_hits = (personal[rows] == cols[:, None]).any(axis=1).mean()
    popular_hits = np.isin(cols, popular).mean()
    assert personal_hits > 1.2 * popular_hits


def test_music_weekends_are_busier_by_the_planted_multiplier(music):
    days = pc.floor_temporal(music.tables["events"]["ts"], unit="day").to_pylist()
    per_day = Counter(days)
    weekend = [n for day, n in per_day.items() if day.weekday() >= 5]
    weekday = [n for day, n in per_day.items() if day.weekday() < 5]
    ratio = np.mean(weekend) / np.mean(weekday)
    assert ratio == pytest.approx(music.truth["weekend_multiplier"], rel=0.1)


def test_music_evening_is_the_busiest_time_of_day(music):
    hours = np.bincount(pc.hour(music.tables["events"]["ts"]).to_numpy(), minlength=24)
    peak = music.truth["daily_peak_hour"]
    assert 17 <= peak <= 23
    assert abs(int(np.argmax(hours)) - peak) <= 1
    assert hours[peak] > 3 * hours[4]  # small hours are quiet


def test_music_more_genres_than_names_get_generic_names():
    data = make_music(users=5, items=40, days=2, genres=14)
    assert data.truth["genres"][-1] == "genre_13"
    assert len(set(data.truth["genres"])) == 14


# --------------------------------------------------------------------------- ads


def decode(column: pa.ChunkedArray, parse=lambda text: text) -> np.ndarray:
    """Column values as a numpy array, parsing each distinct value once (fast on 350k rows)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    distinct = [parse(v) for v in encoded.dictionary.to_pylist()]
    return np.asarray(distinct, dtype=object)[encoded.indices.to_numpy()]


@pytest.fixture(scope="module")
def ads_events(ads) -> dict[str, np.ndarray]:
    events = ads.tables["events"]
    context = decode(events["context"], json.loads)
    units = ads.tables["assignments"]["unit_id"].to_pylist()
    return {
        "period": np.array([c["period"] for c in context]),
        "variant": np.array([c.get("variant", "") for c in context]),
        "kind": decode(events["event_type"]).astype(str),
        "item": decode(events["item_id"]).astype(str),
        "unit": pc.index_in(events["user_id"], pa.array(units)).to_numpy(),
        "ts": events["ts"].cast(pa.int64()).to_numpy(),
    }


def test_ads_observed_lift_is_near_the_true_lift(ads, ads_events):
    post = ads_events["period"] == "post"
    variant, kind = ads_events["variant"], ads_events["kind"]
    ctr = {}
    for name in ads.truth["variants"]:
        mine = post & (variant == name)
        ctr[name] = (mine & (kind == "click")).sum() / (mine & (kind == "impression")).sum()
        assert ctr[name] == pytest.approx(ads.truth["true_ctr"][name], rel=0.08)
    assert ctr["treatment"] / ctr["control"] - 1 == pytest.approx(ads.truth["true_lift"], abs=0.05)
    assert ads.truth["true_lift"] == 0.10


def test_ads_assignments_follow_assign_variant_and_split_evenly(ads):
    table = ads.tables["assignments"]
    variants = ads.truth["variants"]
    assert table.num_rows == 20_000
    assert set(table["experiment"].to_pylist()) == {"ads_creative"}
    units, assigned = table["unit_id"].to_pylist(), table["variant"].to_pylist()
    for unit, variant in list(zip(units, assigned, strict=True))[:500]:
        assert assign_variant(unit, experiment="ads_creative", variants=variants) == variant
    counts = Counter(assigned)
    assert counts == ads.truth["units_per_variant"]
    assert abs(counts["control"] - 10_000) < 400  # hashing splits about evenly


def test_ads_each_unit_sees_only_its_variants_creative_after_start(ads, ads_events):
    start_us = int(START.timestamp()) * 1_000_000
    window_us = 14 * 86_400 * 1_000_000
    ts, item = ads_events["ts"], ads_events["item"]
    pre = ads_events["period"] == "pre"
    assert ((ts[pre] >= start_us - window_us) & (ts[pre] < start_us)).all()
    assert (item[pre] == "creative_0").all()
    assert ((ts[~pre] >= start_us) & (ts[~pre] < start_us + window_us)).all()
    assigned = np.asarray(ads.tables["assignments"]["variant"].to_pylist())
    assert (ads_events["variant"][~pre] == assigned[ads_events["unit"][~pre]]).all()
    creative = np.where(ads_events["variant"][~pre] == "control", "creative_0", "creative_1")
    assert (item[~pre] == creative).all()


def test_ads_pre_period_predicts_post_period_clicks(ads_events):
    # CUPED only helps when the pre-period covariate correlates with the outcome.
    clicks = ads_events["kind"] == "click"
    units, period = ads_events["unit"], ads_events["period"]
    before = np.bincount(units[clicks & (period == "pre")], minlength=20_000)
    after = np.bincount(units[clicks & (period == "post")], minlength=20_000)
    assert np.corrcoef(before, after)[0, 1] > 0.2


def test_ads_many_creatives_name_treatments_by_number():
    data = make_ads(users=600, creatives=3, days=3)
    assert data.truth["variants"] == ["control", "treatment_1", "treatment_2"]
    assert set(data.tables["events"]["item_id"].to_pylist()) == {
        "creative_0",
        "creative_1",
        "creative_2",
    }
    assert data.truth["true_ctr"]["treatment_2"] == pytest.approx(0.05 * 1.1)


def test_assign_variant_is_stable_and_honours_weights():
    variants = ["control", "treatment"]
    units = [f"user_{n}" for n in range(2000)]
    first = [assign_variant(u, experiment="e", variants=variants) for u in units]
    assert first == [assign_variant(u, experiment="e", variants=variants) for u in units]
    assert first != [assign_variant(u, experiment="other", variants=variants) for u in units]
    assert {
        assign_variant(u, experiment="e", variants=variants, weights=[1, 0]) for u in units
    } == {"control"}
    skewed = Counter(
        assign_variant(u, experiment="e", variants=variants, weights=[9, 1]) for u in units
    )
    assert 0.87 < skewed["control"] / len(units) < 0.93


@pytest.mark.parametrize(
    ("variants", "weights", "message"),
    [
        ([], None, "variants must be"),
        (["a", "a"], None, "variants must be"),
        (["a", "b"], [1], "weights must be 2"),
        (["a", "b"], [1, -1], "weights must be 2"),
        (["a", "b"], [0, 0], "weights must be 2"),
    ],
)
def test_assign_variant_rejects_bad_variants_and_weights(variants, weights, message):
    with pytest.raises(InvalidArgument, match=message):
        assign_variant("u", experiment="e", variants=variants, weights=weights)


# --------------------------------------------------------------------------- metrics


def test_metrics_sizes_and_series_names(metrics):
    assert metrics.tables["observations"].num_rows == 20 * 28 * 24
    assert len(metrics.truth["series"]) == 20 and metrics.truth["freq_minutes"] == 60
    assert {s.split(".")[1] for s in metrics.truth["series"]} == {
        "cpu",
        "error_rate",
        "latency_ms",
        "requests",
    }
    assert set(metrics.tables["observations"]["series_id"].to_pylist()) == set(
        metrics.truth["series"]
    )
    small = make_metrics(series=3, days=2, freq_minutes=15)
    assert small.tables["observations"].num_rows == 3 * 2 * 96
    assert pc.min(small.tables["observations"]["value"]).as_py() >= 0


def test_metrics_every_label_points_at_an_observation(metrics):
    observed = set(
        zip(
            metrics.tables["observations"]["series_id"].to_pylist(),
            metrics.tables["observations"]["ts"].to_pylist(),
            strict=True,
        )
    )
    labels = metrics.tables["labels"].to_pylist()
    for row in labels:
        assert (row["series_id"], row["ts"]) in observed
        assert row["target"] == f"{row['series_id']}@{row['ts'].isoformat()}"
        assert row["source"] == "synthetic"
    assert {row["label"] for row in labels} == {0, 1}


def test_metrics_every_truth_anomaly_is_labelled_point_by_point(metrics):
    positives = {r["target"] for r in metrics.tables["labels"].to_pylist() if r["label"] == 1}
    expected = set()
    step = dt.timedelta(minutes=metrics.truth["freq_minutes"])
    for anomaly in metrics.truth["anomalies"]:
        first, last = (dt.datetime.fromisoformat(anomaly[k]) for k in ("start", "end"))
        assert first + (anomaly["points"] - 1) * step == last
        expected |= {
            f"{anomaly['series_id']}@{(first + n * step).isoformat()}"
            for n in range(anomaly["points"])
        }
    assert positives == expected
    kinds = {a["kind"] for a in metrics.truth["anomalies"]}
    assert kinds == {"spike", "level_shift", "drift"}
    # about anomaly_rate of all points are anomalous
    assert len(expected) == pytest.approx(0.01 * 20 * 28 * 24, rel=0.1)


def test_metrics_spikes_stand_out_from_the_series_median(metrics):
    obs = metrics.tables["observations"]
    series = np.asarray(obs["series_id"].to_pylist())
    values = obs["value"].to_numpy()
    ts = np.asarray([t.isoformat() for t in obs["ts"].to_pylist()])
    spikes = [a for a in metrics.truth["anomalies"] if a["kind"] == "spike"]
    assert spikes
    for spike in spikes:
        mine = values[series == spike["series_id"]]
        median = np.median(mine)
        spread = 1.4826 * np.median(np.abs(mine - median))
        value = values[(series == spike["series_id"]) & (ts == spike["start"])][0]
        assert abs(value - median) > 3 * spread, spike


def test_metrics_without_anomalies_has_only_negative_labels():
    data = make_metrics(series=4, days=3, anomaly_rate=0)
    assert data.truth["anomalies"] == []
    labels = data.tables["labels"]["label"].to_pylist()
    assert labels and set(labels) == {0}


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("make", "arguments", "message"),
    [
        (make_music, {"users": 0}, r"users must be an integer >= 1, got 0"),
        (make_music, {"items": -5}, r"items must be an integer >= 1"),
        (make_music, {"days": -1}, r"days must be an integer >= 1, got -1"),
        (make_music, {"genres": 0}, r"genres must be an integer >= 1"),
        (make_music, {"users": 2.5}, r"users must be an integer >= 1, got 2.5"),
        (make_music, {"users": True}, r"users must be an integer"),
        (make_ads, {"users": 0}, r"users must be an integer >= 1"),
        (make_ads, {"creatives": 1}, r"creatives must be an integer >= 2, got 1"),
        (make_ads, {"lift": -1.5}, r"lift must be a number in \[-1.0, 19.0\], got -1.5"),
        (make_ads, {"base_ctr": 0.5, "lift": 1.5}, r"lift must be a number in \[-1.0, 1.0\]"),
        (make_ads, {"base_ctr": 0}, r"base_ctr must be a number in \(0.0, 1.0\]"),
        (make_ads, {"days": 0}, r"days must be an integer >= 1"),
        (make_metrics, {"series": 0}, r"series must be an integer >= 1"),
        (make_metrics, {"days": -3}, r"days must be an integer >= 1"),
        (make_metrics, {"freq_minutes": 2000}, r"freq_minutes must be an integer in \[1, 1440\]"),
        (make_metrics, {"anomaly_rate": 0.5}, r"anomaly_rate must be a number in \[0.0, 0.2\]"),
        (make_metrics, {"start": "2026-01-01T05:00"}, r"start must be a UTC date"),
        (make_music, {"start": "not a date"}, r"start must be a UTC date"),
    ],
)
def test_bad_arguments_name_the_argument_and_its_range(make, arguments, message):
    with pytest.raises(InvalidArgument, match=message) as raised:
        make(**arguments)
    # still a ValueError for callers that catch that, and a WorkbenchError for the CLI
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, WorkbenchError)


def test_start_accepts_dates_and_midnight_datetimes_alike():
    as_text = make_metrics(series=2, days=1, start="2026-02-01")
    assert as_text.tables["observations"].equals(
        make_metrics(series=2, days=1, start=dt.date(2026, 2, 1)).tables["observations"]
    )
    assert as_text.tables["observations"].equals(
        make_metrics(series=2, days=1, start=dt.datetime(2026, 2, 1, tzinfo=dt.UTC)).tables[
            "observations"
        ]
    )
    lasting = make_ads(users=50, days=2, lift=-1.0)  # the bounds themselves are allowed
    assert lasting.truth["true_ctr"]["treatment"] == 0.0


@pytest.mark.parametrize("kind", SMALL)
def test_tables_fit_the_store_declarations(kind):
    # The generated tables are meant for ingest: every column must be declared
    # for its table, and every column an input must provide must be present.
    from workbench.schema import TABLES as DECLARED

    for name, table in SMALL[kind](0).tables.items():
        assert set(table.column_names) <= set(DECLARED[name].columns), name
        assert set(DECLARED[name].required) <= set(table.column_names), name
