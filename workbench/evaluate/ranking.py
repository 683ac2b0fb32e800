"""Accuracy of top-k lists: precision, recall, nDCG, MAP, hit rate, reciprocal rank.

Every function takes ``recommended`` and ``relevant`` and returns the mean over
users of a per-user value. The users averaged over are exactly those with at
least one relevant item:

- a user with relevant items but no list (or a short one) counts, with misses
  where the list has no item;
- a user with a list but no relevant item is left out (there is nothing the
  list could have found).

Relevance is binary: an item is relevant or not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.evaluate._inputs import hit_matrix, ranked_frame, relevant_frame

__all__ = [
    "ACCURACY_METRICS",
    "hit_rate_at_k_score",
    "map_at_k_score",
    "mean_average_precision_score",
    "mean_reciprocal_rank_score",
    "ndcg_at_k_score",
    "precision_at_k_score",
    "recall_at_k_score",
]

#: Accuracy columns of ``score_users`` and ``evaluate_recommenders``: each is named
#: as its metric's function (one spelling everywhere), and every one is higher-is-better.
ACCURACY_METRICS = (
    "precision_at_k_score",
    "recall_at_k_score",
    "ndcg_at_k_score",
    "map_at_k_score",
    "mean_average_precision_score",
    "hit_rate_at_k_score",
    "mean_reciprocal_rank_score",
)


def accuracy_by_user(recommended: Any, relevant: Any, *, k: int = 10) -> pd.DataFrame:
    """Per-user values of every accuracy metric, indexed by ``user_id``.

    The mean of a column over the rows is the metric; the rows are the users
    with at least one relevant item. Also holds ``n_relevant`` and ``hits``.
    """
    return accuracy_from_frames(ranked_frame(recommended), relevant_frame(relevant), k=k)


def accuracy_from_frames(lists: pd.DataFrame, truth: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """:func:`accuracy_by_user` on the outputs of ``ranked_frame`` and ``relevant_frame``."""
    users, hits, n_relevant = hit_matrix(lists, truth, k)
    k = hits.shape[1]
    gains = hits.astype(float)
    n_hits = gains.sum(axis=1)
    positions = np.arange(1, k + 1)
    # precision at every position where a relevant item sits, summed: the numerator of AP
    precision_sum = (np.cumsum(gains, axis=1) / positions * gains).sum(axis=1)
    discounts = 1.0 / np.log2(positions + 1)
    ideal_dcg = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    first_hit = hits.argmax(axis=1) + 1
    return pd.DataFrame(
        {
            "n_relevant": n_relevant,
            "hits": n_hits.astype(np.int64),
            "precision_at_k_score": n_hits / k,
            "recall_at_k_score": n_hits / n_relevant,
            "ndcg_at_k_score": gains @ discounts / ideal_dcg,
            "map_at_k_score": precision_sum / np.minimum(n_relevant, k),
            "mean_average_precision_score": precision_sum / n_relevant,
            "hit_rate_at_k_score": (n_hits > 0).astype(float),
            "mean_reciprocal_rank_score": np.where(n_hits > 0, 1.0 / first_hit, 0.0),
        },
        index=users,
    )


def _mean_of(column: str, recommended: Any, relevant: Any, k: int) -> float:
    return float(accuracy_by_user(recommended, relevant, k=k)[column].mean())


def precision_at_k_score(recommended: Any, relevant: Any, *, k: int = 10) -> float:
    """Share of the top ``k`` recommended items that are relevant, averaged over users.

    A list shorter than ``k`` still divides by ``k`` (as Spark and
    microsoft/recommenders do), so a model that returns fewer items is not
    rewarded for it.

    Parameters
    ----------
    recommended : mapping of user -> ranked sequence of items, or DataFrame
        The lists, best first. A DataFrame has columns ``user_id``, ``item_id``
        and ``rank`` (1 is best); an Ibis table is executed first.
    relevant : mapping of user -> collection of items, or DataFrame
        The items each user found relevant (a DataFrame has ``user_id`` and
        ``item_id``). Users with no relevant item are excluded from the mean.
    k : int, default 10
        Length of the list that is judged.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> recommended = {"ann": ["a", "b", "c"], "bob": ["d", "e", "f"], "cy": ["a"]}
    >>> relevant = {"ann": {"a", "c"}, "bob": {"e", "x"}}  # cy has none: excluded
    >>> precision_at_k_score(recommended, relevant, k=3)
    0.5
    """
    return _mean_of("precision_at_k_score", recommended, relevant, k)


def recall_at_k_score(recommended: Any, relevant: Any, *, k: int = 10) -> float:
    """Share of each user's relevant items found in the top ``k``, averaged over users.

    Users with no relevant item are excluded; a user with more than ``k``
    relevant items cannot reach 1.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k_score`.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> recommended = {"ann": ["a", "b", "c"], "bob": ["d", "e", "f"]}
    >>> relevant = {"ann": {"a", "c"}, "bob": {"e", "x"}}
    >>> recall_at_k_score(recommended, relevant, k=3)  # (2/2 + 1/2) / 2
    0.75
    """
    return _mean_of("recall_at_k_score", recommended, relevant, k)


def ndcg_at_k_score(recommended: Any, relevant: Any, *, k: int = 10) -> float:
    """Normalized discounted cumulative gain of the top ``k``, averaged over users.

    With binary relevance, ``DCG = sum over hits of 1 / log2(position + 1)``
    and the ideal DCG puts ``min(n_relevant, k)`` hits first, so a perfect list
    scores 1. (The base of the logarithm cancels in the ratio.) Users with no
    relevant item are excluded. This equals :func:`sklearn.metrics.ndcg_score`
    with ``k`` on a score vector that ranks the list first, when every list
    holds at least ``k`` items (sklearn averages gains over tied scores, so a
    shorter list padded with equal scores would differ).

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k_score`.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> recommended = {"ann": ["a", "b", "c"], "bob": ["d", "e", "f"]}
    >>> relevant = {"ann": {"a", "c"}, "bob": {"e", "x"}}
    >>> round(ndcg_at_k_score(recommended, relevant, k=3), 4)
    0.6533
    """
    return _mean_of("ndcg_at_k_score", recommended, relevant, k)


def map_at_k_score(recommended: Any, relevant: Any, *, k: int = 10) -> float:
    """Mean average precision at ``k``: AP divided by ``min(n_relevant, k)``.

    For each user, sum the precision at every position of the top ``k`` that
    holds a relevant item and divide by ``min(n_relevant, k)``, the most hits
    a list of length ``k`` can hold; then average over users with at least one
    relevant item. This is ``map_at_k`` of microsoft/recommenders and Spark's
    ``meanAveragePrecisionAt``. Compare :func:`mean_average_precision_score`.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k_score`.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> recommended = {"ann": ["a", "b", "c"]}
    >>> relevant = {"ann": {"a", "c", "x", "y"}}
    >>> round(map_at_k_score(recommended, relevant, k=3), 4)  # (1/1 + 2/3) / 3
    0.5556
    """
    return _mean_of("map_at_k_score", recommended, relevant, k)


def mean_average_precision_score(recommended: Any, relevant: Any, *, k: int = 10) -> float:
    """MAP over all relevant items: the "MAP" of the common MovieLens benchmark table.

    For each user, sum the precision at every position of the top ``k`` that
    holds a relevant item and divide by the number of the user's relevant
    items (all of them, not ``min(n_relevant, k)``); then average over users
    with at least one relevant item.

    This is the definition of ``map`` in microsoft/recommenders
    (``recommenders.evaluation.python_evaluation.map``), which produced the
    MAP column of their MovieLens comparison table, so scores here can be set
    next to that table. One deliberate difference: recommenders averages over
    users who have both relevant items and a list, while here a user with
    relevant items but no list counts as 0, so a model cannot score better by
    declining to recommend. When every test user gets a list, the two agree.
    Because the denominator counts relevant items a list of length ``k`` could
    never hold, the score is lower than :func:`map_at_k_score` whenever users
    have more than ``k`` relevant items.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k_score`.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> recommended = {"ann": ["a", "b", "c"]}
    >>> relevant = {"ann": {"a", "c", "x", "y"}}
    >>> round(mean_average_precision_score(recommended, relevant, k=3), 4)  # (1 + 2/3) / 4
    0.4167
    """
    return _mean_of("mean_average_precision_score", recommended, relevant, k)


def hit_rate_at_k_score(recommended: Any, relevant: Any, *, k: int = 10) -> float:
    """Share of users with at least one relevant item in their top ``k``.

    Users with no relevant item are excluded.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k_score`.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> recommended = {"ann": ["a", "b"], "bob": ["d", "e"]}
    >>> relevant = {"ann": {"b"}, "bob": {"x"}}
    >>> hit_rate_at_k_score(recommended, relevant, k=2)
    0.5
    """
    return _mean_of("hit_rate_at_k_score", recommended, relevant, k)


def mean_reciprocal_rank_score(recommended: Any, relevant: Any, *, k: int = 10) -> float:
    """Mean over users of ``1 / position`` of the first relevant item in the top ``k``.

    A user whose top ``k`` holds no relevant item scores 0; users with no
    relevant item are excluded.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k_score`.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> recommended = {"ann": ["a", "b", "c"], "bob": ["d", "e", "f"]}
    >>> relevant = {"ann": {"a", "c"}, "bob": {"e", "x"}}
    >>> mean_reciprocal_rank_score(recommended, relevant, k=3)  # (1/1 + 1/2) / 2
    0.75
    """
    return _mean_of("mean_reciprocal_rank_score", recommended, relevant, k)
