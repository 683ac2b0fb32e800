"""Evaluation of recommenders: ranking metrics at k, beyond-accuracy metrics, intervals.

Metrics are pure functions named for their direction (every one here ends in
``_score``: higher is better). They take

- ``recommended``: a mapping ``user -> ranked sequence of items`` (best
  first), or a DataFrame (or Ibis table) with columns ``user_id``,
  ``item_id``, ``rank`` (1 is best);
- ``relevant``: a mapping ``user -> collection of items``, or a DataFrame
  with ``user_id``, ``item_id`` (see :func:`relevant_items` to build it from
  a test table, with an optional rating threshold);
- ``k``, the list length judged (keyword-only).

and average a per-user value over the users **with at least one relevant
item**: users with no relevant item are excluded, while users with relevant
items but no list count as complete misses. Relevance is binary.

Two MAPs, both over the top ``k``: :func:`map_at_k_score` divides each user's
summed precision-at-hits by ``min(n_relevant, k)``; :func:`mean_average_precision_score`
divides by all of the user's relevant items, as ``map`` in microsoft/recommenders
does (the MAP of their MovieLens benchmark table).

:func:`evaluate_recommenders` fits several models and returns a comparison
table with percentile bootstrap intervals (:func:`bootstrap_interval`);
:func:`plot_metric_by_k` and :func:`plot_model_comparison` chart it::

    table = evaluate_recommenders({"pop": Popular(), "als": ALS()}, train, test, k=[5, 10, 20])
    plot_model_comparison(table)

Anomaly detectors are evaluated by :mod:`workbench.evaluate.anomaly` (ROC-AUC,
PR-AUC, precision at an alert budget, event recall, detection delay, NAB score).

Quick check:

>>> from workbench.evaluate import ndcg_at_k_score
>>> ndcg_at_k_score({"ann": ["a", "b"]}, {"ann": {"a"}}, k=2)
1.0
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "catalog_coverage_score": "beyond",
    "intra_list_diversity_score": "beyond",
    "item_popularity": "beyond",
    "novelty_score": "beyond",
    "bootstrap_interval": "bootstrap",
    "plot_metric_by_k": "charts",
    "plot_model_comparison": "charts",
    "Recommender": "compare",
    "evaluate_recommenders": "compare",
    "relevant_items": "compare",
    "score_users": "compare",
    "ACCURACY_METRICS": "ranking",
    "hit_rate_at_k_score": "ranking",
    "map_at_k_score": "ranking",
    "mean_average_precision_score": "ranking",
    "mean_reciprocal_rank_score": "ranking",
    "ndcg_at_k_score": "ranking",
    "precision_at_k_score": "ranking",
    "recall_at_k_score": "ranking",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
