"""Observations as frames, and the times, durations and series ids that select them.

Shared by scans, deep dives and the labeling loop: every one of them reads the
``observations`` table through :func:`load_observations`, so each says the same
thing about a bad time, an unknown series or an empty store.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = [
    "check_series",
    "load_observations",
    "looks_like_duration",
    "parse_duration",
    "parse_time",
    "unknown_series_message",
]


def parse_time(value: Any, *, name: str) -> dt.datetime | None:
    """A point in time as a naive UTC datetime (None stays None).

    Accepts ISO text, :class:`datetime.datetime` and :class:`pandas.Timestamp`;
    aware times are converted to UTC, naive ones are taken as UTC.
    """
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise InvalidArgument(
            f"{name}={value!r} is not a time; give ISO text like 2026-01-15 or "
            "2026-01-15T06:00:00Z."
        ) from error
    if pd.isna(stamp):
        raise InvalidArgument(f"{name}={value!r} is not a time; give ISO text like 2026-01-15.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")
_UNITS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "week", "weeks"), "weeks"),
}


def looks_like_duration(value: Any) -> bool:
    """Whether ``value`` is duration text (``7d``, ``6h``), as opposed to a time."""
    return isinstance(value, str) and _DURATION.match(value.lower()) is not None


def parse_duration(value: Any, *, name: str) -> pd.Timedelta:
    """A positive duration from text like ``14d``, ``6h``, ``90min``, ``2 weeks`` or a timedelta.

    >>> parse_duration("36h", name="window")
    Timedelta('1 days 12:00:00')
    """
    if isinstance(value, str):
        match = _DURATION.match(value.lower())
        if match is None or match[2] not in _UNITS:
            raise InvalidArgument(
                f"{name}={value!r} is not a duration; give text like 14d, 6h, 90min or 2w."
            )
        duration = pd.Timedelta(**{_UNITS[match[2]]: float(match[1])})
    elif isinstance(value, dt.timedelta | pd.Timedelta | np.timedelta64):
        duration = pd.Timedelta(value)
    else:
        raise InvalidArgument(
            f"{name}={value!r} is not a duration; give text like 14d, 6h, 90min or 2w."
        )
    if pd.isna(duration) or duration <= pd.Timedelta(0):
        raise InvalidArgument(f"{name}={value!r} must be a positive duration, like 14d or 6h.")
    return duration


def load_observations(
    store: Store,
    *,
    since: Any = None,
    until: Any = None,
    series: Iterable[str] | str | None = None,
) -> pd.DataFrame:
    """Read observations as a frame (series_id, ts, value), sorted by series and time.

    Parameters
    ----------
    store
        The store to read.
    since, until
        Keep points with ``since <= ts < until`` (UTC; either may be omitted).
    series
        Keep only these series (one id or several). An id the store does not hold
        raises :class:`~workbench.exceptions.InvalidArgument` naming close matches.

    Returns
    -------
    pandas.DataFrame
        Columns ``series_id`` (str), ``ts`` (naive UTC), ``value`` (float64).
    """
    start, end = parse_time(since, name="since"), parse_time(until, name="until")
    if start is not None and end is not None and start >= end:
        raise InvalidArgument(f"since ({start}) must be before until ({end}).")
    table = store.table("observations")
    if series is not None:
        wanted = check_series(store, [series] if isinstance(series, str) else list(series))
        table = table.filter(table.series_id.isin(wanted))
    if start is not None:
        table = table.filter(table.ts >= start)
    if end is not None:
        table = table.filter(table.ts < end)
    frame = table.select("series_id", "ts", "value").order_by(["series_id", "ts"]).execute()
    frame["value"] = frame["value"].astype("float64")
    return frame.reset_index(drop=True)


def check_series(store: Store, series: Sequence[str]) -> list[str]:
    """Return ``series`` unchanged if the store holds them all, else say which are unknown."""
    if not series:
        raise InvalidArgument("No series given: name at least one series id.")
    known = set(store.sql("SELECT DISTINCT series_id FROM observations")["series_id"].to_pylist())
    unknown = [s for s in series if s not in known]
    if unknown:
        raise InvalidArgument(unknown_series_message(unknown, known))
    return list(dict.fromkeys(series))


def unknown_series_message(unknown: Sequence[str], known: Iterable[str]) -> str:
    """A message naming series the store lacks, with close matches when there are any."""
    known = sorted(known)
    if not known:
        return (
            "The store holds no observations. Ingest some with "
            "`workbench ingest FILE --table observations`."
        )
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    return (
        f"No observations for series {', '.join(parts)}. The store holds {len(known):,} series, "
        f"e.g. {', '.join(known[:5])}."
    )
