"""Observations as frames, and the series ids that select them.

Shared by scans, deep dives and the labeling loop: every one of them reads the
``observations`` table through :func:`load_observations`, so each says the same
thing about a bad time, an unknown series or an empty store.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.arguments import parse_time
from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = [
    "check_series",
    "load_observations",
    "unknown_series_message",
]


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
