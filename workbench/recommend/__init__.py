"""Recommenders that follow the scikit-learn estimator contract, plus ``recommend``.

Every model trains with ``fit(X)`` on one row per interaction (a pandas
DataFrame, Ibis table or pyarrow table with ``user_id`` and ``item_id``, and
optionally a weight column named by the ``weight`` parameter) or on a user x
item matrix, and answers ``recommend(users, k=10, *, exclude_seen=True)`` with
a DataFrame of ``user_id, item_id, rank, score``. Users the model has not
seen get no rows; serving code adds a fallback (e.g. a popularity list).

Models, by their short name in :data:`MODELS`:

- ``"popularity"`` :class:`PopularityRecommender`: the most interacted-with
  items, optionally with recent interactions counting more;
- ``"itemknn"`` :class:`ItemKNNRecommender`: items similar (cosine, Jaccard)
  to the user's;
- ``"rp3beta"`` :class:`RP3betaRecommender`: item-to-item random walks with a
  popularity penalty;
- ``"ease"`` :class:`EASERecommender`: a closed-form linear item-item model;
- ``"als"`` :class:`ALSRecommender`: implicit-feedback matrix factorization;
- ``"bpr"`` :class:`BPRRecommender`: pairwise-ranking matrix factorization;
- ``"blend"`` :class:`BlendRecommender`: two or more of the above, scores scaled per
  user and summed with weights.

Examples
--------
>>> import pandas as pd
>>> from workbench.recommend import MODELS
>>> events = pd.DataFrame(
...     {"user_id": ["a", "a", "b", "b", "c"], "item_id": ["x", "y", "x", "z", "x"]}
... )
>>> model = MODELS["itemknn"]().fit(events)
>>> model.recommend(["c"], k=2)[["user_id", "item_id", "rank"]]
  user_id item_id  rank
0       c       y     1
1       c       z     2
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "MODELS": "models",
    "BaseRecommender": "base",
    "describe_explanation": "explain",
    "explain_items": "explain",
    "explain_recommendations": "explain",
    "ALSRecommender": "factorization",
    "BPRRecommender": "factorization",
    "BlendRecommender": "blend",
    "InteractionMatrix": "interactions",
    "EASERecommender": "linear",
    "ItemKNNRecommender": "neighbors",
    "item_similarity": "neighbors",
    "PlantedTasteRecommender": "oracle",
    "PopularityRecommender": "popularity",
    "RP3betaRecommender": "graph",
    "LearningToRankRecommender": "rerank",
    "SPLITS": "comparison",
    "best_model": "comparison",
    "compare_models": "comparison",
    "comparison_at_k": "comparison",
    "load_interactions": "comparison",
    "make_models": "comparison",
    "metric_at": "comparison",
    "metrics_for_record": "comparison",
    "model_names": "comparison",
    "split_interactions": "comparison",
    "SEARCH_SPACES": "tuning",
    "Tuning": "tuning",
    "tune_model": "tuning",
    "tune_models": "tuning",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
