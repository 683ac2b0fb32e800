"""Filters: which events the explorer looks at (a time window, types, sources, ids)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
    """``value`` as a naive UTC datetime (the store's TIMESTAMP); dates cover whole days."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.date.fromisoformat(text) if len(text) == 10 else _parse_datetime(text)
        except ValueError as error:
            raise InvalidArgument(
                f"{name}={value!r} is not an ISO date or time; use e.g. '2026-01-05' "
                "or '2026-01-05T18:00:00Z'."
            ) from error
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        day = value + dt.timedelta(days=1) if end_of_day else value
        return dt.datetime(day.year, day.month, day.day)
    raise InvalidArgument(
        f"{name} must be a datetime, a date or an ISO string, got {type(value).__name__}."
    )


def _parse_datetime(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
