"""Near-real-time delivery (C) in memory: what is trending, what each user met and played lately.

A stored list is as old as its precompute, and its popularity fallback as old as its
count; events keep arriving. :class:`RecentActivity` folds every committed event batch
of a served model's scope, read with its feedback semantics, into what the service
blends into each answer:

- **trending**: each item's feedback weight (a play 1, a skip nothing: the model's
  :class:`~workbench.feedback.Feedback`), each event's weight halved for every
  ``half_life`` between its time and the newest event's (an event's time is taken no
  later than its batch's commit, so a client clock ahead cannot age the rest away). An item that many users
  start playing now tops the list within one fold; yesterday's favourites fade
  unless they keep being played. Items whose every event has decayed away (about 40
  half-lives old) follow, by their undecayed weight: the list is never cut short.
- **fresh**: per user, the items they met (every event type the feedback counts:
  plays, likes, skips) in batches committed after the lists were computed. The
  service leaves them out of the user's answer: the precompute left out what they
  had met before it, these are what they met since.
- **who played what**: from which the items related to an item (those its players
  played most) are counted in memory; what a user just played re-ranks and extends
  their answer through them.

A fold reads only the batches committed since the last one (by ``batches.finished_at``;
a count over the last :data:`LOOKBACK` catches a transaction that committed late), so it
costs the new events, not the history. Folding batch by batch gives what folding every batch at
once gives (:meth:`RecentActivity.compute`), to rounding: the tests hold it to that,
across restarts too, since a restarted service computes the state from the store.

Examples
--------
>>> import pandas as pd
>>> from workbench.capture import ingest
>>> from workbench.store import Store
>>> store = Store.open("duckdb://:memory:")
>>> events = pd.DataFrame({"event_id": ["1", "2", "3"], "ts": "2026-01-01T10:00:00Z",
...                        "user_id": ["u1", "u2", "u2"], "item_id": ["a", "a", "b"],
...                        "event_type": "play"})
>>> _ = ingest(store, events)
>>> with store.reading() as raw:
...     recent = RecentActivity.compute(raw)
>>> recent.trending()[0].tolist()
['a', 'b']
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.feedback import Feedback
from workbench.scope import Scope

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import duckdb

__all__ = ["DEFAULT_HALF_LIFE", "JUST_PLAYED", "LOOKBACK", "RELATED_ITEMS", "RecentActivity"]

#: How fast trending forgets: an event counts half as much after this long.
DEFAULT_HALF_LIFE = dt.timedelta(hours=6)
#: How far before the newest batch seen a fold looks for batches that committed late.
LOOKBACK = dt.timedelta(minutes=10)
#: The most items a trending list keeps (as the popularity fallback does).
TRENDING_ITEMS = 1000
#: The most related items counted per item.
RELATED_ITEMS = 100
#: How many of a user's latest plays their answer draws related items from.
JUST_PLAYED = 3
#: The most items whose related lists are kept between two folds.
_RELATED_KEPT = 10_000

_EMPTY: frozenset[str] = frozenset()
# Folded batches kept to recognise a late one; older ones are forgotten past twice this.
_KEPT_BATCHES = 10_000


class RecentActivity:
    """Trending items and each user's freshly met items, folded from committed batches.

    Parameters
    ----------
    scope : Scope, optional
        Which events count (the served model's scope); default every event.
    feedback : Feedback, optional
        How each event type counts; default the configured feedback.
    half_life : datetime.timedelta
        Time after which an event's weight in trending has halved.
    since : datetime.datetime, optional
        When the served lists were computed (UTC, no zone, as the store keeps times):
        items met in batches committed after it are a user's fresh items. None: none
        are fresh (no lists to leave them out of).

    Attributes
    ----------
    as_of : datetime.datetime or None
        When the newest batch folded in was committed (UTC, no zone).
    batches, events : int
        Batches and events folded in so far.
    """

    def __init__(
        self,
        scope: Scope | None = None,
        feedback: Feedback | None = None,
        *,
        half_life: dt.timedelta = DEFAULT_HALF_LIFE,
        since: dt.datetime | None = None,
    ) -> None:
        if half_life <= dt.timedelta(0):
            raise ValueError(f"half_life must be positive, not {half_life}.")
        self.scope = scope or Scope()
        self.feedback = feedback or Feedback.from_config()
        self.half_life = half_life
        self.since = since
        self.as_of: dt.datetime | None = None
        self.batches = 0
        self.events = 0
        self._seen_batches: dict[str, dt.datetime] = {}
        self._finished: list[dt.datetime] = []  # when each seen batch committed, sorted
        self._index: dict[str, int] = {}
        self._items = np.empty(0, dtype=object)
        self._weights = np.empty(0, dtype=np.float64)
        self._totals = np.empty(0, dtype=np.float64)  # the same weights, never decayed
        self._reference: float | None = None  # seconds: the time weights are decayed to
        self._ranking = (np.empty(0, dtype=object), np.empty(0, dtype=np.float64))
        self._fresh: dict[str, frozenset[str]] = {}
        self._late: dict[str, frozenset[str]] = {}
        self._met = None  # scipy CSR: users x items met before ``since``
        # Users and items by code: the rows and columns of _met first, in its order, then
        # those folded since. Who played what (positive feedback weight), for related
        # items: the plays before ``since`` in _played (shaped as _met) with its
        # transpose, and the plays folded since, minus those: as sorted pair codes, and
        # per user and per item (arrays that grow by a fold's new pairs: no fold rebuilds
        # what earlier folds built).
        self._user_codes: dict[str, int] = {}
        self._item_codes: dict[str, int] = {}
        self._item_names = np.empty(0, dtype=object)
        self._played = None
        self._players = None
        self._more_pairs = np.empty(0, dtype=np.int64)
        self._more_items: dict[int, np.ndarray] = {}  # user code -> item codes
        self._more_users: dict[int, np.ndarray] = {}  # item code -> user codes
        # Per user, what they played since the lists were computed, latest first.
        self._just_played: dict[str, tuple[str, ...]] = {}
        self._related: dict[str, tuple[list[str], list[int]]] = {}  # emptied by each fold

    @classmethod
    def compute(
        cls,
        raw: duckdb.DuckDBPyConnection,
        scope: Scope | None = None,
        feedback: Feedback | None = None,
        *,
        half_life: dt.timedelta = DEFAULT_HALF_LIFE,
        since: dt.datetime | None = None,
    ) -> RecentActivity:
        """The state from every committed batch at once (what folding arrives at)."""
        recent = cls(scope, feedback, half_life=half_life, since=since)
        recent.catch_up(raw)
        return recent

    # --- folding -----------------------------------------------------------------------

    def catch_up(self, raw: duckdb.DuckDBPyConnection) -> int:
        """Fold every committed event batch not folded yet; returns the events folded (those
        of the types the feedback reads, in scope)."""
        batches = self._new_batches(raw)
        if not batches:
            return 0
        # Types the feedback does not read (weight NULL) neither trend nor count as met.
        events = raw.execute(
            "SELECT * FROM (SELECT user_id, item_id, ts, "
            f"{self.feedback.weight_sql()} AS weight, batch_id FROM events "
            "WHERE batch_id IN (SELECT unnest(?)) AND item_id IS NOT NULL "
            f"AND {self.scope.events_sql()}) WHERE weight IS NOT NULL",
            [list(batches)],
        ).fetchnumpy()
        self.fold(events, batches)
        return len(events["weight"])

    def _new_batches(self, raw: duckdb.DuckDBPyConnection) -> dict[str, dt.datetime]:
        """Committed event batches not folded yet, with when each was committed.

        Cheap when nothing committed late: it reads the batches at or after the newest
        one folded, and counts those of the look-back window; only when that count shows
        a batch it has not seen (one that committed late) does it read the whole window.
        """
        committed = "table_name = 'events' AND status = 'committed'"
        if self.as_of is None:
            rows = raw.execute(f"SELECT batch_id, finished_at FROM batches WHERE {committed}")
            return dict(rows.fetchall())
        cutoff = self.as_of - LOOKBACK
        # One query: the batches at or after the newest folded, and how many the window holds.
        in_window, batch_ids, finished = raw.execute(
            "SELECT count(*), coalesce(list(batch_id) FILTER (finished_at >= $1), []), "
            "coalesce(list(finished_at) FILTER (finished_at >= $1), []) FROM batches "
            f"WHERE {committed} AND finished_at >= $2",
            [self.as_of, cutoff],
        ).fetchone()
        newer = {
            batch: when
            for batch, when in zip(batch_ids, finished, strict=True)
            if batch not in self._seen_batches
        }
        known = len(self._finished) - bisect.bisect_left(self._finished, cutoff)
        if in_window == known + len(newer):
            return newer
        return {
            batch: finished
            for batch, finished in raw.execute(
                f"SELECT batch_id, finished_at FROM batches WHERE {committed} AND finished_at >= ?",
                [cutoff],
            ).fetchall()
            if batch not in self._seen_batches
        }

    def fold(self, events: Mapping[str, Any], batches: dict[str, dt.datetime]) -> None:
        """Fold ``events`` (columns ``user_id, item_id, ts, weight, batch_id``: a DataFrame
        or a mapping of arrays) of ``batches``.

        ``batches`` maps each batch id to when it was committed; a batch already folded
        is refused, so nothing counts twice.
        """
        repeated = sorted(set(batches) & set(self._seen_batches))
        if repeated:
            raise ValueError(f"batches already folded: {repeated[:5]}")
        columns = {
            name: np.asarray(events[name])
            for name in ("user_id", "item_id", "ts", "weight", "batch_id")
        }
        count = len(columns["weight"])
        if count:
            self._add_weights(columns, batches)
            self._add_met(columns, batches)
            # Related items are counted anew after each fold (a reader still filling the
            # old cache fills a dict nobody reads again).
            self._related = {}
        self._seen_batches.update(batches)
        for finished in batches.values():
            bisect.insort(self._finished, finished)
        self.batches += len(batches)
        self.events += count
        self.as_of = self._finished[-1] if self._finished else None
        # Batches older than the look-back are never read again: forget them.
        if self.as_of is not None and len(self._finished) > 2 * _KEPT_BATCHES:
            cutoff = self.as_of - LOOKBACK
            self._seen_batches = {b: f for b, f in self._seen_batches.items() if f >= cutoff}
            self._finished = sorted(self._seen_batches.values())

    def _add_weights(self, events: dict[str, np.ndarray], batches: dict[str, Any]) -> None:
        seconds = events["ts"].astype("datetime64[us]").astype(np.int64) / 1e6
        # An event is no newer than the commit that brought it: a client clock months
        # ahead must not age every other event away.
        committed = _commit_times(events["batch_id"], batches).astype(np.int64) / 1e6
        seconds = np.minimum(seconds, committed)
        newest = float(seconds.max())
        half_life = self.half_life.total_seconds()
        if self._reference is None:
            self._reference = newest
        elif newest > self._reference:
            # Everything folded so far ages to the newest event's time.
            self._weights *= np.exp2(-(newest - self._reference) / half_life)
            self._reference = newest
        items = events["item_id"].astype(str).tolist()  # Python text, as answers carry it
        new = [item for item in dict.fromkeys(items) if item not in self._index]
        if new:
            start = len(self._items)
            self._index.update((item, start + i) for i, item in enumerate(new))
            self._items = np.concatenate([self._items, np.array(new, dtype=object)])
            self._weights = np.concatenate([self._weights, np.zeros(len(new))])
            self._totals = np.concatenate([self._totals, np.zeros(len(new))])
        positions = np.fromiter((self._index[item] for item in items), np.int64, len(items))
        decay = np.exp2(-(self._reference - seconds) / half_life)
        weights = events["weight"].astype(float)
        np.add.at(self._weights, positions, weights * decay)
        np.add.at(self._totals, positions, weights)
        self._ranking = self._rank()

    def _rank(self) -> tuple[np.ndarray, np.ndarray]:
        """Items heaviest first: by decayed weight (to 9 decimals), then, for the items
        whose events have all decayed away, by their undecayed weight; then by item id.

        So the list is never cut short: after a quiet spell (or once live events follow
        an old history) the items nobody played lately still follow, most popular first.
        """
        recent = np.where(self._weights > 1e-12, np.round(self._weights, 9), 0.0)
        kept = np.flatnonzero((recent > 0) | (self._totals > 1e-12))
        order = np.lexsort(
            (self._items[kept].astype(str), -np.round(self._totals[kept], 9), -recent[kept])
        )[:TRENDING_ITEMS]
        chosen = kept[order]
        # Copies: a reader keeps the arrays it took while the next fold builds new ones.
        return self._items[chosen].copy(), self._weights[chosen].copy()

    def _add_met(self, events: dict[str, np.ndarray], batches: dict[str, dt.datetime]) -> None:
        """Who met and who played what: before ``since`` in compact matrices (built once,
        by the first fold), after it per user (the fresh items), and late arrivals beside
        them."""
        import pandas as pd

        if self.since is None:
            # No lists: what the first fold holds is "before", anything later is fresh.
            self.since = max(batches.values())
        known = events["user_id"] != None  # noqa: E711 (element-wise, on an object array)
        committed = _commit_times(events["batch_id"], batches)
        after = committed > np.datetime64(self.since, "us")
        before = known & ~after
        played = events["weight"].astype(float) > 0
        if self._met is None:
            users, user_codes = np.unique(
                events["user_id"][before].astype(str), return_inverse=True
            )
            item_codes, items = pd.factorize(events["item_id"][before].astype(str))
            self._met = _pairs_matrix(user_codes, item_codes, len(users), len(items))
            self._user_codes = {user: row for row, user in enumerate(users.tolist())}
            self._item_codes = {item: column for column, item in enumerate(items.tolist())}
            self._item_names = np.asarray(items, dtype=object)
            positive = played[before]
            self._played = _pairs_matrix(
                user_codes[positive], item_codes[positive], len(users), len(items)
            )
            self._players = self._played.T.tocsr()
            late = np.zeros(len(known), dtype=bool)
        else:
            late = before  # batches committed before the lists, folded after the first fold
        for mask, kept in ((after & known, self._fresh), (late, self._late)):
            for user, items in _grouped(events["user_id"][mask], events["item_id"][mask]).items():
                # One assignment per user: a reader sees the old set or the new one.
                kept[user] = kept.get(user, _EMPTY) | items
        self._add_plays(events, (after | late) & known & played)
        # What each user just played, latest first (by event time, no later than commit).
        fresh = np.flatnonzero(after & known & played)
        if fresh.size:
            plays = pd.DataFrame(
                {
                    "user": events["user_id"][fresh].astype(str),
                    "item": events["item_id"][fresh].astype(str),
                    "at": np.minimum(
                        events["ts"][fresh].astype("datetime64[us]"), committed[fresh]
                    ),
                }
            )
            latest = (
                plays.sort_values("at", ascending=False, kind="stable")
                .drop_duplicates(["user", "item"])
                .groupby("user", sort=False)
                .head(JUST_PLAYED)
            )
            newest: dict[str, list[str]] = {}
            for user, item in zip(latest["user"].tolist(), latest["item"].tolist(), strict=True):
                newest.setdefault(user, []).append(item)
            for user, items in newest.items():
                merged = dict.fromkeys(items + list(self._just_played.get(user, ())))
                self._just_played[user] = tuple(merged)[:JUST_PLAYED]

    def _add_plays(self, events: dict[str, np.ndarray], mask: np.ndarray) -> None:
        """Add the plays of ``events`` under ``mask`` (folded after the first fold) to
        who played what: only the (user, item) pairs not counted yet."""
        if not mask.any():
            return
        users, _ = _codes(events["user_id"][mask], self._user_codes)
        items, added = _codes(events["item_id"][mask], self._item_codes)
        if added:
            self._item_names = np.concatenate([self._item_names, np.asarray(added, dtype=object)])
        pairs = np.unique((users << 32) | items)
        users, items = pairs >> 32, pairs & 0xFFFFFFFF
        before = self._played
        known = (users < before.shape[0]) & (items < before.shape[1])
        counted = np.zeros(len(pairs), dtype=bool)
        if known.any():
            counted[known] = np.asarray(before[users[known], items[known]]).ravel() > 0
        pairs = pairs[~counted]
        if self._more_pairs.size:
            at = np.searchsorted(self._more_pairs, pairs)
            seen = self._more_pairs[np.minimum(at, self._more_pairs.size - 1)] == pairs
            pairs, at = pairs[~seen], at[~seen]
        else:
            at = np.zeros(len(pairs), dtype=np.int64)
        if not pairs.size:
            return
        self._more_pairs = np.insert(self._more_pairs, at, pairs)  # still sorted
        users, items = pairs >> 32, pairs & 0xFFFFFFFF
        for kept, keys, values in (
            (self._more_items, users, items),
            (self._more_users, items, users),
        ):
            order = np.argsort(keys, kind="stable")
            keys, values = keys[order], values[order]
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            for key, group in zip(keys[starts].tolist(), np.split(values, starts[1:]), strict=True):
                # One assignment per key: a reader sees the old array or the new one.
                old = kept.get(key)
                kept[key] = group if old is None else np.concatenate([old, group])

    # --- reading -----------------------------------------------------------------------

    def trending(self) -> tuple[np.ndarray, np.ndarray]:
        """``(items, weights)``: the trending list, heaviest first (at most 1,000 items)."""
        return self._ranking

    def fresh(self, user_id: str) -> frozenset[str]:
        """The items ``user_id`` met in batches committed after the lists were computed."""
        return self._fresh.get(user_id, _EMPTY)

    def met(self, user_id: str) -> frozenset[str]:
        """Every item ``user_id`` met (played, liked, skipped), before the lists or since."""
        found = self._fresh.get(user_id, _EMPTY) | self._late.get(user_id, _EMPTY)
        row = self._user_codes.get(user_id)
        if row is not None and row < self._met.shape[0]:
            columns = self._met.indices[self._met.indptr[row] : self._met.indptr[row + 1]]
            found = found | frozenset(self._item_names[columns].tolist())
        return found

    def just_played(self, user_id: str) -> tuple[str, ...]:
        """The items ``user_id`` last played since the lists were computed, latest first
        (at most :data:`JUST_PLAYED`; a skip is no play)."""
        return self._just_played.get(user_id, ())

    def related(self, item_id: str, limit: int = RELATED_ITEMS) -> tuple[list[str], list[int]]:
        """The items most often played by the users who played ``item_id``, and how many did.

        Counted in memory from every play folded in (each user once per item; a skip is
        no play; ties in item-id order), as
        :func:`~workbench.delivery.semantics.count_related` counts them in the store,
        and kept until the next fold.
        """
        kept = self._related
        found = kept.get(item_id)
        if found is None:
            found = self._count_related(item_id)
            if len(kept) < _RELATED_KEPT:
                kept[item_id] = found
        return found[0][:limit], found[1][:limit]

    def _count_related(self, item_id: str) -> tuple[list[str], list[int]]:
        # Read once: a fold may replace them meanwhile (names only ever grow).
        before, players = self._played, self._players
        column = self._item_codes.get(item_id)
        names = self._item_names
        if column is None or before is None or column >= len(names):
            return [], []  # (the last: an item a fold is adding right now)
        fans = [self._more_users.get(column, np.empty(0, dtype=np.int64))]
        if column < players.shape[0]:
            fans.append(players.indices[players.indptr[column] : players.indptr[column + 1]])
        users = np.unique(np.concatenate(fans))
        # A pair is counted before or since, never both: a fan's plays are the two together.
        counts = np.zeros(len(names), dtype=np.int64)
        rows = users[users < before.shape[0]]
        if rows.size:
            summed = before[rows].sum(axis=0, dtype=np.int64)
            counts[: before.shape[1]] += np.asarray(summed).ravel()
        since = [self._more_items[user] for user in users.tolist() if user in self._more_items]
        if since:
            played = np.concatenate(since)
            counts += np.bincount(played[played < len(names)], minlength=len(names))
        counts[column] = 0
        chosen = np.flatnonzero(counts)
        if chosen.size > RELATED_ITEMS:
            # Only the counts that can make the list need sorting (ties included).
            cut = np.partition(counts[chosen], -RELATED_ITEMS)[-RELATED_ITEMS]
            chosen = chosen[counts[chosen] >= cut]
        order = np.lexsort((names[chosen].astype(str), -counts[chosen]))[:RELATED_ITEMS]
        chosen = chosen[order]
        return names[chosen].tolist(), counts[chosen].tolist()

    def blend(
        self,
        user_id: str,
        stored: list[tuple[str, float]] | None,
        k: int,
        *,
        exclude: Iterable[str] = (),
    ) -> tuple[list[tuple[str, float]], list[str]]:
        """A user's answer: their stored list without what they met since, re-ranked and
        extended by what they just played, topped up from trending.

        Parameters
        ----------
        user_id : str
        stored : list of (item_id, score), or None
            The user's stored list, best first; None when they have none, and trending
            takes its place (the fallback).
        k : int
            Items wanted.
        exclude : iterable of str
            Items never to answer (already shown, in the basket).

        Returns
        -------
        (items, blended)
            Up to ``k`` ``(item_id, score)`` pairs, and what went into them, in words.
            Each item keeps its source's score: the model's, a count of co-players for a
            related item, a trending weight.

        Notes
        -----
        What the user just played (their :data:`JUST_PLAYED` latest plays since the
        lists) counts through the items related to it (:meth:`related`, co-players
        summed over those plays):

        - with a stored list, its items most related to those plays move up to places
          2, 4, 6, ... (up to half the list; the model's first choice stays first), and
          when the list runs short (the user met its items since) related items extend
          it before trending does: a play of a minute ago says what the user is after
          now, and the model, fitted on their whole history, still chooses what is in
          the list;
        - without a list, related items take places 2, 4, 6, ... among trending.
        """
        fresh = self.fresh(user_id)
        # The stored list already left out what the user had met when it was computed;
        # what is added leaves out everything they ever met.
        taken = set(self.met(user_id)) | set(exclude)
        just = self.just_played(user_id)
        scores = self._related_scores(just, taken) if just else {}
        played = f"what the user just played ({', '.join(just)})"
        blended: list[str] = []
        if stored is not None:
            listed = [(item, score) for item, score in stored if item not in taken]
            blended.append("stored list")
            left_out = sum(item in fresh for item, _ in stored)
            if left_out:
                blended.append(
                    f"{left_out} item(s) the user met since the list was computed left out"
                )
            taken.update(item for item, _ in stored)
            related = sorted(
                (pair for pair in listed if pair[0] in scores), key=lambda p: -scores[p[0]]
            )[: k // 2]
            if related:
                rest = [pair for pair in listed if pair not in related]
                listed = _alternate(rest, related)
                moved = sum(1 for pair in related if pair in listed[:k])
                blended.append(f"{moved} item(s) of the list related to {played} moved up")
            items = listed[:k]
            extra = _best(scores, taken, k - len(items))
            if extra:
                items += extra
                taken.update(item for item, _ in extra)
                blended.append(f"{len(extra)} item(s) related to {played} added")
        else:
            related = _best(scores, taken, k // 2)
            taken.update(item for item, _ in related)
            base = self._trending_besides(taken, k)
            taken.update(item for item, _ in base)
            blended.append(self.describe())
            if self.met(user_id) - set(exclude):
                blended.append("items the user met left out")
            items = _alternate(base, related)[:k]
            placed = sum(1 for pair in related if pair in items)
            if placed:
                blended.append(
                    f"{placed} item(s) played by those who played {played}, "
                    "alternating with trending"
                )
        if len(items) < k:
            added = self._trending_besides(taken, k - len(items))
            items += added
            if stored is not None and added:
                blended.append(f"{len(added)} trending item(s) added ({self.describe()})")
        return items, blended

    def _trending_besides(self, taken: set[str], k: int) -> list[tuple[str, float]]:
        """The first ``k`` trending items not in ``taken``, with their weights."""
        trending, weights = self._ranking
        found: list[tuple[str, float]] = []
        for at in range(len(trending)):
            if len(found) >= k:
                break
            if trending[at] not in taken:
                found.append((trending[at], float(weights[at])))
        return found

    def _related_scores(self, played: tuple[str, ...], taken: set[str]) -> dict[str, int]:
        """Co-players of ``played``, summed per item, leaving out ``taken``."""
        totals: dict[str, int] = {}
        for item in played:
            for other, count in zip(*self.related(item), strict=True):
                if other not in taken:
                    totals[other] = totals.get(other, 0) + count
        return totals

    @property
    def fresh_users(self) -> int:
        """How many users met an item since the lists were computed."""
        return len(self._fresh)

    def describe(self) -> str:
        """What the trending list counts, in words (for answers and the health check)."""
        seconds = self.half_life.total_seconds()
        span = f"{seconds:g} seconds"
        for unit, size in (("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
            if seconds >= size and seconds % size == 0:
                count = int(seconds // size)
                span = f"{count} {unit}s" if count != 1 else unit
                break
        return f"trending: feedback weight halved every {span}"


def _best(scores: dict[str, int], taken: set[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` highest-scoring items not in ``taken`` (ties in item-id order)."""
    if k <= 0:
        return []
    ranked = sorted(
        (pair for pair in scores.items() if pair[0] not in taken), key=lambda p: (-p[1], p[0])
    )
    return [(item, float(score)) for item, score in ranked[:k]]


def _alternate(first: list, second: list) -> list:
    """``first[0], second[0], first[1], second[1], ...``, then what is left of either."""
    merged = [pair for both in zip(first, second, strict=False) for pair in both]
    shorter = min(len(first), len(second))
    return merged + first[shorter:] + second[shorter:]


def _codes(values: np.ndarray, codes: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    """Each value's code (as text), and the values new to ``codes``, which are numbered
    on from ``len(codes)`` in the order returned."""
    unique, inverse = np.unique(values.astype(str), return_inverse=True)
    added = [value for value in unique.tolist() if value not in codes]
    codes.update(zip(added, range(len(codes), len(codes) + len(added)), strict=True))
    mapped = np.fromiter((codes[value] for value in unique.tolist()), np.int64, len(unique))
    return mapped[inverse], added


def _grouped(keys: np.ndarray, values: np.ndarray) -> dict[str, frozenset[str]]:
    """The values of each key, as text."""
    grouped: dict[str, set[str]] = {}
    for key, value in zip(keys.tolist(), values.tolist(), strict=True):
        grouped.setdefault(str(key), set()).add(str(value))
    return {key: frozenset(found) for key, found in grouped.items()}


def _pairs_matrix(rows: np.ndarray, columns: np.ndarray, users: int, items: int):
    """A users x items 0/1 CSR matrix of the (row, column) pairs."""
    import scipy.sparse as sp

    matrix = sp.csr_array(
        (np.ones(len(rows), dtype=np.int8), (rows, columns)), shape=(users, items)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1  # a pair met twice is still one pair
    matrix.sort_indices()
    return matrix


def _commit_times(batch_ids: np.ndarray, batches: dict[str, Any]) -> np.ndarray:
    """When each event's batch committed (``datetime64[us]``), one per event."""
    unique, inverse = np.unique(batch_ids.astype(str), return_inverse=True)
    times = np.array([np.datetime64(batches[b], "us") for b in unique.tolist()])
    return times[inverse]
