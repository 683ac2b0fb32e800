"""Why a model recommends an item: which of the user's own items contributed to its score.

For the item-to-item models a user's score for item ``j`` is a sum over the
items ``i`` the user interacted with, ``score(u, j) = sum_i x[u, i] * W[i, j]``,
so each of the user's items has an exact share in the score:

- :class:`~workbench.recommend.ItemKNNRecommender`: ``W`` is the pruned item
  similarity; the contributions sum to the score.
- :class:`~workbench.recommend.RP3betaRecommender`: ``W`` is the pruned,
  popularity-discounted walk from item to item, and ``x[u, i]`` the chance the walk
  starts at ``i``; the contributions sum to the score.
- :class:`~workbench.recommend.EASERecommender`: ``W`` is the learned item-item
  weight matrix ``B``; the contributions sum to the score (some may be negative:
  an item the user chose can count against another).
- :class:`~workbench.recommend.ALSRecommender`: implicit-feedback ALS is linear in
  the user's confidences once the item factors are fixed (Hu, Koren and Volinsky,
  2008, section 5): ``score(u, j) = sum_i c[u, i] * y_j' W_u y_i`` with
  ``W_u = (Y'C_uY + lambda I)^-1``. The contributions sum to the score of the
  user vector solved exactly against the final item factors, which the fitted
  vector (solved by conjugate gradient, before the last item update) approaches.
- :class:`~workbench.recommend.PopularityRecommender`: nothing of the user's
  contributes; every user gets the items with the most interactions, and the
  explanation says so (no ``because_item_id``, the whole score is popularity).

BPR, blend and learning-to-rank scores do not decompose over the user's items; asking
to explain them raises :class:`~workbench.exceptions.InvalidArgument` (explain one of a
blend's bases, ``blend.models_[i]``, instead).

Examples
--------
>>> import pandas as pd
>>> from workbench.recommend import ItemKNNRecommender
>>> events = pd.DataFrame(
...     {"user_id": ["a", "a", "b", "b", "c"], "item_id": ["x", "y", "x", "z", "x"]}
... )
>>> model = ItemKNNRecommender(similarity="jaccard").fit(events)
>>> explain_recommendations(model, "c", k=1)[["user_id", "item_id", "because_item_id", "share"]]
  user_id item_id because_item_id  share
0       c       y               x    1.0
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["describe_explanation", "explain_items", "explain_recommendations"]

# ALS models -> (item_factors_ they were computed from, factors as float64, Y'Y).
_GRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

COLUMNS = ["rank", "item_id", "score", "because_item_id", "contribution", "share"]
"""Columns of an explanation frame."""


def describe_explanation(model: Any) -> str:
    """One sentence, for a reader, on what an explanation of ``model`` means.

    Raises :class:`~workbench.exceptions.InvalidArgument` for a model whose
    scores cannot be explained by the user's items.
    """
    return _method(model)[1]


def explain_recommendations(
    model: Any, users: Any, *, k: int = 10, top: int = 3, exclude_seen: bool = True
) -> pd.DataFrame:
    """The model's top ``k`` items for each user, each with the user's items behind it.

    Parameters
    ----------
    model : fitted recommender
        An item-kNN, RP3beta, EASE, ALS or popularity model from :mod:`workbench.recommend`.
    users : id or sequence of ids
        Whom to explain. A user the model did not see in training gets no rows,
        as ``recommend`` gives them no list.
    k : int, default 10
        Recommendations per user to explain.
    top : int, default 3
        Contributing items to show per recommendation, largest first.
    exclude_seen : bool, default True
        Passed to ``recommend``.

    Returns
    -------
    pandas.DataFrame
        ``user_id``, then up to ``top`` rows per recommended item: ``rank``,
        ``item_id``, ``score`` (the model's), ``because_item_id`` (one of the
        user's items; missing for popularity, or when none of the user's items
        reaches the recommended one), ``contribution`` (its part of the score)
        and ``share`` (contribution / the sum of all the user's contributions to
        that item, missing when that sum is 0). Sorted by user (in the order
        given), rank, then contribution, largest first.
    """
    import pandas as pd

    _check_top(top)
    if isinstance(users, str | bytes) or np.isscalar(users):
        users = [users]
    users = list(dict.fromkeys(users))  # repeats ignored, order kept
    lists = model.recommend(users, k=k, exclude_seen=exclude_seen)
    parts = [
        explain_items(
            model,
            user,
            mine["item_id"].tolist(),
            top=top,
            ranks=mine["rank"].tolist(),
            scores=mine["score"].tolist(),
        ).assign(user_id=user)
        for user, mine in lists.groupby("user_id", sort=False)
    ]
    if not parts:
        return pd.DataFrame({column: [] for column in ["user_id", *COLUMNS]})
    frame = pd.concat(parts, ignore_index=True)[["user_id", *COLUMNS]]
    order = {user: position for position, user in enumerate(users)}
    frame = frame.sort_values(
        "user_id", key=lambda column: column.map(order), kind="stable", ignore_index=True
    )
    return frame


def explain_items(
    model: Any,
    user_id: Any,
    item_ids: Sequence[Any],
    *,
    top: int = 3,
    ranks: Sequence[int] | None = None,
    scores: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Which of the user's items contributed most to the model's score of each of ``item_ids``.

    Use it for lists that did not come from ``recommend`` in this process, such
    as precomputed recommendations of a registered model.

    Parameters
    ----------
    model : fitted recommender
        As in :func:`explain_recommendations`.
    user_id
        The user; unknown to the model gives an empty frame.
    item_ids : sequence
        Items to explain, in list order. An item the model does not know
        raises :class:`~workbench.exceptions.InvalidArgument`.
    top : int, default 3
        Contributing items per explained item.
    ranks : sequence of int, optional
        The rank of each item (default 1, 2, ...).
    scores : sequence of float, optional
        The score to show for each item (default: the model's, recomputed).

    Returns
    -------
    pandas.DataFrame
        As in :func:`explain_recommendations`.
    """
    import pandas as pd
    from sklearn.utils.validation import check_is_fitted

    _check_top(top)
    check_is_fitted(model)
    kind, _ = _method(model)
    item_ids = list(item_ids)
    ranks = list(range(1, len(item_ids) + 1)) if ranks is None else list(ranks)
    if len(ranks) != len(item_ids) or (scores is not None and len(scores) != len(item_ids)):
        raise InvalidArgument(
            f"ranks and scores must have one value per item ({len(item_ids)} items)."
        )
    row = model._user_lookup().get_indexer([user_id])[0]
    if row < 0 or not item_ids:
        return pd.DataFrame({column: [] for column in COLUMNS})
    columns = _item_columns(model, item_ids)
    if scores is None:
        scores = np.asarray(model._score_rows(np.array([row])))[0, columns].tolist()
    if kind == "popularity":
        return pd.DataFrame(
            {
                "rank": ranks,
                "item_id": item_ids,
                "score": [float(score) for score in scores],
                "because_item_id": pd.Series([None] * len(item_ids), dtype=object),
                "contribution": model.popularity_[columns].astype(float),
                "share": 1.0,
            }
        )
    # RP3beta walks from the user's items with their transition chances, not their weights.
    seen = (model.walks_ if kind == "rp3beta" else model.interactions_)[[row]]
    own, weights = seen.indices, seen.data.astype(np.float64)
    # parts[a, b]: what the user's item own[a] adds to the score of item columns[b].
    parts = _contributions(kind, model, own, weights, columns)
    return _top_contributions(model, parts, own, item_ids, ranks, scores, top)


def _method(model: Any) -> tuple[str, str]:
    from workbench.recommend.factorization import ALSRecommender
    from workbench.recommend.graph import RP3betaRecommender
    from workbench.recommend.linear import EASERecommender
    from workbench.recommend.neighbors import ItemKNNRecommender
    from workbench.recommend.popularity import PopularityRecommender

    if isinstance(model, ItemKNNRecommender):
        return "itemknn", (
            "Item-kNN: an item scores by its similarity to each item the user chose; "
            "a contribution is the user's weight on that item times the similarity."
        )
    if isinstance(model, RP3betaRecommender):
        return "rp3beta", (
            "RP3beta: an item scores by the walks from each item the user chose that end on "
            "it; a contribution is the chance the walk starts at that item times the "
            "popularity-discounted chance it goes on to the explained item."
        )
    if isinstance(model, EASERecommender):
        return "ease", (
            "EASE: an item scores by the learned weight each item the user chose gives it; "
            "a contribution is the user's weight on that item times that weight (it can be "
            "negative)."
        )
    if isinstance(model, ALSRecommender):
        return "als", (
            "ALS: the score splits over the user's items by the confidence-weighted "
            "similarity in factor space (Hu, Koren and Volinsky 2008, section 5)."
        )
    if isinstance(model, PopularityRecommender):
        return "popularity", (
            "Popularity: every user gets the items with the most interactions; nothing of "
            "the user's own history contributes."
        )
    raise InvalidArgument(
        f"A {type(model).__name__} cannot be explained by the user's items: its scores do "
        "not split over them. Explain an itemknn, rp3beta, ease, als or popularity model instead."
    )


def _check_top(top: Any) -> None:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidArgument(f"top must be an integer >= 1, got {top!r}.")


def _item_columns(model: Any, item_ids: list[Any]) -> np.ndarray:
    import pandas as pd

    columns = pd.Index(model.item_index_).get_indexer(item_ids)
    unknown = [item for item, column in zip(item_ids, columns, strict=True) if column < 0]
    if unknown:
        raise InvalidArgument(
            f"The model was not trained on item(s) {unknown[:5]}; it can only explain "
            "items it scores. Was the list made by another model version?"
        )
    return columns


def _contributions(
    kind: str, model: Any, own: np.ndarray, weights: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """Matrix of contributions, shape ``(len(own), len(columns))``."""
    if kind in ("itemknn", "rp3beta"):
        return weights[:, None] * model.similarity_[own][:, columns].toarray()
    if kind == "ease":
        return weights[:, None] * model.coefficients_[np.ix_(own, columns)]
    # ALS: solve for the user exactly against the item factors, as implicit's explain().
    import scipy.linalg

    factors, gram = _item_gram(model)
    mine = factors[own]
    confidence = float(model.alpha) * weights
    system = gram + float(model.regularization) * np.eye(factors.shape[1])
    system += (mine * (confidence - 1.0)[:, None]).T @ mine
    weighted = scipy.linalg.cho_solve(scipy.linalg.cho_factor(system), factors[columns].T)
    return confidence[:, None] * (mine @ weighted)


def _item_gram(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """The item factors (float64) and their Gram matrix ``Y'Y``, computed once per fit.

    Every user's system starts from ``Y'Y``; explaining many users would otherwise
    recompute it for each. Kept beside the model, not on it, so a saved model is unchanged.
    """
    cached = _GRAMS.get(model)
    if cached is None or cached[0] is not model.item_factors_:
        factors = np.asarray(model.item_factors_, dtype=np.float64)
        cached = (model.item_factors_, factors, factors.T @ factors)
        _GRAMS[model] = cached
    return cached[1], cached[2]


def _top_contributions(
    model: Any,
    parts: np.ndarray,
    own: np.ndarray,
    item_ids: list[Any],
    ranks: list[int],
    scores: Sequence[float],
    top: int,
) -> pd.DataFrame:
    import pandas as pd

    totals = parts.sum(axis=0)
    keep = min(top, parts.shape[0])
    # Largest first; ties in user-item order, so the same inputs give the same rows.
    order = np.argsort(-parts, axis=0, kind="stable")[:keep]
    rows = []
    for position, item in enumerate(item_ids):
        base = {"rank": int(ranks[position]), "item_id": item, "score": float(scores[position])}
        total = float(totals[position])
        # A user's item with no link to this one explains nothing, so it is not listed.
        linked = [at for at in order[:, position] if parts[at, position] != 0.0]
        for at in linked:
            value = float(parts[at, position])
            rows.append(
                {
                    **base,
                    "because_item_id": model.item_index_[own[at]],
                    "contribution": value,
                    "share": value / total if total != 0.0 else float("nan"),
                }
            )
        if not linked:
            # Kept, so every item asked about appears: none of the user's items reaches it.
            rows.append({**base, "because_item_id": None, "contribution": 0.0, "share": np.nan})
    return pd.DataFrame(rows, columns=COLUMNS)
