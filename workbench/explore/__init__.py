"""The event explorer's queries: filters, time series, top items, segments, drill-down.

Every query takes Ibis tables (``store.table("events")``, and ``users`` or
``items`` where attributes are needed) and returns an Ibis table without
executing it, so the explorer app, a notebook or a test runs the same
expression on the store (or on any Ibis backend)::

    events = filter_events(store.table("events"), start="2026-01-01", event_types=["play"])
    events_over_time(events, grain="week", split_by="user.plan", users=store.table("users"))
    top_items(events, n=10, rank_by="users").to_pandas()
    segment_breakdown(events, "item.genre", items=store.table("items")).to_pandas()
    drill_down(events, user_id="user_0007").counterparts.to_pandas()

A *segment* names what to break events down by: an event column
(``"event_type"``, ``"source"``), a key of the events' ``context`` JSON
(``"context.device"``), or an attribute of the user's or item's latest record
(``"user.country"``, ``"item.genre"``). :func:`explore_options` lists the ones
a store has. Times are UTC. The charts (``plot_*``) take the executed frames;
altair is imported only when one is drawn.
"""

from workbench.explore.charts import (
    display_formats,
    plot_events_over_time,
    plot_segments,
    plot_top_items,
)
from workbench.explore.filters import filter_events
from workbench.explore.segments import (
    EVENT_COLUMN_SEGMENTS,
    MISSING,
    ExploreOptions,
    explore_options,
    latest_attributes,
    segment_breakdown,
    with_segment,
)
from workbench.explore.summaries import (
    GRAINS,
    RANK_BY,
    DrillDown,
    drill_down,
    events_over_time,
    top_items,
    top_users,
)

__all__ = [
    "EVENT_COLUMN_SEGMENTS",
    "GRAINS",
    "MISSING",
    "RANK_BY",
    "DrillDown",
    "ExploreOptions",
    "display_formats",
    "drill_down",
    "events_over_time",
    "explore_options",
    "filter_events",
    "latest_attributes",
    "plot_events_over_time",
    "plot_segments",
    "plot_top_items",
    "segment_breakdown",
    "top_items",
    "top_users",
    "with_segment",
]
