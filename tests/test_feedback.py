"""Feedback semantics and scopes: what each event means, and which events a job reads."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.capture import ingest
from workbench.exceptions import ConfigError
from workbench.feedback import EXCLUDE, WEIGHT, Feedback
from workbench.scope import Scope

EVENTS = pd.DataFrame(
    {
        "event_id": [f"e{i}" for i in range(8)],
        "ts": "2026-03-01T12:00:00Z",
        "user_id": ["u1", "u1", "u1", "u2", "u2", "u3", "u3", "u3"],
        "item_id": ["a", "a", "b", "a", "c", "x", "x", "r"],
        "event_type": ["play", "like", "skip", "play", "share", "impression", "click", "rating"],
        "value": [200.0, 1.0, 1.0, 180.0, 1.0, 1.0, 1.0, 3.0],
        "source": ["music", "music", "music", "music", "music", "ads", "ads", "films"],
    }
)


@pytest.fixture
def store(memory_store):
    assert ingest(memory_store, EVENTS).accepted == len(EVENTS)
    return memory_store


def test_each_event_type_means_one_thing_and_undeclared_ones_are_named(store):
    feedback = Feedback.parse(
        {
            "interactions": {"play": 1, "like": 3, "rating": {"weight": 1, "min_value": 4}},
            "negative": {"skip": "exclude"},
            "rewards": ["click"],
            "ignored": ["impression"],
        }
    )
    coverage = feedback.coverage(store.table("events")).set_index("event_type")
    assert coverage.loc["like", "meaning"] == "interaction, weight 3"
    assert coverage.loc["skip", "meaning"] == "negative: excluded, never recommended again"
    assert coverage.loc["rating", "meaning"] == (
        "interaction, weight 1 when value >= 4 (else seen only)"
    )
    assert coverage.loc["click", "meaning"] == "reward"
    assert coverage["events"].sum() == len(EVENTS)  # every event is accounted for
    assert feedback.undeclared(store.table("events")) == {"share": 1}


def test_weights_follow_the_semantics_and_the_sql_says_the_same(store):
    feedback = Feedback.parse(
        {
            "interactions": {"play": 1, "like": 3, "rating": {"weight": 2, "min_value": 4}},
            "negative": {"skip": -1.0},
        }
    )
    weighted = feedback.weighted(store.table("events")).execute().set_index("event_id")
    assert weighted[WEIGHT].to_dict() == {"e0": 1.0, "e1": 3.0, "e2": -1.0, "e3": 1.0, "e7": 0.0}
    in_sql = store.sql(
        f"SELECT event_id, {feedback.weight_sql()} AS w FROM events WHERE w IS NOT NULL"
    ).to_pandas()
    assert dict(zip(in_sql["event_id"], in_sql["w"], strict=True)) == weighted[WEIGHT].to_dict()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"interactions": {"play": 0}}, r"interactions.play must be a weight > 0"),
        ({"interactions": {"play": True}}, r"interactions.play must be a weight > 0"),
        ({"negative": {"skip": 1}}, r'negative.skip must be "exclude" or a weight < 0'),
        ({"negative": {"play": "exclude"}}, r"'play' is both in interactions and in negative"),
        ({"rewards": "click"}, r"rewards must be a list"),
        ({"interactions": {}}, r"interactions is empty"),
        ({"likes": {"like": 1}}, r"unknown key\(s\) likes"),
        ({"interactions": {"rating": {"min": 4}}}, r"takes weight and min_value, not min"),
    ],
)
def test_a_declaration_that_cannot_be_meant_is_refused_naming_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        Feedback.parse(section)


def test_the_defaults_suit_the_demo_sets_and_round_trip_through_what_versions_record():
    feedback = Feedback()
    assert feedback.negative == {"skip": EXCLUDE}
    assert set(feedback.interactions) == {"play", "like", "rating"}
    assert Feedback.parse(feedback.to_dict()) == feedback
    assert Feedback.from_config({}) == feedback


def test_a_scope_keeps_one_products_events_and_its_sql_agrees(store):
    music = Scope.parse({"sources": ["music"], "event_types": ["play", "skip"]}, name="music")
    kept = music.events(store.table("events")).execute()
    assert sorted(kept["event_id"]) == ["e0", "e2", "e3"]
    in_sql = store.sql(f"SELECT event_id FROM events WHERE {music.events_sql()} ORDER BY 1")
    assert in_sql.column("event_id").to_pylist() == ["e0", "e2", "e3"]
    assert music.describe() == "music: source music; event types play, skip"
    assert Scope.from_dict(music.to_dict()) == Scope(
        name="music", sources=("music",), event_types=("play", "skip")
    )
    assert Scope().events(store.table("events")).count().execute() == len(EVENTS)


def test_a_scope_of_series_keeps_the_series_with_its_prefixes(memory_store):
    points = pd.DataFrame(
        {"series_id": ["host_1.cpu", "loop.ctr", "host_2.cpu"], "ts": "2026-03-01", "value": 1.0}
    )
    ingest(memory_store, points, table="observations")
    hosts = Scope.parse({"series": ["host_"]})
    kept = hosts.observations(memory_store.table("observations")).execute()
    assert sorted(kept["series_id"]) == ["host_1.cpu", "host_2.cpu"]
    in_sql = memory_store.sql(
        f"SELECT count(*) AS n FROM observations WHERE {hosts.observations_sql()}"
    )
    assert in_sql.column("n").to_pylist() == [2]


def test_scopes_are_named_in_the_configuration_and_a_typo_lists_the_names():
    config = {"scopes": {"music": {"sources": ["synthetic.music"], "description": "the app"}}}
    assert Scope.named("music", config).sources == ("synthetic.music",)
    with pytest.raises(ConfigError, match=r"No scope 'musik'.*scopes: music"):
        Scope.named("musik", config)
    with pytest.raises(ConfigError, match=r"\[scopes.music\] in workbench.toml has unknown key"):
        Scope.named("music", {"scopes": {"music": {"source": ["x"]}}})
    with pytest.raises(ConfigError, match="sources must be a list of text"):
        Scope.parse({"sources": [1]})
