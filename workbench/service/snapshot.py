"""The read snapshot: stored lists and the fallback list, in memory, refreshed on change.

``GET /recommendations/{user_id}`` never opens the store: it answers from this
snapshot. A background thread keeps it current with a cheap change signal:

1. every ``refresh_seconds`` (default 1 s) it ``stat``\\ s the store file and its
   write-ahead log (:func:`workbench.delivery.stored.store_state`). Every write
   session ends with a checkpoint, so any write anywhere (a precompute, an
   alias move, an ingest, this service's own commits) changes size or mtime;
   a quiet store costs two ``stat`` calls and nothing else;
2. only when the file changed does it open the store, briefly, and read the
   lists' fingerprint: ``model, version, count(*), max(computed_at)`` of the
   lists served (after resolving the configured reference, so a moved alias is
   seen) and ``count(*)`` of events;
3. only when the lists' fingerprint changed does it reload them; the popularity
   list (the fallback, top 1,000 items by events) is recounted when the events
   changed and it is older than ``popularity_seconds`` (default 60 s), so a
   stream of captured events does not recount it on every commit.

The new snapshot replaces the old one in a single assignment: a request sees
either the old lists or the new ones, never a mix. If a refresh fails (the store
is busy past the lock timeout, the model reference names nothing), the previous
snapshot keeps serving and ``GET /health`` shows the error.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.delivery.stored import (
    StoredLists,
    count_fallback,
    lists_fingerprint,
    load_lists,
    store_state,
)
from workbench.exceptions import WorkbenchError

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["ListSnapshot"]

log = logging.getLogger("workbench.service")


@dataclass(frozen=True)
class _Popular:
    events: int | None = None
    counted_at: float = 0.0
    items: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    counts: np.ndarray = field(default_factory=lambda: np.empty(0))


class ListSnapshot:
    """Stored top-k lists and the popularity fallback, served from memory.

    Parameters
    ----------
    store : Store
    model : str, optional
        ``"name@alias"`` or ``"name@version"`` whose lists to serve; default the
        most recently precomputed lists.
    refresh_seconds : float
        How often to check whether the store file changed.
    popularity_seconds : float
        Least time between two recounts of the popularity list.
    """

    def __init__(
        self,
        store: Store,
        *,
        model: str | None = None,
        refresh_seconds: float = 1.0,
        popularity_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.model = model
        self.refresh_seconds = refresh_seconds
        self.popularity_seconds = popularity_seconds
        self._lists = StoredLists()
        self._popular = _Popular()
        self._state: tuple | None = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshed_at: datetime | None = None
        self.reloads = 0
        self.last_error: str | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Load the snapshot now, then keep it current in a background thread."""
        self.refresh()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="workbench-snapshot", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()

    # --- refreshing --------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Reload what changed in the store; returns whether anything was reloaded."""
        state = store_state(self.store)
        if not force and state is not None and state == self._state:
            return False
        try:
            changed = self._reload()
        except WorkbenchError as error:
            # Keep serving the previous snapshot; /health says why it is not current.
            self.last_error = str(error)
            log.warning("the read snapshot could not be refreshed: %s", error)
            return False
        self._state = state
        self.last_error = None
        self.refreshed_at = datetime.now(UTC)
        return changed

    def _reload(self) -> bool:
        with self.store.reading() as raw:
            fingerprint = lists_fingerprint(raw, self.store, self.model)
            (events,) = raw.execute("SELECT count(*) FROM events").fetchone()
            reload_lists = fingerprint != self._lists.fingerprint
            popular = self._popular
            recount = popular.events != events and (
                popular.events is None
                or time.monotonic() - popular.counted_at >= self.popularity_seconds
            )
            lists = load_lists(raw, fingerprint) if reload_lists else self._lists
            if recount or reload_lists:
                items, counts = count_fallback(
                    raw, *(fingerprint[:2] if fingerprint else (None, None))
                )
                popular = _Popular(int(events), time.monotonic(), items, counts)
        # One assignment each: a request sees the old object or the new one.
        self._lists, self._popular = lists, popular
        if reload_lists or recount:
            self.reloads += 1
        return reload_lists or recount

    # --- serving -------------------------------------------------------------------------

    def lookup(self, user_id: str, k: int) -> dict[str, Any]:
        """A user's list (or the fallback) as the JSON the service answers with.

        Raises
        ------
        InvalidArgument
            When ``k`` exceeds the length of the stored lists.
        """
        lists = self._lists
        lists.check_k(k)
        computed_at = (
            lists.computed_at.replace(tzinfo=UTC).isoformat()
            if lists.computed_at is not None
            else None
        )
        where = lists.user_slice(user_id, k)
        if where is not None:
            items = [
                {"item_id": item, "rank": rank, "score": score}
                for item, rank, score in zip(
                    lists.item_ids[where].tolist(),
                    lists.ranks[where].tolist(),
                    lists.scores[where].tolist(),
                    strict=True,
                )
            ]
            return {
                "user_id": user_id,
                "items": items,
                "source": "precomputed",
                "fallback": False,
                "model": lists.model,
                "reason": "stored list",
                "computed_at": computed_at,
            }
        popular = self._popular
        items = [
            {"item_id": item, "rank": rank, "score": score}
            for rank, (item, score) in enumerate(
                zip(popular.items[:k].tolist(), popular.counts[:k].tolist(), strict=True),
                start=1,
            )
        ]
        return {
            "user_id": user_id,
            "items": items,
            "source": "popularity",
            "fallback": True,
            "model": lists.model,
            "reason": lists.fallback_reason(),
            "computed_at": computed_at,
        }

    def popular_frame(self):
        """The popularity list as a DataFrame of ``item_id, score`` (a policy's fallback)."""
        import pandas as pd

        popular = self._popular
        return pd.DataFrame({"item_id": popular.items, "score": popular.counts})

    def status(self) -> dict[str, Any]:
        """What the snapshot holds, for ``GET /health``."""
        lists = self._lists
        return {
            "model": lists.model,
            "users": len(lists.spans),
            "computed_at": lists.computed_at.replace(tzinfo=UTC).isoformat()
            if lists.computed_at
            else None,
            "popular_items": len(self._popular.items),
            "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None,
            "refresh_seconds": self.refresh_seconds,
            "last_error": self.last_error,
        }
