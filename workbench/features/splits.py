"""Train/test splits of interaction tables, as pairs of Ibis expressions.

Each split returns a :class:`Split` ``(train, test)`` whose two tables
partition the input: every row lands in exactly one of them. Randomness is a
hash, not a generator: a row's draw is the MD5 of ``"<seed>:<row id>"``, which
DuckDB and Spark compute identically, so the same seed gives the same split on
every engine and every run. Rows need a unique, non-NULL id for that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

import ibis
import ibis.expr.types as ir

from workbench.arguments import parse_time
from workbench.exceptions import InvalidArgument
from workbench.features.helpers import as_keys, require_columns, require_timestamp

__all__ = ["Split", "leave_last_n_split", "stratified_split", "temporal_split"]

_RANK, _SIZE = "_wb_rank", "_wb_size"


class Split(NamedTuple):
    """A train/test pair of Ibis expressions over the same input."""

    train: ir.Table
    test: ir.Table


def temporal_split(
    events: ir.Table, *, cut: dt.datetime | dt.date | str, time: str = "ts"
) -> Split:
    """Split at one moment: train has ``ts < cut``, test has ``ts >= cut``.

    Parameters
    ----------
    events : ibis.Table
        Rows with a timestamp column ``time`` (rows whose time is NULL fall in
        neither part; the store never holds such events).
    cut : datetime, date or ISO string
        The cut, in UTC (a naive value is read as UTC; a date means midnight).
    time : str
        The timestamp column.

    Returns
    -------
    Split
        ``(train, test)`` with the columns of ``events``.

    Examples
    --------
    >>> events = ibis.table({"user_id": "string", "ts": "timestamp"})
    >>> train, test = temporal_split(events, cut="2026-01-15")
    >>> train.columns == test.columns == events.columns
    True
    """
    require_columns(events, [time], argument="events")
    require_timestamp(events, time, argument="events")
    moment = ibis.literal(_as_utc(cut, aware=events[time].type().timezone is not None))
    return Split(events.filter(events[time] < moment), events.filter(events[time] >= moment))


def leave_last_n_split(
    events: ir.Table,
    *,
    n: int = 1,
    entity: str | Sequence[str] = "user_id",
    time: str = "ts",
    tiebreak: str = "event_id",
) -> Split:
    """Hold out each entity's last ``n`` rows by time: they form the test part.

    Parameters
    ----------
    events : ibis.Table
        Rows with the ``entity``, ``time`` and ``tiebreak`` columns.
    n : int
        Rows per entity to hold out, >= 1; an entity with ``n`` rows or fewer
        goes wholly to test.
    entity : str or sequence of str
        Column(s) that group the rows (a user by default).
    time : str
        The timestamp column.
    tiebreak : str
        Orders rows with the same time: the larger value counts as later. It
        must be unique within an entity's rows, or ties may split differently.

    Returns
    -------
    Split
        ``(train, test)`` with the columns of ``events``.

    Examples
    --------
    >>> events = ibis.table({"event_id": "string", "user_id": "string", "ts": "timestamp"})
    >>> train, test = leave_last_n_split(events, n=2)
    >>> test.columns
    ('event_id', 'user_id', 'ts')
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidArgument(f"n must be an integer >= 1, got {n!r}.")
    keys = as_keys(entity)
    require_columns(events, [*keys, time, tiebreak], argument="events")
    latest_first = [ibis.desc(events[time]), ibis.desc(events[tiebreak])]
    ranked = events.mutate(**{_RANK: ibis.row_number().over(group_by=keys, order_by=latest_first)})
    return _partition(ranked, ranked[_RANK] < n, events.columns)


def stratified_split(
    events: ir.Table,
    *,
    test_ratio: float = 0.25,
    seed: int = 0,
    entity: str | Sequence[str] = "user_id",
    row_id: str = "event_id",
) -> Split:
    """Split each entity's rows at random by ratio (the usual MovieLens protocol).

    Each entity with ``k`` rows puts ``floor(test_ratio * k + 0.5)`` of them
    (``round`` with halves up) in test: those whose hash of
    ``"<seed>:<row id>"`` sorts first. The choice depends only on the seed and
    the ids, so it is the same on every engine and every run.

    Parameters
    ----------
    events : ibis.Table
        Rows with the ``entity`` and ``row_id`` columns.
    test_ratio : float
        Share of each entity's rows to hold out, in (0, 1).
    seed : int
        Different seeds give different, equally random splits.
    entity : str or sequence of str
        Column(s) that group the rows (a user by default).
    row_id : str
        A unique, non-NULL row identifier.

    Returns
    -------
    Split
        ``(train, test)`` with the columns of ``events``.

    Examples
    --------
    >>> events = ibis.table({"event_id": "string", "user_id": "string"})
    >>> train, test = stratified_split(events, test_ratio=0.2, seed=42)
    >>> train.columns
    ('event_id', 'user_id')
    """
    if isinstance(test_ratio, bool) or not isinstance(test_ratio, int | float):
        raise InvalidArgument(f"test_ratio must be a number in (0, 1), got {test_ratio!r}.")
    if not 0 < test_ratio < 1:
        raise InvalidArgument(f"test_ratio must be in (0, 1), got {test_ratio!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgument(f"seed must be an integer, got {seed!r}.")
    keys = as_keys(entity)
    require_columns(events, [*keys, row_id], argument="events")
    ids = events[row_id].cast("string")
    draw = (ibis.literal(f"{seed}:") + ids).hexdigest("md5")
    ranked = events.mutate(
        **{
            _RANK: ibis.row_number().over(group_by=keys, order_by=[draw, ids]),
            _SIZE: ids.count().over(group_by=keys),
        }
    )
    held_out = (ranked[_SIZE] * float(test_ratio) + 0.5).floor()
    return _partition(ranked, ranked[_RANK] < held_out, events.columns)


def _partition(ranked: ir.Table, in_test: ir.BooleanValue, columns: Sequence[str]) -> Split:
    """Both parts from one ranked expression, so a row lands in exactly one."""
    return Split(ranked.filter(~in_test).select(*columns), ranked.filter(in_test).select(*columns))


def _as_utc(cut: dt.datetime | dt.date | str, *, aware: bool) -> dt.datetime:
    """The cut as a UTC datetime, naive unless the column carries a time zone."""
    if cut is None:
        raise InvalidArgument("cut is None; give the time the test part starts, e.g. '2026-01-15'.")
    moment = parse_time(cut, name="cut")
    return moment.replace(tzinfo=dt.UTC) if aware else moment
