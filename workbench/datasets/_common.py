"""What the generators share: the result type, argument checks and Arrow/time helpers.

Private to :mod:`workbench.datasets`; every check raises
:class:`~workbench.exceptions.InvalidArgument` naming the argument and its range.
"""

from __future__ import annotations

import datetime as dt
import json
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from workbench.arguments import parse_time
from workbench.exceptions import InvalidArgument

TIMESTAMP = pa.timestamp("us", tz="UTC")
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


@dataclass(frozen=True)
class SyntheticDataset:
    """A generated data set: tables to ingest plus the planted truth.

    Attributes
    ----------
    kind : str
        ``"music"``, ``"ads"`` or ``"metrics"``.
    tables : dict of str to pyarrow.Table
        Target store table name -> rows, in the order they should be ingested.
    truth : dict
        What was planted, JSON-serializable (plain lists, dicts, floats, str).
    """

    kind: str
    tables: dict[str, pa.Table]
    truth: dict


# --------------------------------------------------------------------------- validation


def check_int(name: str, value: object, minimum: int) -> int:
    # bool is an Integral, but users=True is a mistake, not a size
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_range(name: str, value: object, low: float, high: float, *, open_low: bool) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (low < value if open_low else low <= value) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise InvalidArgument(f"{name} must be a number in {bracket}{low}, {high}], got {value!r}")
    return value


def start_us(start: str | dt.date) -> int:
    """Microseconds since the epoch for ``start``, which must be midnight UTC."""
    try:
        when = parse_time(start if isinstance(start, dt.date) else str(start), name="start")
    except InvalidArgument:
        when = None
    # Daily and weekly cycles are laid on whole UTC days; a time of day would shift them.
    if when is None or when.time() != dt.time():
        raise InvalidArgument(f"start must be a UTC date such as '2026-01-01', got {start!r}")
    return (when - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)


# --------------------------------------------------------------------------- arrow helpers


def ids(prefix: str, n: int, width: int | None = None) -> pa.Array:
    """``prefix`` + zero-padded 0..n-1 as an Arrow string array.

    All ids have the same length, so the bytes are written straight into one
    buffer with numpy: ten times faster than formatting millions of strings.
    """
    width = max(width or 4, len(str(max(n - 1, 0))))  # never too narrow: ids stay unique
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    size = head.size + width
    text = np.empty((n, size), dtype=np.uint8)
    text[:, : head.size] = head
    number = np.arange(n, dtype=np.int64)
    for column in range(size - 1, head.size - 1, -1):  # a loop over digits, not ids
        text[:, column] = ord("0") + number % 10
        number //= 10
    if n * size > np.iinfo(np.int32).max:  # Arrow's string offsets are 32-bit
        raise InvalidArgument(f"{n} ids do not fit in one Arrow string column; generate fewer rows")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(size)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))


def timestamps(micros: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(micros, dtype=np.int64), type=TIMESTAMP)


def iso(micros: np.ndarray) -> np.ndarray:
    """ISO text like ``datetime.isoformat()`` of UTC datetimes (no fraction when whole)."""
    micros = np.asarray(micros, dtype=np.int64)
    whole = np.datetime_as_string(micros.astype("datetime64[us]"), unit="s")
    fraction = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    return np.char.add(np.where(micros % 1_000_000 == 0, whole, fraction), "+00:00")


def json_texts(objects: list[dict]) -> pa.Array:
    return pa.array([json.dumps(o, sort_keys=True) for o in objects], type=pa.string())


def events_table(
    kind: str,
    ts: np.ndarray,
    user_ids: pa.Array,
    users: np.ndarray,
    item_ids: pa.Array,
    items: np.ndarray,
    type_names: Sequence[str],
    types: np.ndarray,
    value: np.ndarray,
    contexts: Sequence[dict],
    context_codes: np.ndarray,
) -> pa.Table:
    """Sort events by time and build the ``events`` table from integer codes.

    Strings repeat (users, items, a few event types and contexts), so they are
    taken from small dictionaries instead of being built once per event.
    """
    order = np.argsort(ts, kind="stable")  # stable: ties keep generation order, deterministic
    ts, users, items = ts[order], users[order], items[order]
    types, value, context_codes = types[order], value[order], context_codes[order]
    return pa.table(
        {
            "event_id": ids(f"{kind}-", ts.size, width=10),
            "ts": timestamps(ts),
            "user_id": user_ids.take(pa.array(users)),
            "item_id": item_ids.take(pa.array(items)),
            "event_type": pa.array(list(type_names), pa.string()).take(pa.array(types)),
            "value": pa.array(value, pa.float64()),
            "context": json_texts(list(contexts)).take(pa.array(context_codes)),
            "source": pa.repeat(pa.scalar(f"synthetic.{kind}", pa.string()), ts.size),
        }
    )


def entity_table(
    key: str, entity_ids: pa.Array, attributes: list[dict], updated_us: int
) -> pa.Table:
    """The ``items`` or ``users`` table: one JSON ``attributes`` text per id."""
    return pa.table(
        {
            key: entity_ids,
            "attributes": json_texts(attributes),
            "updated_at": timestamps(np.full(len(entity_ids), updated_us)),
        }
    )


def weekday(micros: np.ndarray | int) -> np.ndarray:
    """Monday=0 .. Sunday=6; 1970-01-01 was a Thursday (3)."""
    return (np.asarray(micros) // DAY_US + 3) % 7
