"""Incremental popularity and co-occurrence: batch by batch equals a full recompute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.capture import ingest
from workbench.delivery.incremental import (
    compute_state,
    popular_items,
    read_state,
    rebuild_state,
    recommend_related,
    related_items,
    update_state,
)
from workbench.exceptions import InvalidArgument


def _events(rng: np.random.Generator, n: int, start: int, *, users: int = 30, items: int = 25):
    return pd.DataFrame(
        {
            "event_id": [f"e{start + i}" for i in range(n)],
            "ts": pd.Timestamp("2026-03-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86_400 * 30, n), unit="s"),
            "user_id": [f"u{u}" for u in rng.integers(0, users, n)],
            # A skewed catalog, so some items are popular and pairs repeat across batches.
            "item_id": [f"i{i:02d}" for i in np.minimum(rng.geometric(0.12, n), items)],
            "event_type": rng.choice(["play", "click", "skip"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def _same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    for part in ("item_counts", "cooccurrence"):
        pd.testing.assert_frame_equal(
            left[part].reset_index(drop=True),
            right[part].reset_index(drop=True),
            check_dtype=False,
        )


def test_incremental_updates_equal_a_full_recompute(file_store):
    rng = np.random.default_rng(5)
    for batch in range(6):
        ingest(file_store, _events(rng, 120, batch * 1_000))
        update = update_state(file_store)
        assert update.batches_applied == 1
        assert update.events_applied == 120
        _same(read_state(file_store), compute_state(file_store))
    full = compute_state(file_store)
    assert len(full["cooccurrence"]) > 100  # the comparison is not between two empty tables
    assert full["item_counts"]["events"].sum() == 720


def test_batches_applied_together_or_one_by_one_give_the_same_state(memory_store):
    rng = np.random.default_rng(11)
    ingest(memory_store, _events(rng, 200, 0))
    update_state(memory_store, state="eager")
    for batch in range(1, 4):
        ingest(memory_store, _events(rng, 150, batch * 1_000))
        update_state(memory_store, state="eager")
    late = update_state(memory_store, state="late")
    assert late.batches_applied == 4
    _same(read_state(memory_store, state="eager"), read_state(memory_store, state="late"))
    _same(read_state(memory_store, state="late"), compute_state(memory_store))


def test_an_up_to_date_state_applies_nothing(memory_store):
    rng = np.random.default_rng(1)
    events = _events(rng, 50, 0)
    ingest(memory_store, events)
    update_state(memory_store)
    before = read_state(memory_store)
    assert ingest(memory_store, events).status == "already_ingested"
    again = update_state(memory_store)
    assert (again.batches_applied, again.events_applied) == (0, 0)
    _same(read_state(memory_store), before)


def test_event_types_are_counted_as_asked_and_fixed_per_state(memory_store):
    rng = np.random.default_rng(2)
    ingest(memory_store, _events(rng, 300, 0))
    update_state(memory_store, state="plays", event_types=["play"])
    ingest(memory_store, _events(rng, 300, 1_000))
    update_state(memory_store, state="plays")
    _same(read_state(memory_store, state="plays"), compute_state(memory_store, event_types="play"))
    assert read_state(memory_store, state="plays")["item_counts"]["events"].sum() < 600
    with pytest.raises(InvalidArgument, match="rebuild_state"):
        update_state(memory_store, state="plays", event_types=["click"])
    rebuilt = rebuild_state(memory_store, state="plays", event_types=["click"])
    assert rebuilt.batches_applied == 2
    _same(read_state(memory_store, state="plays"), compute_state(memory_store, event_types="click"))


def test_popular_and_related_items_answer_from_the_state(memory_store):
    events = pd.DataFrame(
        {
            "event_id": [str(i) for i in range(7)],
            "ts": "2026-01-01T00:00:00Z",
            "user_id": ["ann", "ann", "ann", "bob", "bob", "cy", "cy"],
            "item_id": ["x", "y", "z", "x", "y", "x", "x"],
            "event_type": "play",
        }
    )
    ingest(memory_store, events)
    update_state(memory_store)
    popular = popular_items(memory_store, 2)
    assert popular["item_id"].tolist() == ["x", "y"]
    assert popular[["users", "events"]].values.tolist() == [[3, 4], [2, 2]]
    related = related_items(memory_store, "x")
    assert related["item_id"].tolist() == ["y", "z"]
    assert related["users"].tolist() == [2, 1]
    assert related["confidence"].round(3).tolist() == [0.667, 0.333]
    assert related_items(memory_store, "nothing").empty
    # bob has x and y: z co-occurs with both once (ann); cy's x adds nothing new to z.
    assert recommend_related(memory_store, "bob").to_dict("records") == [
        {"item_id": "z", "score": 2.0}
    ]
    assert recommend_related(memory_store, "cy")[["item_id", "score"]].values.tolist() == [
        ["y", 2.0],
        ["z", 1.0],
    ]
    assert recommend_related(memory_store, "stranger").empty


def test_reading_a_state_that_was_never_built_says_how_to_build_it(memory_store):
    with pytest.raises(InvalidArgument, match="update_state"):
        popular_items(memory_store)
