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

from workbench.evaluate.beyond import (
    catalog_coverage_score,
    intra_list_diversity_score,
    item_popularity,
    novelty_score,
)
from workbench.evaluate.bootstrap import bootstrap_interval
from workbench.evaluate.charts import plot_metric_by_k, plot_model_comparison
from workbench.evaluate.compare import (
    Recommender,
    evaluate_recommenders,
    relevant_items,
    score_users,
)
from workbench.evaluate.ranking import (
    ACCURACY_METRICS,
    hit_rate_at_k_score,
    map_at_k_score,
    mean_average_precision_score,
    mean_reciprocal_rank_score,
    ndcg_at_k_score,
    precision_at_k_score,
    recall_at_k_score,
)

__all__ = [
    "ACCURACY_METRICS",
    "Recommender",
    "bootstrap_interval",
    "catalog_coverage_score",
    "evaluate_recommenders",
    "hit_rate_at_k_score",
    "intra_list_diversity_score",
    "item_popularity",
    "map_at_k_score",
    "mean_average_precision_score",
    "mean_reciprocal_rank_score",
    "ndcg_at_k_score",
    "novelty_score",
    "plot_metric_by_k",
    "plot_model_comparison",
    "precision_at_k_score",
    "recall_at_k_score",
    "relevant_items",
    "score_users",
]
