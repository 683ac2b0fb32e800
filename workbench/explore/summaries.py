"""Summaries of events: a time series at a grain, top items and users, one entity's drill-down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.exceptions import InvalidArgument
from workbench.explore.segments import json_text, latest_attributes, with_segment

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ibis.expr.types as ir

__all__ = [
    "GRAINS",
    "RANK_BY",
    "DrillDown",
    "drill_down",
    "events_over_time",
    "top_items",
    "top_users",
]

GRAINS = {"hour": "h", "day": "D", "week": "W", "month": "M"}
"""Time-series grains and the Ibis truncation unit of each (weeks start on Monday)."""

RANK_BY = ("events", "users", "value")
"""What :func:`top_items` ranks by: event count, distinct users, or summed ``value``."""


def events_over_time(
    events: ir.Table,
    *,
    grain: str = "day",
    split_by: str | None = None,
    users: ir.Table | None = None,
    items: ir.Table | None = None,
) -> ir.Table:
    """Events and distinct users per period (and per segment, when ``split_by`` is given).

    Parameters
    ----------
    events : ibis.Table
        Events (filtered or not).
    grain : {"hour", "day", "week", "month"}
        Length of a period; a period is named by its first moment (UTC; weeks
        start on Monday). Periods without events have no row.
    split_by : str, optional
        A segment (see :func:`with_segment`): one series per segment value.
    users, items : ibis.Table, optional
        As in :func:`with_segment`.

    Returns
    -------
    ibis.Table
        Columns ``period``, (``segment``), ``events``, ``users``, ordered by period.
    """
    if grain not in GRAINS:
        raise InvalidArgument(f"grain must be one of {', '.join(GRAINS)}; got {grain!r}.")
    if split_by is not None:
        events = with_segment(events, split_by, users=users, items=items)
    keyed = events.mutate(period=events["ts"].truncate(GRAINS[grain]))
    keys = ["period", *(["segment"] if split_by is not None else [])]
    counts = keyed.group_by(keys).aggregate(events=keyed.count(), users=keyed["user_id"].nunique())
    return counts.order_by(keys)


def top_items(
    events: ir.Table,
    *,
    n: int = 10,
    rank_by: str = "events",
    items: ir.Table | None = None,
    attributes: Sequence[str] = (),
) -> ir.Table:
    """The ``n`` items with the most events, users or summed value.

    Parameters
    ----------
    events : ibis.Table
        Events (filtered or not); events without an item are left out.
    n : int, default 10
        How many items, >= 1.
    rank_by : {"events", "users", "value"}
        The ranking column; ties are broken by item id.
    items : ibis.Table, optional
        The store's ``items`` table, to show ``attributes`` of each item.
    attributes : sequence of str
        Attributes of the item's latest record to add as text columns (e.g.
        ``["title", "genre"]``); needs ``items``.

    Returns
    -------
    ibis.Table
        Columns ``rank`` (1 is top), ``item_id``, ``events``, ``users``,
        ``value`` (sum, NULL when no event has one), then the attributes.
    """
    import ibis

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidArgument(f"n must be an integer >= 1, got {n!r}.")
    if rank_by not in RANK_BY:
        raise InvalidArgument(f"rank_by must be one of {', '.join(RANK_BY)}; got {rank_by!r}.")
    attributes = [attributes] if isinstance(attributes, str) else list(attributes)
    if attributes and items is None:
        raise InvalidArgument(
            f"Item attributes {attributes} need the items table: pass items=store.table('items')."
        )
    with_item = events.filter(events["item_id"].notnull())
    counts = with_item.group_by("item_id").aggregate(
        events=with_item.count(),
        users=with_item["user_id"].nunique(),
        value=with_item["value"].sum(),
    )
    ordered = counts.order_by([counts[rank_by].desc(), counts["item_id"]]).limit(n)
    ranked = ordered.mutate(
        rank=ibis.row_number().over(order_by=[ordered[rank_by].desc(), ordered["item_id"]]) + 1
    )
    if attributes:
        latest = latest_attributes(items, "item_id")
        extra = latest.select(
            _item=latest["item_id"],
            **{name: json_text(latest["attributes"][name]) for name in attributes},
        )
        ranked = ranked.left_join(extra, ranked["item_id"] == extra["_item"]).drop("_item")
    columns = ["rank", "item_id", "events", "users", "value", *attributes]
    return ranked.select(columns).order_by("rank")


def top_users(events: ir.Table, *, n: int = 10) -> ir.Table:
    """The ``n`` most active users: ``user_id``, ``events``, ``items`` (distinct), ``last_ts``.

    Ties are broken by the latest event, then by user id. Not executed.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidArgument(f"n must be an integer >= 1, got {n!r}.")
    counts = events.group_by("user_id").aggregate(
        events=events.count(), items=events["item_id"].nunique(), last_ts=events["ts"].max()
    )
    return counts.order_by(
        [counts["events"].desc(), counts["last_ts"].desc(), counts["user_id"]]
    ).limit(n)


@dataclass(frozen=True)
class DrillDown:
    """Everything about one user or one item, as Ibis expressions (nothing executed).

    Attributes
    ----------
    kind : {"user", "item"}
        What was drilled into.
    entity_id : str
        Its id.
    events : ibis.Table
        Its events, newest first.
    by_event_type : ibis.Table
        ``event_type``, ``events``, ``first_ts``, ``last_ts``.
    counterparts : ibis.Table
        For a user, the items they met most (``item_id``, ``events``,
        ``last_ts``); for an item, the users who met it most (``user_id``, ...).
    over_time : ibis.Table
        Events per day (``period``, ``events``, ``users``).
    """

    kind: str
    entity_id: str
    events: ir.Table
    by_event_type: ir.Table
    counterparts: ir.Table
    over_time: ir.Table


def drill_down(
    events: ir.Table,
    *,
    user_id: str | None = None,
    item_id: str | None = None,
    counterparts: int = 20,
) -> DrillDown:
    """One user's or one item's events, summaries and most frequent counterparts.

    Parameters
    ----------
    events : ibis.Table
        Events (filtered or not).
    user_id, item_id : str
        Exactly one of them: whom (or what) to drill into.
    counterparts : int, default 20
        How many of the user's items (or the item's users) to list.

    Returns
    -------
    DrillDown
        An id with no events gives empty tables.
    """
    if (user_id is None) == (item_id is None):
        raise InvalidArgument("Pass exactly one of user_id= and item_id= to drill into.")
    if isinstance(counterparts, bool) or not isinstance(counterparts, int) or counterparts < 1:
        raise InvalidArgument(f"counterparts must be an integer >= 1, got {counterparts!r}.")
    kind, column, other = (
        ("user", "user_id", "item_id") if user_id is not None else ("item", "item_id", "user_id")
    )
    entity_id = str(user_id if user_id is not None else item_id)
    mine = events.filter(events[column] == entity_id)
    by_type = mine.group_by("event_type").aggregate(
        events=mine.count(), first_ts=mine["ts"].min(), last_ts=mine["ts"].max()
    )
    met = mine.filter(mine[other].notnull())
    partners = met.group_by(other).aggregate(events=met.count(), last_ts=met["ts"].max())
    return DrillDown(
        kind=kind,
        entity_id=entity_id,
        events=mine.order_by([mine["ts"].desc(), mine["event_id"]]),
        by_event_type=by_type.order_by([by_type["events"].desc(), by_type["event_type"]]),
        counterparts=partners.order_by(
            [partners["events"].desc(), partners["last_ts"].desc(), partners[other]]
        ).limit(counterparts),
        over_time=events_over_time(mine, grain="day"),
    )
