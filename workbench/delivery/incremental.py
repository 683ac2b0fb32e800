"""Incremental model state for near-real-time delivery: popularity and item co-occurrence.

Delivery C keeps counts that a new batch of events can update in seconds,
without a full retrain:

- **popularity**: per item, the number of events and of distinct users;
- **co-occurrence**: per pair of items, the number of distinct users who
  interacted with both (stored once per unordered pair, ``item_a < item_b``).

They answer :func:`popular_items`, :func:`related_items` (item to item) and
:func:`recommend_related` (a user's next items, from the items they have).

A *state* is a name plus the event types it counts. :func:`update_state`
applies every committed ``events`` batch the state has not seen yet (the
state's watermark is the set of batches it has applied, kept in the store) in
one transaction: either the whole update lands, with its batches marked as
applied, or nothing does. Applying batch by batch gives exactly the counts
that :func:`compute_state` gives from all events at once, whatever the order
or grouping of the batches; the tests hold it to that.

Cost: an update touches the new events and, for the users in them, the items
they interacted with before. Co-occurrence grows with the square of the items
per user, as it does for a full computation.

The state lives in four store tables, created on first use (their declarations
are :data:`STATE_TABLES`): ``online_states`` (one row per state: event types,
events applied, last update), ``online_batches`` (the watermark),
``online_user_items`` (each user's distinct items, needed to count new pairs),
``online_item_counts`` and ``online_cooccurrence``.

Examples
--------
>>> import pandas as pd
>>> from workbench.capture import ingest
>>> from workbench.store import Store
>>> store = Store.open("duckdb://:memory:")
>>> events = pd.DataFrame({"event_id": ["1", "2", "3"], "ts": ["2026-01-01T10:00:00Z"] * 3,
...                        "user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"],
...                        "event_type": "play"})
>>> _ = ingest(store, events)
>>> update_state(store).batches_applied
1
>>> related_items(store, "a")[["item_id", "users"]].to_dict("records")
[{'item_id': 'b', 'users': 1}]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from workbench.exceptions import InvalidArgument
from workbench.schema import CATALOG, TABLES, TableSpec

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from workbench.store import Store

__all__ = [
    "STATE_TABLES",
    "StateUpdate",
    "compute_state",
    "popular_items",
    "read_state",
    "rebuild_state",
    "recommend_related",
    "related_items",
    "update_state",
]

DEFAULT_STATE = "default"

#: Declarations of the tables that hold incremental state (in :data:`workbench.schema.TABLES`).
STATE_TABLES: dict[str, TableSpec] = {
    name: TABLES[name]
    for name in (
        "online_states",
        "online_batches",
        "online_user_items",
        "online_item_counts",
        "online_cooccurrence",
    )
}

_T = {name: f"{CATALOG}.main.{name}" for name in STATE_TABLES}
_NEW_EVENTS, _NEW_PAIRS = "__wb_new_events", "__wb_new_pairs"


@dataclass(frozen=True)
class StateUpdate:
    """What one :func:`update_state` call did.

    ``batches_applied`` and ``events_applied`` count what was new (0 and 0 when
    the state was already up to date); ``new_pairs`` counts (user, item) pairs
    seen for the first time; ``items`` and ``pairs`` are the state's sizes after.
    """

    state: str
    batches_applied: int
    events_applied: int
    new_pairs: int
    items: int
    pairs: int
    batch_ids: tuple[str, ...] = ()


def update_state(
    store: Store, *, state: str = DEFAULT_STATE, event_types: Iterable[str] | None = None
) -> StateUpdate:
    """Apply every committed event batch the state has not seen, in one transaction.

    Parameters
    ----------
    store
        The store holding ``events`` and the state.
    state
        Name of the state; several states can count different event types.
    event_types
        Event types to count (None: all). Fixed when the state is created; asking
        an existing state for other types is refused (rebuild it with
        :func:`rebuild_state` instead).

    Returns
    -------
    StateUpdate
    """
    types = _check_types(event_types)
    with store.transaction() as raw:
        return _update(raw, state, types)


def _update(raw: duckdb.DuckDBPyConnection, state: str, types: list[str] | None) -> StateUpdate:
    types = _state_types(raw, state, types)
    batches = [
        b
        for (b,) in raw.execute(
            f"SELECT batch_id FROM {CATALOG}.main.batches WHERE table_name = 'events' "
            f"AND status = 'committed' AND batch_id NOT IN "
            f"(SELECT batch_id FROM {_T['online_batches']} WHERE state = ?) ORDER BY batch_id",
            [state],
        ).fetchall()
    ]
    events, new_pairs = _apply(raw, state, types, batches) if batches else (0, 0)
    items, pairs = _sizes(raw, state)
    return StateUpdate(state, len(batches), events, new_pairs, items, pairs, tuple(batches))


def _apply(
    raw: duckdb.DuckDBPyConnection, state: str, types: list[str] | None, batches: list[str]
) -> tuple[int, int]:
    """Fold the events of ``batches`` into the state; returns (events, new user-item pairs)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    type_filter = "AND event_type IN (SELECT unnest(?))" if types is not None else ""
    params: list = [batches, *([types] if types is not None else [])]
    raw.execute(
        f"CREATE OR REPLACE TEMP TABLE {_NEW_EVENTS} AS SELECT batch_id, user_id, item_id, ts "
        f"FROM {CATALOG}.main.events WHERE batch_id IN (SELECT unnest(?)) {type_filter} "
        "AND user_id IS NOT NULL AND item_id IS NOT NULL",
        params,
    )
    # (user, item) pairs never seen before by this state: they change the user counts and
    # the co-occurrences; repeats only add events.
    raw.execute(
        f"CREATE OR REPLACE TEMP TABLE {_NEW_PAIRS} AS SELECT n.user_id, n.item_id, "
        f"min(n.ts) AS first_ts FROM {_NEW_EVENTS} n LEFT JOIN {_T['online_user_items']} o "
        "ON o.state = ? AND o.user_id = n.user_id AND o.item_id = n.item_id "
        "WHERE o.item_id IS NULL GROUP BY n.user_id, n.item_id",
        [state],
    )
    try:
        _add_item_counts(raw, state)
        _add_cooccurrence(raw, state)
        raw.execute(
            f"INSERT INTO {_T['online_user_items']} SELECT ?, user_id, item_id, first_ts "
            f"FROM {_NEW_PAIRS}",
            [state],
        )
        raw.execute(
            f"INSERT INTO {_T['online_batches']} SELECT ?, b.batch_id, count(e.batch_id), ? "
            f"FROM (SELECT unnest(?) AS batch_id) b LEFT JOIN {_NEW_EVENTS} e "
            "ON e.batch_id = b.batch_id GROUP BY b.batch_id",
            [state, now, batches],
        )
        events = raw.execute(f"SELECT count(*) FROM {_NEW_EVENTS}").fetchone()[0]
        new_pairs = raw.execute(f"SELECT count(*) FROM {_NEW_PAIRS}").fetchone()[0]
        raw.execute(
            f"UPDATE {_T['online_states']} SET events_applied = events_applied + ?, "
            "updated_at = ? WHERE state = ?",
            [events, now, state],
        )
    finally:
        raw.execute(f"DROP TABLE IF EXISTS {_NEW_EVENTS}")
        raw.execute(f"DROP TABLE IF EXISTS {_NEW_PAIRS}")
    return events, new_pairs


def _add_item_counts(raw: duckdb.DuckDBPyConnection, state: str) -> None:
    delta = (
        f"SELECT e.item_id, e.events, coalesce(p.users, 0) AS users, e.last_ts FROM "
        f"(SELECT item_id, count(*) AS events, max(ts) AS last_ts FROM {_NEW_EVENTS} "
        "GROUP BY item_id) e LEFT JOIN "
        f"(SELECT item_id, count(*) AS users FROM {_NEW_PAIRS} GROUP BY item_id) p "
        "ON p.item_id = e.item_id"
    )
    _merge_counts(
        raw,
        "online_item_counts",
        delta,
        state,
        keys=("item_id",),
        added=("events", "users"),
        latest=("last_ts",),
    )


def _add_cooccurrence(raw: duckdb.DuckDBPyConnection, state: str) -> None:
    # A user's new items pair with each other and with the items they had before (the
    # new pairs join online_user_items before they are added to it).
    delta = (
        "SELECT least(item_id, other) AS item_a, greatest(item_id, other) AS item_b, "
        "count(*) AS users FROM ("
        f"SELECT n.item_id, o.item_id AS other FROM {_NEW_PAIRS} n JOIN {_NEW_PAIRS} o "
        "ON o.user_id = n.user_id AND o.item_id > n.item_id UNION ALL "
        f"SELECT n.item_id, o.item_id AS other FROM {_NEW_PAIRS} n "
        f"JOIN {_T['online_user_items']} o ON o.state = $state AND o.user_id = n.user_id"
        ") GROUP BY 1, 2"
    )
    _merge_counts(
        raw, "online_cooccurrence", delta, state, keys=("item_a", "item_b"), added=("users",)
    )


def _merge_counts(
    raw: duckdb.DuckDBPyConnection,
    table: str,
    delta_sql: str,
    state: str,
    *,
    keys: tuple[str, ...],
    added: tuple[str, ...],
    latest: tuple[str, ...] = (),
) -> None:
    """Add ``delta`` to the state's rows of ``table``: sums for ``added``, max for ``latest``."""
    target = _T[table]
    raw.execute(
        f"CREATE OR REPLACE TEMP TABLE __wb_delta AS {delta_sql.replace('$state', '?')}",
        [state] if "$state" in delta_sql else [],
    )
    try:
        match = " AND ".join(f"t.{k} = d.{k}" for k in keys)
        sets = [f"{c} = t.{c} + d.{c}" for c in added]
        sets += [f"{c} = greatest(t.{c}, d.{c})" for c in latest]
        raw.execute(
            f"UPDATE {target} t SET {', '.join(sets)} FROM __wb_delta d "
            f"WHERE t.state = ? AND {match}",
            [state],
        )
        columns = [*keys, *added, *latest]
        raw.execute(
            f"INSERT INTO {target} (state, {', '.join(columns)}) SELECT ?, "
            f"{', '.join(f'd.{c}' for c in columns)} FROM __wb_delta d WHERE NOT EXISTS "
            f"(SELECT 1 FROM {target} t WHERE t.state = ? AND {match})",
            [state, state],
        )
    finally:
        raw.execute("DROP TABLE IF EXISTS __wb_delta")


def compute_state(
    store: Store, *, event_types: Iterable[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The counts computed from scratch over every committed event batch (nothing written).

    Returns ``{"item_counts": ..., "cooccurrence": ...}`` with the columns of
    ``online_item_counts`` and ``online_cooccurrence`` (without ``state``),
    sorted by their keys: what :func:`read_state` returns for an up-to-date state.
    """
    types = _check_types(event_types)
    type_filter = "AND event_type IN (SELECT unnest(?))" if types is not None else ""
    events = (
        f"SELECT user_id, item_id, ts FROM {CATALOG}.main.events WHERE batch_id IN "
        f"(SELECT batch_id FROM {CATALOG}.main.batches WHERE table_name = 'events' AND "
        f"status = 'committed') {type_filter} AND user_id IS NOT NULL AND item_id IS NOT NULL"
    )
    params = [types] if types is not None else []
    with store.reading() as raw:
        item_counts = raw.execute(
            f"SELECT item_id, count(*) AS events, count(DISTINCT user_id) AS users, "
            f"max(ts) AS last_ts FROM ({events}) GROUP BY item_id ORDER BY item_id",
            params,
        ).df()
        cooccurrence = raw.execute(
            f"WITH pairs AS (SELECT DISTINCT user_id, item_id FROM ({events})) "
            "SELECT a.item_id AS item_a, b.item_id AS item_b, count(*) AS users FROM pairs a "
            "JOIN pairs b ON a.user_id = b.user_id AND a.item_id < b.item_id "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            params,
        ).df()
    return {"item_counts": item_counts, "cooccurrence": cooccurrence}


def read_state(store: Store, *, state: str = DEFAULT_STATE) -> dict[str, pd.DataFrame]:
    """The state's counts as stored, in the layout of :func:`compute_state`."""
    with store.reading() as raw:
        _require_state(raw, state)
        item_counts = raw.execute(
            f"SELECT item_id, events, users, last_ts FROM {_T['online_item_counts']} "
            "WHERE state = ? ORDER BY item_id",
            [state],
        ).df()
        cooccurrence = raw.execute(
            f"SELECT item_a, item_b, users FROM {_T['online_cooccurrence']} WHERE state = ? "
            "ORDER BY item_a, item_b",
            [state],
        ).df()
    return {"item_counts": item_counts, "cooccurrence": cooccurrence}


def rebuild_state(
    store: Store, *, state: str = DEFAULT_STATE, event_types: Iterable[str] | None = None
) -> StateUpdate:
    """Drop the state (its counts and watermark) and apply every batch again, in one transaction."""
    types = _check_types(event_types)
    with store.transaction() as raw:
        for table in _T.values():
            raw.execute(f"DELETE FROM {table} WHERE state = ?", [state])
        return _update(raw, state, types)


def popular_items(store: Store, k: int = 10, *, state: str = DEFAULT_STATE) -> pd.DataFrame:
    """The ``k`` items with the most distinct users (then events, then item id), from the state."""
    k = _check_k(k)
    with store.reading() as raw:
        _require_state(raw, state)
        return raw.execute(
            f"SELECT item_id, users, events, last_ts FROM {_T['online_item_counts']} "
            "WHERE state = ? ORDER BY users DESC, events DESC, item_id LIMIT ?",
            [state, k],
        ).df()


def related_items(
    store: Store, item_id: str, k: int = 10, *, state: str = DEFAULT_STATE
) -> pd.DataFrame:
    """Items most often interacted with by the same users as ``item_id``, from the state.

    Columns ``item_id``, ``users`` (users who had both) and ``confidence``
    (``users`` over the users of ``item_id``: the share of its users who also had
    the other item), best first (ties by item id). An item without co-occurrences
    gives an empty table.
    """
    k = _check_k(k)
    with store.reading() as raw:
        _require_state(raw, state)
        return raw.execute(
            "WITH pairs AS ("
            f"SELECT item_b AS item_id, users FROM {_T['online_cooccurrence']} "
            "WHERE state = $1 AND item_a = $2 UNION ALL "
            f"SELECT item_a AS item_id, users FROM {_T['online_cooccurrence']} "
            "WHERE state = $1 AND item_b = $2) "
            "SELECT p.item_id, p.users, p.users / c.users AS confidence FROM pairs p, "
            f"(SELECT users FROM {_T['online_item_counts']} WHERE state = $1 AND item_id = $2) c "
            "ORDER BY p.users DESC, p.item_id LIMIT $3",
            [state, str(item_id), k],
        ).df()


def recommend_related(
    store: Store, user_id: str, k: int = 10, *, state: str = DEFAULT_STATE
) -> pd.DataFrame:
    """Items that co-occur most with the user's own items, from the state (delivery C).

    An item's score is the sum, over the items the user already has, of the
    users who had both; items the user has are left out. Columns ``item_id``,
    ``score``, best first (ties by item id). A user the state does not know
    gets an empty table: serve :func:`popular_items` instead.
    """
    k = _check_k(k)
    with store.reading() as raw:
        _require_state(raw, state)
        return raw.execute(
            f"WITH mine AS (SELECT item_id FROM {_T['online_user_items']} "
            "WHERE state = $1 AND user_id = $2), "
            "pairs AS ("
            f"SELECT c.item_b AS item_id, c.users FROM {_T['online_cooccurrence']} c "
            "JOIN mine m ON c.item_a = m.item_id WHERE c.state = $1 UNION ALL "
            f"SELECT c.item_a AS item_id, c.users FROM {_T['online_cooccurrence']} c "
            "JOIN mine m ON c.item_b = m.item_id WHERE c.state = $1) "
            "SELECT item_id, CAST(sum(users) AS DOUBLE) AS score FROM pairs "
            "WHERE item_id NOT IN (SELECT item_id FROM mine) "
            "GROUP BY item_id ORDER BY score DESC, item_id LIMIT $3",
            [state, str(user_id), k],
        ).df()


# -- helpers ------------------------------------------------------------------------------


def _state_types(
    raw: duckdb.DuckDBPyConnection, state: str, types: list[str] | None
) -> list[str] | None:
    """The state's event types, registering a new state with ``types``."""
    row = raw.execute(
        f"SELECT CAST(event_types AS VARCHAR) FROM {_T['online_states']} WHERE state = ?", [state]
    ).fetchone()
    if row is None:
        now = datetime.now(UTC).replace(tzinfo=None)
        raw.execute(
            f"INSERT INTO {_T['online_states']} VALUES (?, CAST(? AS JSON), ?, ?, 0)",
            [state, json.dumps(types), now, now],
        )
        return types
    stored = json.loads(row[0])
    if types is not None and types != stored:
        raise InvalidArgument(
            f"State {state!r} counts event types {stored or 'all'}, not {types}. Use another "
            f"state name, or rebuild_state(store, state={state!r}, event_types={types!r})."
        )
    return stored


def _require_state(raw: duckdb.DuckDBPyConnection, state: str) -> None:
    exists = raw.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
        [CATALOG, "online_states"],
    ).fetchone()[0]
    if (
        not exists
        or not raw.execute(
            f"SELECT count(*) FROM {_T['online_states']} WHERE state = ?", [state]
        ).fetchone()[0]
    ):
        raise InvalidArgument(
            f"No incremental state {state!r} in the store yet. Run "
            f"update_state(store, state={state!r}) first."
        )


def _sizes(raw: duckdb.DuckDBPyConnection, state: str) -> tuple[int, int]:
    items = raw.execute(
        f"SELECT count(*) FROM {_T['online_item_counts']} WHERE state = ?", [state]
    ).fetchone()[0]
    pairs = raw.execute(
        f"SELECT count(*) FROM {_T['online_cooccurrence']} WHERE state = ?", [state]
    ).fetchone()[0]
    return items, pairs


def _check_types(event_types: Iterable[str] | None) -> list[str] | None:
    if event_types is None:
        return None
    types = [event_types] if isinstance(event_types, str) else list(event_types)
    if not types or not all(isinstance(t, str) and t for t in types):
        raise InvalidArgument(
            f"event_types must be None (all) or non-empty event type names, got {event_types!r}."
        )
    return sorted(set(types))


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgument(f"k must be an integer >= 1, got {k!r}.")
    return k
