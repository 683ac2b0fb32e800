"""Beyond accuracy: catalog coverage, novelty and intra-list diversity of top-k lists.

These judge the lists alone, so they need no relevant items: novelty and
diversity average over every user with a list, coverage looks at all lists
together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.evaluate._inputs import (
    ITEM,
    USER,
    check_k,
    padded_lists,
    ranked_frame,
    require_columns,
)
from workbench.exceptions import InvalidArgument
from workbench.tables import to_frame

# Largest number of cells of a per-block (users, k, k) array in diversity_by_user.
_BLOCK_CELLS = 1 << 21

__all__ = [
    "catalog_coverage_score",
    "intra_list_diversity_score",
    "item_popularity",
    "novelty_score",
]


def item_popularity(interactions: Any) -> pd.Series:
    """Share of users who interacted with each item, indexed by ``item_id``.

    Parameters
    ----------
    interactions : DataFrame or Ibis table
        Columns ``user_id`` and ``item_id`` (usually the training set).

    Returns
    -------
    pandas.Series
        Values in (0, 1], named ``popularity``.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["a", "b", "a"]})
    >>> item_popularity(train).to_dict()
    {'a': 1.0, 'b': 0.5}
    """
    frame = to_frame(interactions, name="interactions")
    require_columns(frame, (USER, ITEM), name="interactions")
    n_users = frame[USER].nunique()
    if n_users == 0:
        raise InvalidArgument("interactions is empty; item popularity needs at least one row.")
    users_per_item = frame.drop_duplicates([USER, ITEM]).groupby(ITEM, sort=False)[USER].size()
    return (users_per_item / n_users).rename("popularity")


def catalog_coverage_score(recommended: Any, catalog: Any, *, k: int = 10) -> float:
    """Share of the catalog that appears in at least one user's top ``k``.

    Coverage is a property of all lists together, not a mean over users, so
    it grows with the number of users and has no per-user value. Recommended
    items outside ``catalog`` are ignored.

    Parameters
    ----------
    recommended : mapping of user -> ranked sequence of items, or DataFrame
        As in :func:`~workbench.evaluate.precision_at_k_score`.
    catalog : collection of item ids
        Every item that could have been recommended.
    k : int, default 10
        Length of the list that is judged.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> recommended = {"ann": ["a", "b"], "bob": ["a", "c"]}
    >>> catalog_coverage_score(recommended, ["a", "b", "c", "d"], k=2)
    0.75
    >>> catalog_coverage_score(recommended, ["a", "b", "c", "d"], k=1)
    0.25
    """
    k = check_k(k)
    items = pd.Index(pd.unique(pd.Series(list(catalog), dtype=object)))
    if items.empty:
        raise InvalidArgument("catalog is empty; pass every item that could be recommended.")
    lists = ranked_frame(recommended)
    shown = lists.loc[lists["position"] <= k, ITEM]
    # membership by hash lookup: Index.isin on Arrow strings is slow for long lists
    return float((pd.Index(pd.unique(shown)).get_indexer(items) >= 0).mean())


def _popularity_series(popularity: Any) -> pd.Series:
    if isinstance(popularity, Mapping):
        shares = pd.Series(dict(popularity), dtype=float)
    elif isinstance(popularity, pd.Series):
        shares = popularity.astype(float)
    else:
        shares = item_popularity(popularity)
    if ((shares <= 0) | (shares > 1) | shares.isna()).any():
        raise InvalidArgument(
            "popularity must be a share of users in (0, 1] for every item; "
            "build it with item_popularity(train)."
        )
    return shares


def novelty_by_user(
    lists: pd.DataFrame, popularity: Any, *, k: int, users: pd.Index | None = None
) -> pd.Series:
    """Mean ``-log2(popularity)`` over each user's top ``k`` (NaN when none is known)."""
    shares = _popularity_series(popularity)
    users, codes, items = padded_lists(lists, k, users)
    surprise = np.append(-np.log2(shares.reindex(items).to_numpy()), np.nan)
    per_position = surprise[codes]  # code -1 (no item) picks the trailing NaN
    known = ~np.isnan(per_position)
    with np.errstate(invalid="ignore"):
        values = np.where(known, per_position, 0.0).sum(axis=1) / known.sum(axis=1)
    return pd.Series(values, index=users, name="novelty_score")


def novelty_score(recommended: Any, popularity: Any, *, k: int = 10) -> float:
    """Mean self-information ``-log2(popularity)`` of recommended items, in bits.

    For each user, average ``-log2 p(i)`` over the top ``k`` items, where
    ``p(i)`` is the share of (training) users who interacted with item ``i``;
    then average over users. Recommending what everyone already knows scores
    near 0. Items without a popularity (never seen in training) have no
    defined novelty and are left out of their user's mean; a user none of
    whose items has a popularity is left out of the mean over users.

    Parameters
    ----------
    recommended : mapping of user -> ranked sequence of items, or DataFrame
        As in :func:`~workbench.evaluate.precision_at_k_score`.
    popularity : mapping or Series of item -> share in (0, 1], or DataFrame
        Item popularity, or the interactions (``user_id``, ``item_id``) to
        compute it from with :func:`item_popularity`.
    k : int, default 10
        Length of the list that is judged.

    Returns
    -------
    float
        At least 0; higher is more novel.

    Examples
    --------
    >>> popularity = {"a": 0.5, "b": 0.25, "c": 1.0}
    >>> novelty_score({"ann": ["a", "b"], "bob": ["c"]}, popularity, k=2)  # ((1 + 2) / 2 + 0) / 2
    0.75
    """
    values = novelty_by_user(ranked_frame(recommended), popularity, k=check_k(k))
    return float(values.mean())


def _item_table(items: pd.Index, item_features: Any, item_similarity: Any) -> np.ndarray:
    """Rows of ``item_features`` (unit vectors) or of ``item_similarity`` for ``items``.

    Features come back as unit vectors, one row per item; similarities as the
    square matrix among ``items``. Either way a trailing zero row (and column)
    stands for "no item", which the caller masks out.
    """
    if (item_features is None) == (item_similarity is None):
        raise InvalidArgument("Pass exactly one of item_features and item_similarity.")
    table = item_features if item_similarity is None else item_similarity
    name = "item_features" if item_similarity is None else "item_similarity"
    if isinstance(table, Mapping):
        table = pd.DataFrame.from_dict(dict(table), orient="index")
    table = to_frame(table, name=name)
    if item_similarity is None and ITEM in table.columns:
        table = table.set_index(ITEM)
    if not table.index.is_unique:
        repeated = table.index[table.index.duplicated()][:5]
        raise InvalidArgument(f"{name} has more than one row for items {list(repeated)}.")
    missing = items[table.index.get_indexer(items) < 0]
    if len(missing):
        raise InvalidArgument(
            f"{name} has no row for {len(missing)} recommended item(s), e.g. "
            f"{list(missing[:5])}; give every catalog item a row."
        )
    try:
        rows = table.loc[items] if item_similarity is None else table.loc[items, items]
        values = rows.to_numpy(dtype=float)
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidArgument(
            f"{name} must hold numbers for every recommended item ({error})."
        ) from error
    if np.isnan(values).any():
        raise InvalidArgument(f"{name} has missing values for recommended items; fill them.")
    if item_similarity is None:
        norms = np.linalg.norm(values, axis=1, keepdims=True)
        # a zero vector points nowhere: it is similar to nothing (distance 1)
        values = np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)
        return np.vstack([values, np.zeros((1, values.shape[1]))])
    return np.pad(values, ((0, 1), (0, 1)))


def diversity_by_user(
    lists: pd.DataFrame,
    *,
    k: int,
    item_features: Any = None,
    item_similarity: Any = None,
    users: pd.Index | None = None,
) -> pd.Series:
    """Mean pairwise ``1 - similarity`` within each user's top ``k`` (NaN below 2 items)."""
    users, codes, items = padded_lists(lists, k, users)
    table = _item_table(items, item_features, item_similarity)
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    totals = np.zeros(len(users))
    counts = np.zeros(len(users))
    # users in blocks, so the (users, k, k) arrays stay small whatever k and the user count
    block = max(1, _BLOCK_CELLS // (k * max(k, table.shape[1])))
    for start in range(0, len(users), block):
        chunk = codes[start : start + block]
        if item_similarity is None:
            vectors = table[chunk]  # (users, k, features)
            similarity = np.einsum("ukd,uvd->ukv", vectors, vectors)
        else:
            similarity = table[chunk[:, :, None], chunk[:, None, :]]
        present = (chunk[:, :, None] >= 0) & (chunk[:, None, :] >= 0) & upper
        totals[start : start + block] = np.where(present, 1.0 - similarity, 0.0).sum(axis=(1, 2))
        counts[start : start + block] = present.sum(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        values = totals / counts
    return pd.Series(values, index=users, name="intra_list_diversity_score")


def intra_list_diversity_score(
    recommended: Any,
    *,
    item_features: Any = None,
    item_similarity: Any = None,
    k: int = 10,
) -> float:
    """Mean pairwise distance between the items of each top-``k`` list, averaged over users.

    The distance of two items is ``1 - similarity``: cosine similarity of
    their feature vectors (``item_features``), or a given similarity
    (``item_similarity``). Users whose list holds fewer than two items have no
    pair and are left out.

    Parameters
    ----------
    recommended : mapping of user -> ranked sequence of items, or DataFrame
        As in :func:`~workbench.evaluate.precision_at_k_score`.
    item_features : DataFrame or mapping of item -> vector, optional
        Numeric features, one row per item (index ``item_id`` or an
        ``item_id`` column). A zero vector is at distance 1 from everything.
    item_similarity : DataFrame, optional
        Square item-item similarity with item ids as index and columns.
    k : int, default 10
        Length of the list that is judged.

    Returns
    -------
    float
        Higher is more diverse; in [0, 1] for non-negative features, up to 2
        with cosine similarity of signed features.

    Examples
    --------
    >>> features = {"a": [1, 0], "b": [1, 0], "c": [0, 1]}
    >>> round(intra_list_diversity_score({"ann": ["a", "b", "c"]}, item_features=features, k=3), 4)
    0.6667
    """
    lists = ranked_frame(recommended)
    values = diversity_by_user(
        lists, k=check_k(k), item_features=item_features, item_similarity=item_similarity
    )
    return float(values.mean())
