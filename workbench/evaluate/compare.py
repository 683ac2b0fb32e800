"""Scoring users and comparing fitted recommenders side by side."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from workbench.evaluate._inputs import (
    ITEM,
    RANK,
    USER,
    check_k,
    ranked_frame,
    relevant_frame,
    require_columns,
)
from workbench.evaluate.beyond import (
    catalog_coverage_score,
    diversity_by_user,
    item_popularity,
    novelty_by_user,
)
from workbench.evaluate.bootstrap import bootstrap_interval
from workbench.evaluate.ranking import accuracy_from_frames
from workbench.exceptions import InvalidArgument
from workbench.tables import to_frame

__all__ = ["Recommender", "evaluate_recommenders", "relevant_items", "score_users"]


@runtime_checkable
class Recommender(Protocol):
    """What :func:`evaluate_recommenders` needs from a model.

    ``fit(train)`` learns from a pandas DataFrame of interactions (columns
    ``user_id``, ``item_id``, and whatever else the training table has) and
    returns the model. ``recommend(users, k=k, exclude_seen=True)`` takes a
    list of user ids and returns a DataFrame with columns ``user_id``,
    ``item_id``, ``rank`` (1 is best, at most ``k`` rows per user) and
    ``score``; with ``exclude_seen`` it leaves out items the user met in
    training. It may return fewer than ``k`` rows for a user, or none (a
    missing list scores as misses). ``k`` is passed by keyword.
    """

    def fit(self, train: pd.DataFrame) -> Any:  # pragma: no cover - protocol
        """Learn from the training interactions and return self."""
        ...

    def recommend(
        self, users: Sequence[Any], k: int = 10, exclude_seen: bool = True
    ) -> pd.DataFrame:  # pragma: no cover - protocol
        """Top-``k`` items per user: DataFrame[user_id, item_id, rank, score]."""
        ...


def relevant_items(
    test: Any,
    *,
    relevance_threshold: float | None = None,
    relevance_column: str | None = None,
) -> dict[Any, set[Any]]:
    """The relevant items of each user in a test table.

    Every interaction is relevant unless ``relevance_threshold`` is given;
    then only rows whose ``relevance_column`` is at least the threshold are.
    Users left with no relevant item do not appear.

    Parameters
    ----------
    test : DataFrame or Ibis table
        Columns ``user_id``, ``item_id`` and, with a threshold, the relevance column.
    relevance_threshold : float, optional
        Smallest value that counts as relevant (e.g. 4 for "liked" on a 1-5 scale).
    relevance_column : str, optional
        Column compared with the threshold; defaults to ``rating`` when the
        table has one, else ``value``.

    Returns
    -------
    dict
        user -> set of relevant items.

    Examples
    --------
    >>> import pandas as pd
    >>> test = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "c"], "rating": [5, 2, 3]})
    >>> relevant_items(test, relevance_threshold=3)
    {1: {'a'}, 2: {'c'}}
    """
    frame = _relevant_rows(to_frame(test, name="test"), relevance_threshold, relevance_column)
    return {user: set(items) for user, items in frame.groupby(USER, sort=False)[ITEM]}


def _relevant_rows(
    frame: pd.DataFrame, threshold: float | None, column: str | None
) -> pd.DataFrame:
    require_columns(frame, (USER, ITEM), name="test")
    if threshold is None:
        return frame[[USER, ITEM]]
    if column is None:
        column = next((name for name in ("rating", "value") if name in frame.columns), None)
        if column is None:
            raise InvalidArgument(
                "test has neither a 'rating' nor a 'value' column to compare with "
                f"relevance_threshold={threshold!r}; pass relevance_column=."
            )
    require_columns(frame, (column,), name="test")
    return frame.loc[frame[column] >= threshold, [USER, ITEM]]


def score_users(
    recommended: Any,
    relevant: Any,
    *,
    k: int = 10,
    popularity: Any = None,
    item_features: Any = None,
    item_similarity: Any = None,
) -> pd.DataFrame:
    """Every per-user metric value, one row per user with at least one relevant item.

    The mean of a metric column is that metric (NaN values left out), so the
    table also serves to slice scores by user segment, or to bootstrap them
    (:func:`bootstrap_interval`). Columns: ``n_relevant``, ``hits``, the
    accuracy metrics (``precision_at_k_score``, ``recall_at_k_score``, ``ndcg_at_k_score``,
    ``map_at_k_score``, ``mean_average_precision_score``, ``hit_rate_at_k_score``,
    ``mean_reciprocal_rank_score``), then ``novelty_score`` when ``popularity`` is given
    and ``intra_list_diversity_score`` when item features or similarities are.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k_score`.
    popularity : optional
        As in :func:`novelty_score`.
    item_features, item_similarity : optional
        As in :func:`intra_list_diversity_score`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``user_id``.

    Examples
    --------
    >>> scores = score_users({"ann": ["a", "b"], "bob": ["c", "d"]}, {"ann": {"b"}, "bob": {"c"}}, k=2)
    >>> scores["mean_reciprocal_rank_score"].to_dict()
    {'ann': 0.5, 'bob': 1.0}
    """
    k = check_k(k)
    lists = ranked_frame(recommended)
    # In user order: rows arrive from the store in no fixed order, and a mean summed in
    # another order moves in its last digits from one run to the next.
    scores = accuracy_from_frames(lists, relevant_frame(relevant), k=k).sort_index()
    if popularity is not None:
        scores["novelty_score"] = novelty_by_user(lists, popularity, k=k, users=scores.index)
    if item_features is not None or item_similarity is not None:
        scores["intra_list_diversity_score"] = diversity_by_user(
            lists,
            k=k,
            item_features=item_features,
            item_similarity=item_similarity,
            users=scores.index,
        )
    return scores


def _recommendations(
    model: Any, name: str, users: list[Any], k: int, exclude_seen: bool
) -> pd.DataFrame:
    """Ask ``model`` for its lists and check they follow the protocol."""
    lists = model.recommend(users, k=k, exclude_seen=exclude_seen)
    label = f"models[{name!r}].recommend(...)"
    try:
        frame = to_frame(lists, name=label)
        require_columns(frame, (USER, ITEM, RANK), name=label)
        ranked_frame(frame)  # a list that repeats an item fails here, naming the model
    except InvalidArgument as error:
        raise InvalidArgument(
            f"{label}: {error} A recommender returns DataFrame[user_id, item_id, rank, score]."
        ) from error
    return frame[[USER, ITEM, RANK]]


def evaluate_recommenders(
    models: Mapping[str, Any],
    train: Any,
    test: Any,
    *,
    k: int | Sequence[int] = 10,
    relevance_threshold: float | None = None,
    relevance_column: str | None = None,
    exclude_seen: bool = True,
    catalog: Any = None,
    item_features: Any = None,
    item_similarity: Any = None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int | None = 0,
    fit: bool = True,
    return_fitted: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, Any]]:
    """Fit each model on ``train``, recommend for the test users, and compare.

    Each model is cloned and the clone fitted, as scikit-learn's model selection
    does: the caller's estimators are left as they were (``return_fitted`` hands back
    the fitted clones, to register them). With ``fit=False`` each model is used as it
    is (a registered champion scored on new test rows: ``train`` then only gives the
    popularity behind novelty). Each is asked once for the top ``max(k)`` items of
    every test user with at least one relevant item; shorter cut-offs reuse those lists.
    Every metric column is higher-is-better: the accuracy metrics of
    :func:`score_users`, ``catalog_coverage_score`` (over ``catalog``), ``novelty_score``
    (popularity from ``train``) and, when item features or similarities are
    given, ``intra_list_diversity_score``. Each metric has ``<metric>_low`` and
    ``<metric>_high``: a percentile bootstrap interval over users
    (:func:`bootstrap_interval`). All models are resampled with the same
    users, so their intervals come from paired draws. Coverage has no
    interval (NaN): it is not a mean over users, and a bootstrap resample
    holds only ~63% of the distinct users, which would bias it low.

    Parameters
    ----------
    models : mapping of name -> recommender
        Estimators following the :class:`Recommender` protocol.
    train, test : DataFrame or Ibis table
        Interactions with columns ``user_id``, ``item_id`` (and optionally
        ``rating``, ``value``, ``ts``). Ibis tables are executed once.
    k : int or sequence of int, default 10
        Cut-off; with several, the table has one row per model and cut-off.
    relevance_threshold, relevance_column : optional
        Which test interactions are relevant; see :func:`relevant_items`.
    exclude_seen : bool, default True
        Passed to ``recommend``.
    catalog : collection of item ids, optional
        Items for coverage; defaults to every item in ``train`` or ``test``.
    item_features, item_similarity : optional
        As in :func:`intra_list_diversity_score`.
    confidence, n_resamples, seed
        As in :func:`bootstrap_interval`.
    fit : bool, default True
        Fit a clone of each model on ``train`` first; False scores the models as given.
    return_fitted : bool, default False
        Also return ``{name: fitted model}``: the fitted clones (or, with
        ``fit=False``, the models given).

    Returns
    -------
    pandas.DataFrame, or (pandas.DataFrame, dict) with ``return_fitted``
        One row per model (and cut-off) in the order of ``models``: ``model``,
        ``k``, ``users``, each metric with its ``_low`` and ``_high``, then
        ``fit_seconds`` and ``predict_seconds`` (one ``recommend`` call).
    """
    from sklearn.base import clone

    cutoffs = _cutoffs(k)
    _check_models(models)
    train_frame = to_frame(train, name="train")
    require_columns(train_frame, (USER, ITEM), name="train")
    test_frame = to_frame(test, name="test")
    truth = _relevant_rows(test_frame, relevance_threshold, relevance_column).drop_duplicates()
    if truth.empty:
        raise InvalidArgument(
            "test holds no relevant interaction; check the split and relevance_threshold."
        )
    if catalog is None:
        catalog = pd.unique(pd.concat([train_frame[ITEM], test_frame[ITEM]], ignore_index=True))
    users = list(pd.unique(truth[USER]))
    popularity = item_popularity(train_frame)
    bootstrap = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}

    rows = []
    fitted = {}
    for name, given in models.items():
        started = time.perf_counter()
        # safe=False: a model without get_params (any object with fit and recommend)
        # is deep-copied instead.
        model = clone(given, safe=False) if fit else given
        if fit:
            model.fit(train_frame)
        fitted[name] = model
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        lists = _recommendations(model, name, users, cutoffs[-1], exclude_seen)
        predict_seconds = time.perf_counter() - started
        for cutoff in cutoffs:
            scores = score_users(
                lists,
                truth,
                k=cutoff,
                popularity=popularity,
                item_features=item_features,
                item_similarity=item_similarity,
            )
            rows.append(
                {
                    "model": name,
                    "k": cutoff,
                    "users": len(scores),
                    **_summarize(scores.drop(columns=["n_relevant", "hits"]), **bootstrap),
                    "catalog_coverage_score": catalog_coverage_score(lists, catalog, k=cutoff),
                    "catalog_coverage_score_low": np.nan,
                    "catalog_coverage_score_high": np.nan,
                    "fit_seconds": fit_seconds,
                    "predict_seconds": predict_seconds,
                }
            )
    table = pd.DataFrame(rows)
    return (table, fitted) if return_fitted else table


def _cutoffs(k: int | Sequence[int]) -> list[int]:
    cutoffs = sorted({check_k(value) for value in ([k] if np.ndim(k) == 0 else k)})
    if not cutoffs:
        raise InvalidArgument("k is an empty sequence; pass a cut-off such as 10.")
    return cutoffs


def _check_models(models: Mapping[str, Any]) -> None:
    if not models:
        raise InvalidArgument("models is empty; pass a dict of name -> recommender.")
    for name, model in models.items():
        if not isinstance(model, Recommender):
            raise InvalidArgument(
                f"models[{name!r}] is a {type(model).__name__}, which lacks fit(train) or "
                "recommend(users, k=, exclude_seen=); see workbench.evaluate.Recommender."
            )


def _summarize(scores: pd.DataFrame, **bootstrap: Any) -> dict[str, float]:
    """Mean of each per-user column (NaN skipped) with its bootstrap interval."""
    low, high = bootstrap_interval(scores.to_numpy(dtype=float), **bootstrap)
    summary = {}
    for position, metric in enumerate(scores.columns):
        summary[metric] = float(scores[metric].mean())
        summary[f"{metric}_low"] = float(low[position])
        summary[f"{metric}_high"] = float(high[position])
    return summary
