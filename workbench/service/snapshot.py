"""The read snapshot: stored lists and what happened since, in memory, refreshed on change.

``GET /recommendations/{user_id}`` never opens the store: it answers from this
snapshot, which is kept current this way:

1. right after each commit of the service's own writer, the batches it committed are
   folded in: by the writer thread in its own session (:meth:`ListSnapshot.fold`), or,
   when the writer runs in its own process, by this snapshot's thread, woken by
   :meth:`ListSnapshot.poke`, in a short read session;
2. every :data:`WATCH_SECONDS` (0.1 s) a background thread ``stat``\\ s the store
   file and its write-ahead log (:func:`workbench.delivery.stored.store_state`).
   Every write session ends with a checkpoint, so any write anywhere (another
   worker's commit, an ingest by another process, a precompute) changes size or
   mtime, and the batches committed since are folded in as in 1; a quiet store
   costs two ``stat`` calls and nothing else. Every ``refresh_seconds`` (default
   1 s) the same check leads to 3;
3. only when the file changed does it open the store, briefly, read the lists'
   fingerprint (``model, version, count(*), max(computed_at)`` of the lists served,
   after resolving the configured reference, so a moved alias is seen) and fold
   the event batches committed since into the recent activity
   (:class:`~workbench.delivery.recent.RecentActivity`): trending items and each
   user's freshly met items, in the served model's scope and feedback semantics;
4. only when the lists' fingerprint changed does it reload them, and recompute the
   recent activity from every batch (its scope, feedback and "since" follow the
   lists).

A user's answer is their stored list without the items they met since it was
computed, re-ranked and extended by what they just played, topped up from trending
when that leaves fewer than ``k``; a user without a list gets trending (the popularity
fallback, recency-weighted) with items related to what they just played. Each answer says
how fresh it is (``as_of``: when the newest batch folded in was committed) and what
it blended.

The lists and the trending ranking are each replaced in a single assignment: a
request sees the old ones or the new ones, never a mix. If a refresh fails (the
store is busy past the lock timeout, the model reference names nothing), the
previous snapshot keeps serving and ``GET /health`` shows the error.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench.delivery.recent import DEFAULT_HALF_LIFE, RecentActivity
from workbench.delivery.semantics import served_semantics
from workbench.delivery.stored import (
    StoredLists,
    lists_fingerprint,
    load_lists,
    store_state,
)
from workbench.exceptions import WorkbenchError
from workbench.tables import utc_text

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["ListSnapshot"]

log = logging.getLogger("workbench.service")

#: How often the snapshot looks at the store file (two ``stat`` calls) for a commit to fold.
WATCH_SECONDS = 0.1


class ListSnapshot:
    """Stored top-k lists and the recent activity blended into them, served from memory.

    Parameters
    ----------
    store : Store
    model : str, optional
        ``"name@alias"`` or ``"name@version"`` whose lists to serve; default the
        most recently precomputed lists.
    refresh_seconds : float
        How often to check whether the store file changed (a poke checks at once).
    half_life : datetime.timedelta
        How fast trending forgets (:class:`~workbench.delivery.recent.RecentActivity`).
    """

    def __init__(
        self,
        store: Store,
        *,
        model: str | None = None,
        refresh_seconds: float = 1.0,
        half_life: dt.timedelta = DEFAULT_HALF_LIFE,
    ) -> None:
        self.store = store
        self.model = model
        self.refresh_seconds = refresh_seconds
        self.half_life = half_life
        self._lists = StoredLists()
        self._recent = RecentActivity(half_life=half_life)
        self._state: tuple | None = ()  # the store file's state at the last refresh
        self._watched: tuple | None = ()  # ... at the last fold or refresh
        self._stop = threading.Event()
        # Folds come from this thread and from the writer's: one at a time. (Both hold a
        # store session first, then this lock, so they cannot wait on each other.)
        self._fold_lock = threading.Lock()
        self._poked = threading.Event()
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
        self._poked.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def fold(self, raw) -> int:
        """Fold the batches committed since the last fold, over a store session the caller
        holds: the service's writer calls it right after each commit, so what it wrote
        is served at once without another session on the store. Returns the events folded.
        """
        with self._fold_lock:
            return self._recent.catch_up(raw)

    def poke(self) -> None:
        """Fold new batches now rather than at the next tick (the service's writer process
        calls it after each commit)."""
        self._poked.set()

    def _run(self) -> None:
        checked = time.monotonic()
        while not self._stop.is_set():
            due = checked + self.refresh_seconds
            poked = self._poked.wait(min(WATCH_SECONDS, max(due - time.monotonic(), 0)))
            self._poked.clear()
            if self._stop.is_set():
                return
            if time.monotonic() >= due:
                # Every refresh_seconds, however often commits poke: new lists are seen.
                self.refresh()
                checked = time.monotonic()
            elif poked or self._file_changed():
                # A commit: this service's (a poke), or another process's (another
                # worker, an ingest), seen by the file's size or time.
                self._fold_now()

    def _file_changed(self) -> bool:
        state = store_state(self.store)
        return state is not None and state != self._watched

    def _fold_now(self) -> None:
        """Fold what was committed since, in a short read session (no lists check)."""
        # Taken before reading: a commit during the fold changes it again, and is folded next.
        self._watched = store_state(self.store)
        try:
            with self.store.reading() as raw:
                self.fold(raw)
        except WorkbenchError as error:
            # The next tick's refresh tries again; /health says why it is behind.
            self.last_error = str(error)
            log.warning("the recent events could not be folded in: %s", error)

    # --- refreshing --------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Reload what changed in the store; returns whether anything was reloaded."""
        state = self._watched = store_state(self.store)
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
        with self.store.reading() as raw, self._fold_lock:
            fingerprint = lists_fingerprint(raw, self.store, self.model)
            reload_lists = fingerprint != self._lists.fingerprint
            if reload_lists:
                lists = load_lists(raw, fingerprint)
                scope, feedback = served_semantics(
                    raw, *(fingerprint[:2] if fingerprint else (None, None))
                )
                # New lists: what is fresh is counted from their computing on, in their
                # scope and feedback, so the recent activity is computed anew.
                recent = RecentActivity.compute(
                    raw, scope, feedback, half_life=self.half_life, since=lists.computed_at
                )
                folded = recent.events
            else:
                lists, recent = self._lists, self._recent
                folded = recent.catch_up(raw)
            # One assignment each: a request sees the old object or the new one.
            self._lists, self._recent = lists, recent
        if reload_lists or folded:
            self.reloads += 1
        return reload_lists or bool(folded)

    # --- serving -------------------------------------------------------------------------

    def lookup(self, user_id: str, k: int) -> dict[str, Any]:
        """A user's answer as the JSON the service answers with.

        Their stored list without what they met since it was computed, re-ranked and
        extended by what they just played, topped up from trending (also when ``k``
        exceeds the stored lists' length); or trending alone for a user without a list
        (the fallback).
        """
        lists, recent = self._lists, self._recent
        # Without fresh items the first k are the answer; with them, the whole list is read.
        where = lists.user_slice(user_id, lists.max_k if recent.fresh(user_id) else k)
        stored = None
        if where is not None:
            stored = list(
                zip(lists.item_ids[where].tolist(), lists.scores[where].tolist(), strict=True)
            )
            source, fallback, reason = "precomputed", False, "stored list"
        else:
            source, fallback, reason = "popularity", True, lists.fallback_reason()
        items, blended = recent.blend(user_id, stored, k)
        return {
            "user_id": user_id,
            "items": _ranked(items),
            "source": source,
            "fallback": fallback,
            "model": lists.model,
            "reason": reason,
            "computed_at": utc_text(lists.computed_at),
            "as_of": utc_text(recent.as_of),
            "blended": blended,
        }

    def fallback(self, user_id: str, k: int, *, model: str | None, exclude=()) -> list | None:
        """Trending for a user a model does not know, as ``lookup`` answers one without a
        list (without what they met lately, nor ``exclude``); None when the snapshot does
        not serve ``model``'s lists (its trending is counted in another scope).
        """
        lists, recent = self._lists, self._recent
        if lists.model is None or lists.model != model:
            return None
        items, _ = recent.blend(user_id, None, k, exclude=exclude)
        return _ranked(items)

    def related(self, item_id: str, k: int) -> dict[str, Any]:
        """The items most often played by those who played ``item_id``, as the JSON the
        service answers with: counted in memory from the plays folded in, in the served
        lists' scope and feedback (:meth:`RecentActivity.related`)."""
        recent = self._recent
        items, users = recent.related(item_id, k)
        return {
            "item_id": item_id,
            "items": [
                {"item_id": item, "rank": rank, "score": float(n)}
                for rank, (item, n) in enumerate(zip(items, users, strict=True), 1)
            ],
            "model": self._lists.model,
            "as_of": utc_text(recent.as_of),
            "blended": ["co-occurrence: each score is how many users played both"],
        }

    def popular_frame(self):
        """The trending list as a DataFrame of ``item_id, score`` (a policy's fallback)."""
        import pandas as pd

        items, weights = self._recent.trending()
        return pd.DataFrame({"item_id": items, "score": weights})

    def status(self) -> dict[str, Any]:
        """What the snapshot holds, for ``GET /health``."""
        lists, recent = self._lists, self._recent
        return {
            "model": lists.model,
            "users": len(lists.spans),
            "computed_at": utc_text(lists.computed_at),
            "popular_items": len(recent.trending()[0]),
            "trending": recent.describe(),
            "as_of": utc_text(recent.as_of),
            "batches_folded": recent.batches,
            "events_folded": recent.events,
            "users_with_fresh_items": recent.fresh_users,
            "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None,
            "refresh_seconds": self.refresh_seconds,
            "last_error": self.last_error,
        }


def _ranked(items: list[tuple[str, float]]) -> list[dict[str, Any]]:
    return [
        {"item_id": item, "rank": rank, "score": score}
        for rank, (item, score) in enumerate(items, start=1)
    ]
