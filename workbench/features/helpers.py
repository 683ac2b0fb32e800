"""Feature helpers: Ibis expressions in, Ibis expressions out, nothing executed.

Each helper returns a feature table that keeps the contract described in
:mod:`workbench.features`: keyed by entity plus ``feature_ts``, every value
computed only from input rows with ``ts < feature_ts``. Only operations that
compile on both DuckDB and PySpark are used: joins on time bounds, ``group_by``
with filtered aggregates, and epoch arithmetic in whole seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence

import ibis
import ibis.expr.types as ir

from workbench.arguments import parse_duration
from workbench.exceptions import InvalidArgument

__all__ = [
    "item_popularity_features",
    "series_rolling_features",
    "user_activity_features",
    "user_item_affinity_features",
]

SECONDS_PER_DAY = 86_400
_BUCKETS = {"1h": ("h", dt.timedelta(hours=1)), "1d": ("D", dt.timedelta(days=1))}
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_UNITS = (("days", "d", 86_400), ("hours", "h", 3_600), ("minutes", "m", 60), ("seconds", "s", 1))

Duration = int | str | dt.timedelta


# --- checks and conversions shared by the feature modules --------------------------------


def require_columns(table: ir.Table, columns: Iterable[str], *, argument: str) -> None:
    """Raise :class:`InvalidArgument` naming every column ``table`` lacks."""
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise InvalidArgument(
            f"{argument} has no column {', '.join(map(repr, missing))}; its columns are "
            f"{', '.join(table.columns)}. Pass the right column names as keyword arguments."
        )


def require_timestamp(table: ir.Table, column: str, *, argument: str) -> None:
    """Raise :class:`InvalidArgument` unless ``table[column]`` is a timestamp."""
    dtype = table[column].type()
    if not dtype.is_timestamp():
        raise InvalidArgument(
            f"{argument}.{column} must be a timestamp column, got {dtype}; cast it first, "
            f"e.g. table.mutate({column}=table.{column}.cast('timestamp'))."
        )


def as_keys(keys: str | Sequence[str]) -> list[str]:
    """One column name or several, as a non-empty list."""
    names = [keys] if isinstance(keys, str) else list(keys)
    if not names:
        raise InvalidArgument("entity must name at least one column, got an empty list.")
    return names


def as_duration(name: str, value: Duration) -> dt.timedelta:
    """A positive duration in whole seconds: text (``7d``), a timedelta, or days (an int)."""
    duration = parse_duration(value, name=name, int_unit="days").to_pytimedelta()
    if duration.microseconds:
        raise InvalidArgument(f"{name} must be a positive whole number of seconds, got {value!r}.")
    return duration


def _in_largest_unit(duration: dt.timedelta) -> tuple[str, str, int]:
    seconds = int(duration.total_seconds())
    return next((unit, short, seconds // n) for unit, short, n in _UNITS if seconds % n == 0)


def interval(duration: dt.timedelta) -> ir.IntervalScalar:
    """The Ibis interval literal for a whole-second duration, in its largest exact unit."""
    unit, _, count = _in_largest_unit(duration)
    return ibis.interval(**{unit: count})


def duration_suffix(duration: dt.timedelta) -> str:
    """Short name of a duration for column names: ``7d``, ``6h``, ``15m``, ``30s``."""
    _, short, count = _in_largest_unit(duration)
    return f"{count}{short}"


def _windows(windows: Duration | Sequence[Duration]) -> dict[str, dt.timedelta]:
    """Column suffix -> duration for each window, checked."""
    items = [windows] if isinstance(windows, int | str | dt.timedelta) else list(windows)
    if not items:
        raise InvalidArgument("windows must hold at least one window, e.g. windows=(1, 7, 30).")
    durations = sorted({as_duration("each window", w) for w in items})
    return {duration_suffix(d): d for d in durations}


def _bucket(every: str) -> tuple[str, dt.timedelta]:
    if every not in _BUCKETS:
        raise InvalidArgument(f"every must be one of {', '.join(_BUCKETS)}, got {every!r}.")
    return _BUCKETS[every]


def _history(
    events: ir.Table,
    keys: list[str],
    columns: list[str],
    *,
    time: str,
    lookback: dt.timedelta,
    every: str | None = None,
    argument: str = "events",
) -> ir.Table:
    """Each (keys, cutoff) pair joined to the rows in ``cutoff - lookback <= ts < cutoff``.

    With ``every``, the cutoffs are the ends of the buckets in which the keys
    had rows; without, each row's own time is a cutoff (kept even with no
    earlier rows). The result has the keys, ``feature_ts`` (the cutoff),
    ``time`` and ``columns``.
    """
    require_columns(events, [*keys, *columns, time], argument=argument)
    require_timestamp(events, time, argument=argument)
    table = events.select(*keys, time, *columns)
    cutoff = table[time]
    if every is not None:
        unit, step = _bucket(every)
        cutoff = cutoff.truncate(unit) + interval(step)
        # The whole last bucket is read, so the last event before a cutoff is always seen.
        lookback = max(lookback, step)
    cutoffs = table.select(*keys, feature_ts=cutoff).distinct()
    # Prefix the right side's names so the join result never needs Ibis' _right suffix.
    rows = table.rename({f"_wb_{name}": name for name in table.columns})
    predicates = [cutoffs[key] == rows[f"_wb_{key}"] for key in keys]
    predicates += [
        rows[f"_wb_{time}"] < cutoffs.feature_ts,
        rows[f"_wb_{time}"] >= cutoffs.feature_ts - interval(lookback),
    ]
    joined = cutoffs.join(rows, predicates, how="inner" if every else "left")
    return joined.select(*keys, "feature_ts", **{c: f"_wb_{c}" for c in [time, *columns]})


def _since(rows: ir.Table, time: str, duration: dt.timedelta) -> ir.BooleanValue:
    """Whether a joined event lies in the window of this length before its cutoff."""
    return rows[time] >= rows.feature_ts - interval(duration)


def _days_before(cutoff: ir.TimestampValue, moment: ir.TimestampValue) -> ir.FloatingValue:
    """Days from ``moment`` to ``cutoff``, to the second (Spark's epoch has whole seconds)."""
    seconds = cutoff.epoch_seconds().floor() - moment.epoch_seconds().floor()
    return seconds / SECONDS_PER_DAY


# --- the helpers ---------------------------------------------------------------------------


def user_activity_features(
    events: ir.Table,
    *,
    windows: Duration | Sequence[Duration] = (1, 7, 30),
    event_types: Sequence[str] = (),
    every: str = "1d",
    user: str = "user_id",
    item: str = "item_id",
    event_type: str = "event_type",
    time: str = "ts",
) -> ir.Table:
    """How active each user was over trailing windows, as of each active day's end.

    Parameters
    ----------
    events : ibis.Table
        Events with the ``user``, ``item``, ``event_type`` and ``time`` columns.
    windows : int, timedelta or sequence of them
        Trailing windows; an integer is a number of days.
    event_types : sequence of str
        Event types that get their own count columns (e.g. ``("play", "skip")``).
    every : {"1d", "1h"}
        Snapshot bucket: a row per user and per bucket with events.
    user, item, event_type, time : str
        Column names.

    Returns
    -------
    ibis.Table
        ``user``, ``feature_ts``, then per window ``W`` (``1d``, ``7d``...):
        ``events_W``, ``<type>_events_W`` per event type, ``distinct_items_W``,
        ``active_days_W``; and ``days_since_last_event`` (float days from the
        last event to ``feature_ts``, to the second). Values use only events
        with ``ts < feature_ts``.

    Examples
    --------
    >>> events = ibis.table(
    ...     {"user_id": "string", "item_id": "string", "event_type": "string", "ts": "timestamp"}
    ... )
    >>> user_activity_features(events, windows=7, event_types=["play"]).columns
    ('user_id', 'feature_ts', 'events_7d', 'play_events_7d', 'distinct_items_7d', 'active_days_7d', 'days_since_last_event')
    """
    windows = _windows(windows)
    if any(not isinstance(kind, str) or not _NAME.match(kind) for kind in event_types):
        raise InvalidArgument(f"event_types {event_types!r} name columns: use letters, digits, _.")
    rows = _history(
        events, [user], [item, event_type], time=time, every=every, lookback=max(windows.values())
    )
    metrics = {}
    for suffix, duration in windows.items():
        inside = _since(rows, time, duration)
        metrics[f"events_{suffix}"] = rows[time].count(where=inside)
        for kind in event_types:
            matches = inside & (rows[event_type] == kind)
            metrics[f"{kind}_events_{suffix}"] = rows[time].count(where=matches)
        metrics[f"distinct_items_{suffix}"] = rows[item].nunique(where=inside)
        metrics[f"active_days_{suffix}"] = rows[time].truncate("D").nunique(where=inside)
    metrics["_wb_last"] = rows[time].max()
    snapshot = rows.group_by([user, "feature_ts"]).agg(**metrics)
    return snapshot.mutate(
        days_since_last_event=_days_before(snapshot.feature_ts, snapshot._wb_last)
    ).drop("_wb_last")


def item_popularity_features(
    events: ir.Table,
    *,
    windows: Duration | Sequence[Duration] = (1, 7, 30),
    trend_window: Duration = 7,
    every: str = "1d",
    item: str = "item_id",
    user: str = "user_id",
    time: str = "ts",
) -> ir.Table:
    """How popular each item was over trailing windows, and whether it is rising.

    Parameters
    ----------
    events : ibis.Table
        Events with the ``item``, ``user`` and ``time`` columns.
    windows : int, timedelta or sequence of them
        Trailing windows; an integer is a number of days.
    trend_window : int or timedelta
        The trend compares the last ``trend_window`` with the one before it.
    every : {"1d", "1h"}
        Snapshot bucket: a row per item and per bucket with events.
    item, user, time : str
        Column names.

    Returns
    -------
    ibis.Table
        ``item``, ``feature_ts``, then per window ``W``: ``events_W`` and
        ``distinct_users_W``; and ``trend_T`` (``T`` the trend window): events
        in the last ``T`` minus events in the ``T`` before (positive: rising).
        Values use only events with ``ts < feature_ts``.

    Examples
    --------
    >>> events = ibis.table({"user_id": "string", "item_id": "string", "ts": "timestamp"})
    >>> item_popularity_features(events, windows=[1, 7]).columns
    ('item_id', 'feature_ts', 'events_1d', 'distinct_users_1d', 'events_7d', 'distinct_users_7d', 'trend_7d')
    """
    windows = _windows(windows)
    trend = as_duration("trend_window", trend_window)
    rows = _history(
        events, [item], [user], time=time, every=every, lookback=max(*windows.values(), 2 * trend)
    )
    metrics = {}
    for suffix, duration in windows.items():
        inside = _since(rows, time, duration)
        metrics[f"events_{suffix}"] = rows[time].count(where=inside)
        metrics[f"distinct_users_{suffix}"] = rows[user].nunique(where=inside)
    recent, previous = _since(rows, time, trend), _since(rows, time, 2 * trend)
    rising = rows[time].count(where=recent) - rows[time].count(where=previous & ~recent)
    metrics[f"trend_{duration_suffix(trend)}"] = rising
    return rows.group_by([item, "feature_ts"]).agg(**metrics)


def user_item_affinity_features(
    events: ir.Table,
    *,
    half_life: Duration = 7,
    lookback: Duration = 90,
    weights: Mapping[str, float] | None = None,
    every: str = "1d",
    user: str = "user_id",
    item: str = "item_id",
    event_type: str = "event_type",
    time: str = "ts",
) -> ir.Table:
    """How strongly each user is drawn to each item: counts, last touch, decayed score.

    Parameters
    ----------
    events : ibis.Table
        Events with the ``user``, ``item``, ``time`` (and, with ``weights``,
        ``event_type``) columns.
    half_life : int or timedelta
        An interaction this old counts half as much in ``affinity_score``.
    lookback : int or timedelta
        Only interactions this recent (before ``feature_ts``) are considered.
    weights : mapping of str to float, optional
        Weight per event type (e.g. ``{"play": 1, "like": 3, "skip": -1}``);
        types not listed weigh 0. By default every event weighs 1.
    every : {"1d", "1h"}
        Snapshot bucket: a row per (user, item) and per bucket with events.
    user, item, event_type, time : str
        Column names.

    Returns
    -------
    ibis.Table
        ``user``, ``item``, ``feature_ts``, ``interactions`` (count within
        ``lookback``), ``last_interaction_ts``, ``days_since_last_interaction``
        and ``affinity_score``: the sum over interactions of
        ``weight * 0.5 ** (age_days / half_life)``, age measured back from
        ``feature_ts``. Values use only events with ``ts < feature_ts``.

    Examples
    --------
    >>> events = ibis.table({"user_id": "string", "item_id": "string", "ts": "timestamp"})
    >>> user_item_affinity_features(events, half_life=3).columns
    ('user_id', 'item_id', 'feature_ts', 'interactions', 'last_interaction_ts', 'days_since_last_interaction', 'affinity_score')
    """
    half_life_days = as_duration("half_life", half_life).total_seconds() / SECONDS_PER_DAY
    if weights is not None and not weights:
        raise InvalidArgument("weights is empty; pass None to weigh every event 1.")
    extra = [] if weights is None else [event_type]
    lookback = as_duration("lookback", lookback)
    rows = _history(events, [user, item], extra, time=time, every=every, lookback=lookback)
    weight = ibis.literal(1.0)
    if weights is not None:
        pairs = ((rows[event_type] == kind, float(w)) for kind, w in weights.items())
        weight = ibis.cases(*pairs, else_=0.0)
    decay = ibis.literal(0.5) ** (_days_before(rows.feature_ts, rows[time]) / half_life_days)
    snapshot = rows.group_by([user, item, "feature_ts"]).agg(
        interactions=rows[time].count(),
        last_interaction_ts=rows[time].max(),
        affinity_score=(weight * decay).sum(),
    )
    since = _days_before(snapshot.feature_ts, snapshot.last_interaction_ts)
    return snapshot.mutate(days_since_last_interaction=since).relocate(
        "affinity_score", after="days_since_last_interaction"
    )


def series_rolling_features(
    observations: ir.Table,
    *,
    windows: Duration | Sequence[Duration] = (1, 7),
    series: str = "series_id",
    time: str = "ts",
    value: str = "value",
) -> ir.Table:
    """Trailing statistics of each series before each of its points, for anomaly scoring.

    Parameters
    ----------
    observations : ibis.Table
        Points with the ``series``, ``time`` and ``value`` columns.
    windows : int, timedelta or sequence of them
        Trailing windows; an integer is a number of days.
    series, time, value : str
        Column names.

    Returns
    -------
    ibis.Table
        ``series``, ``feature_ts`` (the point's time), then per window ``W``:
        ``mean_W``, ``std_W`` (sample), ``min_W``, ``max_W`` and ``count_W``
        over the points with ``feature_ts - W <= ts < feature_ts``, the point
        itself excluded (pandas' ``rolling(W, closed="left")``). A window with
        no points has count 0 and NULL statistics.

    Examples
    --------
    >>> points = ibis.table({"series_id": "string", "ts": "timestamp", "value": "float64"})
    >>> series_rolling_features(points, windows=dt.timedelta(hours=6)).columns
    ('series_id', 'feature_ts', 'mean_6h', 'std_6h', 'min_6h', 'max_6h', 'count_6h')
    """
    windows = _windows(windows)
    longest, name = max(windows.values()), "observations"
    rows = _history(observations, [series], [value], time=time, lookback=longest, argument=name)
    metrics = {}
    for suffix, duration in windows.items():
        inside = _since(rows, time, duration)
        metrics[f"mean_{suffix}"] = rows[value].mean(where=inside)
        metrics[f"std_{suffix}"] = rows[value].std(where=inside)
        metrics[f"min_{suffix}"] = rows[value].min(where=inside)
        metrics[f"max_{suffix}"] = rows[value].max(where=inside)
        metrics[f"count_{suffix}"] = rows[value].count(where=inside)
    return rows.group_by([series, "feature_ts"]).agg(**metrics)
