"""The event explorer's queries, on a tiny store whose every answer is known."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from workbench.capture import ingest
from workbench.exceptions import InvalidArgument
from workbench.explore import (
    MISSING,
    drill_down,
    events_over_time,
    explore_options,
    filter_events,
    plot_events_over_time,
    plot_segments,
    plot_top_items,
    segment_breakdown,
    top_items,
    top_users,
    with_segment,
)

T = dt.datetime

# Monday 2026-01-05 to Monday 2026-01-12: three users, three items, two sources.
EVENTS = pd.DataFrame(
    [
        ("e01", T(2026, 1, 5, 9), "ann", "i1", "play", 200.0, "web", "mobile"),
        ("e02", T(2026, 1, 5, 10), "ann", "i2", "play", 100.0, "web", "mobile"),
        ("e03", T(2026, 1, 5, 23, 59), "bob", "i1", "play", 50.0, "app", "desktop"),
        ("e04", T(2026, 1, 6, 0, 0), "bob", "i1", "like", None, "app", None),
        ("e05", T(2026, 1, 7, 12), "cy", "i3", "play", 10.0, "web", "mobile"),
        ("e06", T(2026, 1, 7, 13), "ann", "i1", "skip", None, "web", "mobile"),
        ("e07", T(2026, 1, 12, 8), "cy", "i2", "play", 30.0, "app", "desktop"),
        ("e08", T(2026, 1, 12, 9), "bob", None, "visit", None, "app", "desktop"),
    ],
    columns=["event_id", "ts", "user_id", "item_id", "event_type", "value", "source", "device"],
)
USERS = pd.DataFrame(
    {
        "user_id": ["ann", "bob", "bob", "cy"],
        "updated_at": [T(2026, 1, 1), T(2026, 1, 1), T(2026, 1, 3), T(2026, 1, 1)],
        # bob moved from FR to DE: his latest record counts. cy has no country.
        "country": ["FR", "FR", "DE", None],
        "plan": ["free", "free", "premium", "free"],
    }
)
ITEMS = pd.DataFrame(
    {
        "item_id": ["i1", "i2", "i3"],
        "updated_at": [T(2026, 1, 1)] * 3,
        "title": ["One", "Two", "Three"],
        "genre": ["rock", "jazz", "rock"],
        "length_s": [200, 180, 240],
    }
)


@pytest.fixture
def store(memory_store):
    for table, frame in (("events", EVENTS), ("users", USERS), ("items", ITEMS)):
        report = ingest(memory_store, frame, table=table)
        assert report.accepted == len(frame), report.reasons
    return memory_store


@pytest.fixture
def events(store):
    return store.table("events")


def _ids(table) -> list[str]:
    return sorted(table.to_pandas()["event_id"])


# --- filters ----------------------------------------------------------------------------


def test_a_date_end_keeps_the_whole_day_and_a_time_end_is_exclusive(events):
    one_day = filter_events(events, start="2026-01-05", end="2026-01-05")
    assert _ids(one_day) == ["e01", "e02", "e03"]
    assert _ids(filter_events(events, start=dt.date(2026, 1, 5), end=T(2026, 1, 6))) == [
        "e01",
        "e02",
        "e03",
    ]
    assert _ids(filter_events(events, start="2026-01-06T00:00:00Z", end="2026-01-07")) == [
        "e04",
        "e05",
        "e06",
    ]


def test_times_with_a_zone_are_compared_in_utc(events):
    paris = dt.timezone(dt.timedelta(hours=1))
    # 01:00 in Paris on the 6th is midnight UTC: e04 is at that moment.
    assert _ids(filter_events(events, start=T(2026, 1, 6, 1, tzinfo=paris), end="2026-01-06")) == [
        "e04"
    ]


def test_filters_combine_and_an_empty_selection_keeps_nothing(events):
    chosen = filter_events(events, event_types=["play"], sources=["web"], user_ids=["ann"])
    assert _ids(chosen) == ["e01", "e02"]
    assert _ids(filter_events(events, item_ids="i1")) == ["e01", "e03", "e04", "e06"]
    assert _ids(filter_events(events, event_types=[])) == []


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-01-07", "2026-01-05", "must be before end"),
        ("next tuesday", None, "is not a time"),
        (20260105, None, "is not a time"),
    ],
)
def test_a_bad_window_is_refused_with_what_to_do(events, start, end, message):
    with pytest.raises(InvalidArgument, match=message):
        filter_events(events, start=start, end=end)


# --- time series --------------------------------------------------------------------------


def test_events_per_day_count_events_and_distinct_users(events):
    daily = events_over_time(events, grain="day").to_pandas()
    assert daily["period"].dt.day.tolist() == [5, 6, 7, 12]
    assert daily["events"].tolist() == [3, 1, 2, 2]
    assert daily["users"].tolist() == [2, 1, 2, 2]


def test_weeks_start_on_monday_and_a_split_partitions_every_event(events, store):
    weekly = events_over_time(events, grain="week").to_pandas()
    assert weekly["period"].tolist() == [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-12")]
    assert weekly["events"].tolist() == [6, 2]
    split = events_over_time(
        events, grain="week", split_by="user.country", users=store.table("users")
    ).to_pandas()
    assert split["events"].sum() == len(EVENTS)
    first_week = split[split["period"] == pd.Timestamp("2026-01-05")]
    assert dict(zip(first_week["segment"], first_week["events"], strict=True)) == {
        "DE": 2,
        "FR": 3,
        MISSING: 1,
    }


def test_an_unknown_grain_names_the_grains(events):
    with pytest.raises(InvalidArgument, match="hour, day, week, month"):
        events_over_time(events, grain="fortnight")


# --- top items and users --------------------------------------------------------------


def test_top_items_rank_by_events_with_ties_broken_by_item_id(events):
    top = top_items(events, n=10).to_pandas()
    assert top["item_id"].tolist() == ["i1", "i2", "i3"]  # the visit without an item is left out
    assert top["rank"].tolist() == [1, 2, 3]
    assert top["events"].tolist() == [4, 2, 1]
    assert top["users"].tolist() == [2, 2, 1]
    assert top["value"].tolist() == [250.0, 130.0, 10.0]
    assert top_items(events, n=2, rank_by="users").to_pandas()["item_id"].tolist() == [
        "i1",
        "i2",
    ]


def test_top_items_show_attributes_of_the_latest_item_record(events, store):
    ingest(
        store,
        pd.DataFrame(
            {"item_id": ["i1"], "updated_at": [T(2026, 1, 9)], "title": ["One (remaster)"]}
        ),
        table="items",
    )
    top = top_items(
        events, n=1, items=store.table("items"), attributes=["title", "genre", "length_s"]
    ).to_pandas()
    # The newest record of i1 has a title but no genre: that reads as missing, not stale.
    assert top.loc[0, "title"] == "One (remaster)"
    assert top.loc[0, "genre"] == MISSING
    assert top.loc[0, "length_s"] == MISSING


def test_top_items_refuse_bad_arguments(events):
    with pytest.raises(InvalidArgument, match="n must be an integer >= 1"):
        top_items(events, n=0)
    with pytest.raises(InvalidArgument, match="rank_by must be one of"):
        top_items(events, rank_by="revenue")
    with pytest.raises(InvalidArgument, match="need the items table"):
        top_items(events, attributes=["title"])


def test_top_users_are_the_most_active(events):
    users = top_users(events, n=2).to_pandas()
    # A tie on events goes to the user active most recently (bob, on the 12th).
    assert users["user_id"].tolist() == ["bob", "ann"]
    assert users["events"].tolist() == [3, 3]
    assert users["items"].tolist() == [1, 2]  # bob's visit has no item


# --- segments -------------------------------------------------------------------------


def test_a_context_segment_reads_the_events_json(events):
    devices = segment_breakdown(events, "context.device").to_pandas()
    assert dict(zip(devices["segment"], devices["events"], strict=True)) == {
        "mobile": 4,
        "desktop": 3,
        MISSING: 1,
    }
    assert devices["share"].sum() == pytest.approx(1.0)
    assert devices["events"].is_monotonic_decreasing


def test_user_and_item_segments_use_the_latest_record(events, store):
    countries = segment_breakdown(events, "user.country", users=store.table("users")).to_pandas()
    assert dict(zip(countries["segment"], countries["users"], strict=True)) == {
        "FR": 1,
        "DE": 1,
        MISSING: 1,
    }
    genres = segment_breakdown(events, "item.genre", items=store.table("items")).to_pandas()
    # The visit has no item, so no genre: it is counted, as missing, never dropped.
    assert dict(zip(genres["segment"], genres["events"], strict=True)) == {
        "rock": 5,
        "jazz": 2,
        MISSING: 1,
    }
    lengths = with_segment(events, "item.length_s", items=store.table("items")).to_pandas()
    assert set(lengths["segment"]) == {"200", "180", "240", MISSING}


def test_a_segment_needs_its_table_and_a_known_form(events):
    with pytest.raises(InvalidArgument, match=r"pass users=store.table\('users'\)"):
        segment_breakdown(events, "user.country")
    with pytest.raises(InvalidArgument, match="Unknown segment 'country'"):
        segment_breakdown(events, "country")


# --- drill-down -----------------------------------------------------------------------


def test_a_user_drill_down_shows_their_events_types_and_items(events):
    drill = drill_down(events, user_id="ann")
    assert drill.kind == "user" and drill.entity_id == "ann"
    history = drill.events.to_pandas()
    assert history["event_id"].tolist() == ["e06", "e02", "e01"]  # newest first
    by_type = drill.by_event_type.to_pandas().set_index("event_type")
    assert by_type["events"].to_dict() == {"play": 2, "skip": 1}
    assert by_type.loc["play", "first_ts"] == pd.Timestamp("2026-01-05 09:00")
    items = drill.counterparts.to_pandas()
    assert items["item_id"].tolist() == ["i1", "i2"]
    assert items["events"].tolist() == [2, 1]
    assert drill.over_time.to_pandas()["events"].tolist() == [2, 1]


def test_an_item_drill_down_lists_its_users(events):
    drill = drill_down(events, item_id="i1", counterparts=1)
    assert sorted(drill.events.to_pandas()["event_id"]) == ["e01", "e03", "e04", "e06"]
    # ann and bob have 2 events each with i1; ann's latest is later.
    assert drill.counterparts.to_pandas()["user_id"].tolist() == ["ann"]


def test_a_drill_down_into_an_unknown_user_is_empty(events):
    drill = drill_down(events, user_id="nobody")
    assert drill.events.to_pandas().empty
    assert drill.counterparts.to_pandas().empty


def test_a_drill_down_needs_exactly_one_id(events):
    with pytest.raises(InvalidArgument, match="exactly one"):
        drill_down(events)
    with pytest.raises(InvalidArgument, match="exactly one"):
        drill_down(events, user_id="ann", item_id="i1")


# --- what the controls offer ----------------------------------------------------------


def test_explore_options_list_what_the_store_holds(store):
    options = explore_options(store)
    assert options.events == len(EVENTS)
    assert options.event_types == ["like", "play", "skip", "visit"]
    assert options.sources == ["app", "web"]
    assert options.first_ts == T(2026, 1, 5, 9) and options.last_ts == T(2026, 1, 12, 9)
    assert options.segments == [
        "event_type",
        "source",
        "context.device",
        "user.country",
        "user.plan",
        "item.genre",
        "item.length_s",
        "item.title",
    ]


def test_explore_options_of_an_empty_store(memory_store):
    options = explore_options(memory_store)
    assert options.events == 0
    assert options.first_ts is None and options.event_types == []
    assert options.segments == ["event_type", "source"]


def test_every_segment_offered_is_accepted(store):
    events = store.table("events")
    for segment in explore_options(store).segments:
        frame = segment_breakdown(
            events, segment, users=store.table("users"), items=store.table("items")
        ).to_pandas()
        assert frame["events"].sum() == len(EVENTS), segment


# --- charts ---------------------------------------------------------------------------


def test_the_charts_draw_the_executed_frames(events, store):
    import vl_convert

    series = events_over_time(events, split_by="event_type").to_pandas()
    charts = [
        plot_events_over_time(series),
        plot_top_items(top_items(events).to_pandas()),
        plot_segments(segment_breakdown(events, "source").to_pandas()),
    ]
    for chart in charts:
        svg = vl_convert.vegalite_to_svg(chart.to_dict())
        assert svg.startswith("<svg") and "<path" in svg
    with pytest.raises(InvalidArgument, match=r"events_over_time\(\.\.\.\)"):
        plot_events_over_time(pd.DataFrame({"when": [1]}))
