"""Delivery A, stored: serve each user's precomputed list from memory.

The lists are written by :func:`~workbench.delivery.batch.precompute`.
:func:`retrieve` answers from an in-process snapshot of the lists (and of a
popularity list for users without one). It does not open the store per
request: it looks at the store file's size and modification time, and only
when they changed does it ask the store whether the lists did. The snapshot is kept
by the Store object (:meth:`~workbench.store.Store.memo`). Its pieces
(:class:`StoredLists`, :func:`lists_fingerprint`, :func:`load_lists`,
:func:`count_fallback`) also serve the HTTP service's snapshot and scoring now, so
every path falls back to the same popularity list.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.delivery.semantics import count_popular, served_semantics
from workbench.exceptions import InvalidArgument, ModelNotFound

if TYPE_CHECKING:
    import pandas as pd

    from workbench.store import Store

__all__ = [
    "Retrieval",
    "StoredLists",
    "check_positive",
    "count_fallback",
    "default_model",
    "fallback_items",
    "forget_snapshots",
    "lists_fingerprint",
    "load_lists",
    "retrieve",
    "sample_users",
    "store_state",
]


@dataclass(frozen=True)
class Retrieval:
    """A list served to one user, and where it came from.

    Attributes
    ----------
    user_id : str
    items : pandas.DataFrame
        ``item_id``, ``rank`` (1-based), ``score``; best first.
    source : str
        ``"precomputed"`` (the user's stored list), ``"model"`` (scored now by
        :func:`~workbench.delivery.recommend_now`) or ``"popularity"`` (the
        fallback for users the model has no list for).
    model : str or None
        ``name@version`` of the lists or model the answer comes from.
    reason : str
        Why this source was used, in words.
    computed_at : datetime or None
        When the stored lists were computed (None for on-the-fly answers).
    context : dict or None
        The context the caller passed (on-the-fly answers).
    """

    user_id: str
    items: pd.DataFrame
    source: str
    model: str | None
    reason: str
    computed_at: datetime | None = None
    context: dict[str, Any] | None = field(default=None)


# --- choosing the model ---------------------------------------------------------------


def default_model(store: Store) -> str:
    """``"name@champion"`` of the only model that has a champion.

    Raises
    ------
    ModelNotFound
        When no model, or more than one, has a champion (then name one).
    """
    names = [
        row["name"]
        for row in store.sql(
            "SELECT DISTINCT name FROM model_aliases WHERE alias = 'champion' ORDER BY name"
        ).to_pylist()
    ]
    if len(names) == 1:
        return f"{names[0]}@champion"
    if not names:
        raise ModelNotFound(
            "No model has a champion yet. Register one and promote it "
            "(`workbench models promote NAME VERSION`), or name a version: model='als@3'."
        )
    raise ModelNotFound(
        f"Several models have a champion ({', '.join(names)}); name one, e.g. "
        f"model='{names[0]}@champion'."
    )


def check_positive(name: str, value: Any) -> None:
    """Raise InvalidArgument unless ``value`` is an integer >= 1 (``k``, ``n``, chunk sizes)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidArgument(f"{name} must be an integer >= 1, got {value!r}.")


# --- retrieve -------------------------------------------------------------------------


def store_state(store: Store) -> tuple | None:
    """A cheap token that changes whenever the store is written.

    Every write session ends with a checkpoint into the file, so its size or
    modification time moves; reading them costs a ``stat``, not a connection. A store
    in memory is written by this process alone, through its write sessions, which it
    counts (:attr:`Store.writes`).
    """
    if store.path is None:
        return ("memory", store.writes)
    states = []
    for path in (store.path, store.path.with_name(store.path.name + ".wal")):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            states.append(None)
        else:
            states.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(states)


@dataclass(frozen=True)
class StoredLists:
    """One model version's stored lists, indexed by user for lookups without a query.

    Built by :func:`load_lists`; a user's list is one slice of ``item_ids``, ``ranks``
    and ``scores``. Both :func:`retrieve` and the HTTP service's snapshot serve from it.
    """

    fingerprint: tuple | None = None
    model: str | None = None
    computed_at: datetime | None = None
    max_k: int = 0
    # User id -> position in starts/stops: plain ints, so the garbage collector has no
    # hundred thousand tuples to walk through while requests are being served.
    spans: dict[str, int] = field(default_factory=dict)
    starts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    stops: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    item_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    ranks: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.empty(0))

    def check_k(self, k: int) -> None:
        """Refuse a ``k`` longer than the stored lists, saying how to get longer ones."""
        if self.model is not None and k > self.max_k:
            raise InvalidArgument(
                f"The lists of {self.model} hold at most {self.max_k} items; asked for "
                f"k={k}. Ask for k <= {self.max_k}, or precompute longer lists (`workbench "
                f"precompute --k {k}`; a list is shorter than that k only when the catalogue, "
                "less what its user met, holds fewer items)."
            )

    def user_slice(self, user_id: str, k: int) -> slice | None:
        """Where the first ``k`` items of ``user_id``'s list are, or None without one."""
        at = self.spans.get(user_id)
        if at is None:
            return None
        start = int(self.starts[at])
        return slice(start, min(int(self.stops[at]), start + k))

    def fallback_reason(self) -> str:
        """Why a user without a list gets the popularity fallback, in words."""
        if self.model is None:
            return "no lists have been precomputed"
        return f"no precomputed list for this user in {self.model}"


def lists_fingerprint(raw, store: Store, model: str | None) -> tuple | None:
    """``(model, version, rows, latest computed_at)`` of the lists to serve, or None.

    ``model`` is a reference (``"als@champion"``, resolved now, so a moved alias is
    seen); without one, the most recently precomputed lists. A reference whose
    version has no lists is a :class:`~workbench.exceptions.ModelNotFound`.
    """
    from workbench.registry import resolve

    if model is None:
        found = raw.execute(
            "SELECT model, version, count(*), max(computed_at) FROM recommendations "
            "GROUP BY model, version ORDER BY max(computed_at) DESC, model, version LIMIT 1"
        ).fetchone()
        return tuple(found) if found is not None else None
    version = resolve(store, model)
    found = raw.execute(
        "SELECT model, version, count(*), max(computed_at) FROM recommendations "
        "WHERE model = ? AND version = ? GROUP BY model, version",
        [version.name, version.version],
    ).fetchone()
    if found is None:
        raise ModelNotFound(
            f"No precomputed recommendations for {model} ({version.ref}). Run "
            f"`workbench precompute --model {model}` (or precompute(store, model=...))."
        )
    return tuple(found)


def load_lists(raw, fingerprint: tuple | None) -> StoredLists:
    """The stored lists :func:`lists_fingerprint` names, indexed by user."""
    if fingerprint is None:
        return StoredLists()
    name, version, _, computed_at = fingerprint
    table = raw.execute(
        "SELECT user_id, rank, item_id, score FROM recommendations "
        "WHERE model = ? AND version = ? ORDER BY user_id, rank",
        [name, version],
    ).to_arrow_table()
    if table.num_rows == 0:
        return StoredLists(fingerprint)
    users = table["user_id"].to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ranks = table["rank"].to_numpy()
    return StoredLists(
        fingerprint=fingerprint,
        model=f"{name}@{version}",
        computed_at=computed_at,
        max_k=int(ranks.max()),
        spans={user: at for at, user in enumerate(users[starts].tolist())},
        starts=starts,
        stops=np.r_[starts[1:], users.size],
        item_ids=table["item_id"].to_numpy(zero_copy_only=False),
        ranks=ranks,
        scores=table["score"].to_numpy(),
    )


def count_fallback(raw, name: str | None, version: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The popularity fallback of a model version: items and weights, most first.

    Counted in the version's scope with its feedback semantics
    (:func:`~workbench.delivery.semantics.count_popular`), so stored lists, scoring
    now fall back to the same list; the HTTP service blends recent events into it
    (:mod:`workbench.delivery.recent`).
    """
    items, counts = count_popular(raw, *served_semantics(raw, name, version))
    return np.array(items, dtype=object), np.array(counts, dtype=np.float64)


@dataclass
class _Snapshot:
    """What :func:`retrieve` serves from: stored lists and their fallback, by store state."""

    state: tuple | None
    fingerprint: tuple
    lists: StoredLists
    popular: tuple[np.ndarray, np.ndarray]


_SNAPSHOTS = "stored lists"  # Store.memo name: model reference -> _Snapshot
_snapshots_lock = threading.Lock()


def forget_snapshots(store: Store) -> None:
    """Drop the lists :func:`retrieve` keeps for ``store``: the next call reads them again."""
    store.memo(_SNAPSHOTS).clear()


def _snapshot(store: Store, model: str | None) -> _Snapshot:
    """The snapshot :func:`retrieve` serves from, reloaded only when the lists changed."""
    memo = store.memo(_SNAPSHOTS)
    state = store_state(store)
    with _snapshots_lock:
        entry = memo.get(model)
    if entry is not None and state is not None and entry.state == state:
        return entry
    with store.reading() as raw:
        lists = lists_fingerprint(raw, store, model)
        (events,) = raw.execute("SELECT count(*) FROM events").fetchone()
        fingerprint = (lists, int(events))
        if entry is not None and entry.fingerprint == fingerprint:
            entry.state = state
            return entry
        loaded = load_lists(raw, lists)
        popular = count_fallback(raw, *(lists[:2] if lists else (None, None)))
    entry = _Snapshot(state, fingerprint, loaded, popular)
    with _snapshots_lock:
        memo[model] = entry
    return entry


def retrieve(store: Store, user_id: str, k: int = 10, *, model: str | None = None) -> Retrieval:
    """A user's precomputed list, or the popularity list when they have none.

    Parameters
    ----------
    store : Store
    user_id : str
    k : int
        Items wanted, at most the ``k`` the lists were precomputed with.
    model : str, optional
        Whose lists to serve, e.g. ``"als@champion"`` (resolved when the store
        changes); default the most recently precomputed lists.

    Returns
    -------
    Retrieval
        ``source`` is ``"precomputed"``, or ``"popularity"`` (most events in
        the store) when the user has no list: unknown to the model, new since
        it was trained, or no lists were precomputed at all.

    Raises
    ------
    ModelNotFound
        When ``model`` names no version, or that version has no stored lists.
    InvalidArgument
        When ``k`` exceeds what was precomputed.
    """
    import pandas as pd

    check_positive("k", k)
    if not isinstance(user_id, str):
        raise InvalidArgument(f"user_id must be text (ids are strings), got {user_id!r}.")
    snapshot = _snapshot(store, model)
    lists = snapshot.lists
    lists.check_k(k)
    where = lists.user_slice(user_id, k)
    if where is not None:
        items = pd.DataFrame(
            {
                "item_id": lists.item_ids[where],
                "rank": lists.ranks[where],
                "score": lists.scores[where],
            }
        )
        return Retrieval(
            user_id, items, "precomputed", lists.model, "stored list", lists.computed_at
        )
    return Retrieval(
        user_id,
        fallback_items(*snapshot.popular, k=k),
        "popularity",
        lists.model,
        lists.fallback_reason(),
        lists.computed_at,
    )


def sample_users(store: Store, model: str, n: int = 5) -> list[str]:
    """Up to ``n`` users with a stored list from ``model`` (a reference), in id order.

    For notebooks and smoke checks that want a user to show; raises
    :class:`~workbench.exceptions.ModelNotFound` when the model has no stored lists.
    """
    from workbench.registry import resolve

    check_positive("n", n)
    version = resolve(store, model)
    rows = store.sql(
        "SELECT DISTINCT user_id FROM recommendations WHERE model = ? AND version = ? "
        "ORDER BY user_id LIMIT ?",
        [version.name, version.version, int(n)],
    ).column("user_id")
    if len(rows) == 0:
        raise ModelNotFound(
            f"{version.ref} has no stored recommendations: run `workbench precompute "
            f"--model {version.ref}` first."
        )
    return rows.to_pylist()


def fallback_items(items: np.ndarray, counts: np.ndarray, *, k: int, exclude=()) -> pd.DataFrame:
    """The first ``k`` of a popularity ranking (best first), leaving out ``exclude``."""
    import pandas as pd

    if len(exclude):
        keep = ~np.isin(items, np.asarray(list(exclude), dtype=object))
        items, counts = items[keep], counts[keep]
    n = min(k, len(items))
    return pd.DataFrame(
        {"item_id": items[:n], "rank": np.arange(1, n + 1, dtype=np.int32), "score": counts[:n]}
    )
