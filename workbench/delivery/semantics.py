"""Reading the store the way a served model learned: its scope, its feedback semantics.

- The popularity fallback (:func:`count_popular`): a model's stored lists cover the
  users it was trained on; everybody else (a new user, an id from another product)
  gets the most popular items, counted only from events of the model's scope and
  weighted by its feedback (a skip is no vote, an ad impression is no play).
  Stored-list retrieval and the HTTP service both answer from it.
- Items related to an item (:func:`count_related`): the items its players played
  most, counted with the same scope and feedback (the HTTP service's
  ``GET /items/{item_id}/related``).
- What users have met (:func:`seen_matrix`): every item a user played, liked or
  skipped in the model's scope, as the store knows it now, not only in the rows the
  model trained on (events held out for testing, or that came after training).
  Precompute leaves those items out of the lists; :func:`met_items` answers the
  same question for any users and items.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from workbench.feedback import Feedback
from workbench.scope import Scope
from workbench.sql import literal

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import scipy.sparse as sp

    from workbench.store import Store

__all__ = ["count_popular", "count_related", "met_items", "seen_matrix", "served_semantics"]

#: How many of the most popular items a fallback list keeps.
POPULAR_ITEMS = 1000


def served_semantics(
    raw: duckdb.DuckDBPyConnection, name: str | None, version: int | None
) -> tuple[Scope, Feedback]:
    """The scope and feedback a model version recorded (its lists' fallback counts so).

    Without a version (no lists yet), or for a version that recorded none: everything,
    and the configured feedback.
    """
    if name is None:
        return Scope(), Feedback.from_config()
    row = raw.execute(
        "SELECT signature FROM model_versions WHERE name = ? AND version = ?", [name, version]
    ).fetchone()
    signature = json.loads(row[0]) if row and row[0] else {}
    feedback = signature.get("feedback")
    return (
        Scope.from_dict(signature.get("scope")),
        Feedback.parse(feedback) if feedback else Feedback.from_config(),
    )


def count_popular(
    raw: duckdb.DuckDBPyConnection, scope: Scope, feedback: Feedback, *, limit: int = POPULAR_ITEMS
) -> tuple[list[str], list[float]]:
    """The ``limit`` items with the most positive weight in ``scope``, most first.

    Each event adds its feedback weight; an item's total counts when above 0. Ties
    go in item-id order, so the list is the same on every call.
    """
    rows = raw.execute(
        "SELECT item_id, sum(weight) AS n FROM ("
        f"  SELECT item_id, {feedback.weight_sql()} AS weight FROM events "
        f"  WHERE item_id IS NOT NULL AND {scope.events_sql()}"
        ") WHERE weight IS NOT NULL GROUP BY item_id HAVING sum(weight) > 0 "
        "ORDER BY n DESC, item_id LIMIT ?",
        [int(limit)],
    ).fetchall()
    return [item for item, _ in rows], [float(n) for _, n in rows]


def count_related(
    raw: duckdb.DuckDBPyConnection,
    item_id: str,
    scope: Scope,
    feedback: Feedback,
    *,
    limit: int = POPULAR_ITEMS,
) -> tuple[list[str], list[int]]:
    """The items most often played by the users who played ``item_id``, and how many did.

    "Played" means an event of positive feedback weight in ``scope`` (a skip is not);
    each user counts once per item. Ties go in item-id order.
    """
    positive = (
        f"SELECT DISTINCT user_id, item_id FROM events WHERE item_id IS NOT NULL "
        f"AND user_id IS NOT NULL AND {scope.events_sql()} AND {feedback.weight_sql()} > 0"
    )
    rows = raw.execute(
        f"WITH played AS ({positive}), fans AS (SELECT user_id FROM played WHERE item_id = ?) "
        "SELECT p.item_id, count(*) AS users FROM played p JOIN fans f ON f.user_id = p.user_id "
        "WHERE p.item_id <> ? GROUP BY p.item_id ORDER BY users DESC, p.item_id LIMIT ?",
        [item_id, item_id, int(limit)],
    ).fetchall()
    return [item for item, _ in rows], [int(n) for _, n in rows]


def seen_matrix(
    raw: duckdb.DuckDBPyConnection,
    scope: Scope,
    feedback: Feedback,
    users: np.ndarray,
    items: np.ndarray,
) -> sp.csr_array:
    """1 where a user (row of ``users``) met an item (column of ``items``) in ``scope``.

    Met means an event of a type the feedback counts (an interaction or a negative);
    users and items outside the given ids are left out.
    """
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    counted = ", ".join(literal(t) for t in feedback.counted)
    pairs = raw.execute(
        "SELECT DISTINCT user_id, item_id FROM events WHERE item_id IS NOT NULL "
        f"AND event_type IN ({counted}) AND {scope.events_sql()}"
    ).to_arrow_table()
    rows = pd.Index(users.astype(str)).get_indexer(pairs["user_id"].to_numpy(zero_copy_only=False))
    columns = pd.Index(items.astype(str)).get_indexer(
        pairs["item_id"].to_numpy(zero_copy_only=False)
    )
    known = (rows >= 0) & (columns >= 0)
    return sp.csr_array(
        (np.ones(int(known.sum())), (rows[known], columns[known])),
        shape=(len(users), len(items)),
    )


def met_items(
    store: Store, users: np.ndarray, items: np.ndarray, *, model: str | None = None
) -> sp.csr_array:
    """1 where a user met an item, as precompute counts it before it lists the item.

    ``model`` (a registry reference) gives the scope and feedback; without it, every
    event and the configured feedback. Rows follow ``users``, columns ``items``.
    """
    name = version = None
    if model is not None:
        from workbench.registry import resolve

        resolved = resolve(store, model)
        name, version = resolved.name, resolved.version
    with store.reading() as raw:
        scope, feedback = served_semantics(raw, name, version)
        return seen_matrix(raw, scope, feedback, users, items)
