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

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "display_formats": "charts",
    "plot_events_over_time": "charts",
    "plot_segments": "charts",
    "plot_top_items": "charts",
    "filter_events": "filters",
    "EVENT_COLUMN_SEGMENTS": "segments",
    "MISSING": "segments",
    "ExploreOptions": "segments",
    "explore_options": "segments",
    "latest_attributes": "segments",
    "segment_breakdown": "segments",
    "with_segment": "segments",
    "GRAINS": "summaries",
    "RANK_BY": "summaries",
    "DrillDown": "summaries",
    "drill_down": "summaries",
    "events_over_time": "summaries",
    "top_items": "summaries",
    "top_users": "summaries",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
