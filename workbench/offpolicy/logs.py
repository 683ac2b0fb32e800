"""Deliveries with their rewards: stored with an external log, or joined from events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from workbench.arguments import parse_duration, parse_time
from workbench.exceptions import InvalidArgument
from workbench.schema import CATALOG

if TYPE_CHECKING:
    import pandas as pd

    from workbench.store import Store

__all__ = ["REWARD_KINDS", "logged_deliveries"]

REWARD_KINDS = ("binary", "count", "sum")


def logged_deliveries(
    store: Store,
    *,
    policy: str | None = None,
    experiment: str | None = None,
    variant: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    event_types: Sequence[str] = ("click",),
    window: timedelta | str = timedelta(hours=1),
    reward: str = "binary",
) -> pd.DataFrame:
    """Deliveries with their rewards, ready for :func:`estimate_policy_value`.

    Parameters
    ----------
    store
        The store with ``deliveries`` and ``events``.
    policy, experiment, variant
        Keep only deliveries with these values (None: any).
    since, until
        Keep deliveries with ``since <= ts < until`` (UTC).
    event_types
        Event types that count as a reward.
    window
        How long after a delivery its reward events count (a timedelta, or text
        pandas understands: ``"30min"``, ``"1D"``).
    reward
        ``"binary"`` (1 if any attributed event, else 0), ``"count"`` (number of
        attributed events) or ``"sum"`` (sum of their ``value``).

    Returns
    -------
    pandas.DataFrame
        The deliveries' columns (``context`` parsed to dicts), ``reward``, and
        ``reward_source``: ``"logged"`` for rewards stored with the delivery,
        ``"events"`` for joined ones.
    """
    import pandas as pd

    if reward not in REWARD_KINDS:
        raise InvalidArgument(f"reward must be one of {', '.join(REWARD_KINDS)}, got {reward!r}.")
    types = [event_types] if isinstance(event_types, str) else list(event_types)
    if not types:
        raise InvalidArgument("event_types must name at least one reward event type.")
    span = parse_duration(window, name="window")
    filters, params = [], []
    for column, value in (("policy", policy), ("experiment", experiment), ("variant", variant)):
        if value is not None:
            filters.append(f"d.{column} = ?")
            params.append(value)
    for op, name, value in ((">=", "since", since), ("<", "until", until)):
        if value is not None:
            filters.append(f"d.ts {op} CAST(? AS TIMESTAMP)")
            params.append(parse_time(value, name=name).isoformat(sep=" "))
    where = ("WHERE " + " AND ".join(filters)) if filters else ""
    measure = {
        "binary": "CAST(count(a.delivery_id) > 0 AS DOUBLE)",
        "count": "CAST(count(a.delivery_id) AS DOUBLE)",
        "sum": "coalesce(sum(a.value), 0)",
    }[reward]
    d = f"{CATALOG}.main.deliveries"
    query = (
        # Each reward event goes to the latest delivery of its user and item at or before it.
        f"WITH attributed AS (SELECT d.delivery_id, e.value FROM "
        f"(SELECT user_id, item_id, ts, value FROM {CATALOG}.main.events "
        "WHERE event_type IN (SELECT unnest(?))) e "
        f"ASOF JOIN {d} d ON e.user_id = d.user_id AND e.item_id = d.item_id AND e.ts >= d.ts "
        "WHERE e.ts < d.ts + to_microseconds(?)) "
        "SELECT d.delivery_id, d.ts, d.user_id, CAST(d.context AS VARCHAR) AS context, "
        "d.item_id, d.position, d.policy, d.propensity, d.model, d.version, d.experiment, "
        f"d.variant, coalesce(any_value(d.reward), {measure}) AS reward, "
        "CASE WHEN any_value(d.reward) IS NULL THEN 'events' ELSE 'logged' END AS reward_source "
        f"FROM {d} d LEFT JOIN attributed a ON a.delivery_id = d.delivery_id {where} "
        # In the order they were shown (a slate's items share its time): the same logs give
        # the same estimate, to the last bit, whatever ids the deliveries got.
        "GROUP BY ALL ORDER BY d.ts, d.user_id, d.position, d.delivery_id"
    )
    with store.reading() as raw:
        frame = raw.execute(query, [types, int(span / pd.Timedelta(microseconds=1)), *params]).df()
    frame["context"] = [json.loads(c) if isinstance(c, str) else {} for c in frame["context"]]
    return frame
