"""Segments: break events down by an event column, a context key, or a user or item attribute."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ibis.expr.types as ir

    from workbench.store import Store

__all__ = [
    "EVENT_COLUMN_SEGMENTS",
    "MISSING",
    "ExploreOptions",
    "explore_options",
    "latest_attributes",
    "segment_breakdown",
    "with_segment",
]

EVENT_COLUMN_SEGMENTS = ("event_type", "source")
"""Event columns that can be segments by themselves."""

MISSING = "(none)"
"""The segment of an event whose segment value is missing."""

_SEGMENT_PREFIXES = {"context": "events' context JSON", "user": "users", "item": "items"}


def latest_attributes(entities: ir.Table, key: str) -> ir.Table:
    """One row per ``key`` of a versioned table (``users``, ``items``): its latest record.

    Parameters
    ----------
    entities : ibis.Table
        A table with ``key``, ``attributes`` (JSON) and ``updated_at``.
    key : str
        ``"user_id"`` or ``"item_id"``.

    Returns
    -------
    ibis.Table
        Columns ``key`` and ``attributes``; not executed.
    """
    import ibis

    _require(entities, [key, "attributes", "updated_at"], argument=f"the table of {key}s")
    newest = ibis.row_number().over(group_by=entities[key], order_by=ibis.desc("updated_at"))
    ranked = entities.select(key, "attributes", _newest=newest)
    return ranked.filter(ranked["_newest"] == 0).drop("_newest")


def with_segment(
    events: ir.Table,
    segment: str,
    *,
    users: ir.Table | None = None,
    items: ir.Table | None = None,
) -> ir.Table:
    """``events`` with a text column ``segment`` holding each event's segment value.

    Parameters
    ----------
    events : ibis.Table
        Events (filtered or not).
    segment : str
        ``"event_type"``, ``"source"``, ``"context.KEY"``, ``"user.ATTRIBUTE"`` or
        ``"item.ATTRIBUTE"``.
    users, items : ibis.Table, optional
        The store's ``users`` / ``items`` tables; needed for user and item
        attributes. Each event takes the attributes of its user's (item's)
        latest record.

    Returns
    -------
    ibis.Table
        The columns of ``events`` plus ``segment``; a missing value is ``"(none)"``.

    Raises
    ------
    InvalidArgument
        If the segment is not of a known form, or its table was not given.
    """
    if segment in EVENT_COLUMN_SEGMENTS:
        return events.mutate(segment=events[segment].cast("string").fill_null(MISSING))
    prefix, _, name = segment.partition(".")
    if prefix not in _SEGMENT_PREFIXES or not name:
        raise InvalidArgument(
            f"Unknown segment {segment!r}; use one of {', '.join(EVENT_COLUMN_SEGMENTS)}, "
            "'context.KEY', 'user.ATTRIBUTE' or 'item.ATTRIBUTE' (explore_options(store) "
            "lists what the store has)."
        )
    if prefix == "context":
        return events.mutate(segment=json_text(events["context"][name]))
    key, table = ("user_id", users) if prefix == "user" else ("item_id", items)
    if table is None:
        raise InvalidArgument(
            f"Segment {segment!r} needs the {prefix}s table: pass "
            f"{prefix}s=store.table({prefix + 's'!r})."
        )
    latest = latest_attributes(table, key)
    values = latest.select(_segment_key=latest[key], _value=json_text(latest["attributes"][name]))
    joined = events.left_join(values, events[key] == values["_segment_key"])
    return joined.mutate(segment=joined["_value"].fill_null(MISSING)).drop("_segment_key", "_value")


def json_text(value: Any) -> ir.StringValue:
    """A JSON field as text: strings unquoted, numbers and booleans as written, else (none).

    JSON ``null`` (a key present without a value) counts as missing, like an absent key.
    """
    return value.str.coalesce(value.cast("string").nullif("null")).fill_null(MISSING)


def segment_breakdown(
    events: ir.Table,
    segment: str,
    *,
    users: ir.Table | None = None,
    items: ir.Table | None = None,
) -> ir.Table:
    """Events, distinct users and items, and share of events, per segment value.

    Parameters
    ----------
    events : ibis.Table
        Events (filtered or not).
    segment, users, items
        As in :func:`with_segment`.

    Returns
    -------
    ibis.Table
        Columns ``segment``, ``events``, ``users``, ``items``, ``share``
        (of all events given, summing to 1), largest first; not executed.
    """
    tagged = with_segment(events, segment, users=users, items=items)
    counts = tagged.group_by("segment").aggregate(
        events=tagged.count(),
        users=tagged["user_id"].nunique(),
        items=tagged["item_id"].nunique(),
    )
    share = counts["events"] / counts["events"].sum().over()
    return counts.mutate(share=share.cast("float64")).order_by(
        [counts["events"].desc(), counts["segment"]]
    )


@dataclass(frozen=True)
class ExploreOptions:
    """What the explorer's controls can offer for one store (read once, small).

    Attributes
    ----------
    event_types, sources : list of str
        Distinct values in ``events``, sorted.
    first_ts, last_ts : datetime or None
        The earliest and latest event (None when there are none).
    user_attributes, item_attributes, context_keys : list of str
        Keys found in the ``attributes`` JSON of users and items and in the
        events' ``context``, sorted.
    events : int
        Number of events.
    """

    event_types: list[str]
    sources: list[str]
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None
    user_attributes: list[str]
    item_attributes: list[str]
    context_keys: list[str]
    events: int

    @property
    def segments(self) -> list[str]:
        """Every segment :func:`with_segment` accepts for this store."""
        return [
            *EVENT_COLUMN_SEGMENTS,
            *(f"context.{key}" for key in self.context_keys),
            *(f"user.{key}" for key in self.user_attributes),
            *(f"item.{key}" for key in self.item_attributes),
        ]


def explore_options(store: Store) -> ExploreOptions:
    """Read the choices the explorer offers: event types, sources, time span, segments.

    Executes a few small queries in one read of the store.
    """
    with store.reading():
        summary = store.sql(
            "SELECT count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts FROM events"
        ).to_pylist()[0]
        event_types = _distinct(store, "SELECT DISTINCT event_type FROM events")
        sources = _distinct(store, "SELECT DISTINCT source FROM events")
        context_keys = _json_keys(store, "events", "context")
        user_keys = _json_keys(store, "users", "attributes")
        item_keys = _json_keys(store, "items", "attributes")
    return ExploreOptions(
        event_types=event_types,
        sources=sources,
        first_ts=summary["first_ts"],
        last_ts=summary["last_ts"],
        user_attributes=user_keys,
        item_attributes=item_keys,
        context_keys=context_keys,
        events=int(summary["n"]),
    )


def _distinct(store: Store, query: str) -> list[str]:
    column = store.sql(query).column(0).to_pylist()
    return sorted(value for value in column if value is not None)


def _json_keys(store: Store, table: str, column: str) -> list[str]:
    # Keys of JSON objects only: a context that is a list or a scalar has none.
    query = (
        f"SELECT DISTINCT unnest(json_keys({column})) FROM {table} "
        f"WHERE json_type({column}) = 'OBJECT'"
    )
    return _distinct(store, query)


def _require(table: ir.Table, columns: Sequence[str], *, argument: str) -> None:
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise InvalidArgument(
            f"{argument} lacks column(s) {missing}; it has {list(table.columns)}."
        )
