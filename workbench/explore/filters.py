"""Filters: which events the explorer looks at (a time window, types, sources, ids)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.arguments import parse_time
from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["filter_events"]


def filter_events(
    events: ir.Table,
    *,
    start: dt.datetime | dt.date | str | None = None,
    end: dt.datetime | dt.date | str | None = None,
    event_types: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    user_ids: Sequence[str] | None = None,
    item_ids: Sequence[str] | None = None,
) -> ir.Table:
    """The events inside a time window and matching every given filter.

    Parameters
    ----------
    events : ibis.Table
        The store's ``events`` table (or any table with its columns).
    start : datetime, date or ISO string, optional
        Keep events at or after this moment (UTC; a naive time is taken as UTC).
    end : datetime, date or ISO string, optional
        Keep events before this moment. A *date* (or a date-only string) keeps
        the whole of that day, so ``start=end="2026-01-05"`` is one day.
    event_types, sources, user_ids, item_ids : sequence of str, optional
        Keep events whose column is one of these. None means no filter; an empty
        sequence keeps nothing (as an empty selection in a form would).

    Returns
    -------
    ibis.Table
        Not executed.

    Raises
    ------
    InvalidArgument
        If a time cannot be read or ``start`` is after ``end``.
    """
    lower = _moment("start", start, end_of_day=False)
    upper = _moment("end", end, end_of_day=True)
    if lower is not None and upper is not None and lower >= upper:
        raise InvalidArgument(
            f"start ({lower.isoformat()}) must be before end ({upper.isoformat()}); "
            "swap them or widen the window."
        )
    conditions = []
    if lower is not None:
        conditions.append(events["ts"] >= lower)
    if upper is not None:
        conditions.append(events["ts"] < upper)
    for column, values in (
        ("event_type", event_types),
        ("source", sources),
        ("user_id", user_ids),
        ("item_id", item_ids),
    ):
        if values is not None:
            conditions.append(events[column].isin(_as_list(column, values)))
    return events.filter(*conditions) if conditions else events


def _as_list(name: str, values: Sequence[str] | str) -> list[str]:
    if isinstance(values, str):
        return [values]
    try:
        return [str(value) for value in values]
    except TypeError as error:
        raise InvalidArgument(
            f"The {name} filter must be a list of ids, got {type(values).__name__}."
        ) from error


def _moment(name: str, value: Any, *, end_of_day: bool) -> dt.datetime | None:
    """``value`` as a naive UTC datetime (the store's TIMESTAMP); a date covers its whole day."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    moment = parse_time(value, name=name)
    day = isinstance(value, str) and len(value) == 10
    day = day or (isinstance(value, dt.date) and not isinstance(value, dt.datetime))
    return moment + dt.timedelta(days=1) if day and end_of_day else moment
