"""Content delivery: stored lists (A), on-the-fly scoring (B), on one registry.

- :func:`precompute` batch-scores every user with a registered model into
  ``recommendations``; :func:`retrieve` serves a user's list from an in-memory
  snapshot, falling back to a popularity list (and saying so).
- :func:`recommend_now` scores one user at call time with the aliased model,
  loaded once and kept until the alias moves.
- :func:`update_state` keeps popularity and item co-occurrence counts current from
  new event batches without a retrain (C); :func:`popular_items`,
  :func:`related_items` and :func:`recommend_related` answer from them.
- Explore/exploit policies (:class:`EpsilonGreedyPolicy`, :class:`SoftmaxPolicy`,
  :class:`ThompsonSamplingPolicy`) turn scores into slates and log every shown item
  to ``deliveries`` with its propensity, for :mod:`workbench.offpolicy`.

Where a stored list came from: :func:`workbench.registry.lineage`.
"""

from workbench.delivery.coverage import StoredCoverage, stored_coverage
from workbench.delivery.incremental import (
    StateUpdate,
    compute_state,
    popular_items,
    read_state,
    rebuild_state,
    recommend_related,
    related_items,
    update_state,
)
from workbench.delivery.online import cached_model, recommend_now
from workbench.delivery.policies import (
    EpsilonGreedyPolicy,
    Slate,
    SoftmaxPolicy,
    ThompsonSamplingPolicy,
    log_slates,
)
from workbench.delivery.stored import (
    PrecomputeReport,
    Retrieval,
    default_model,
    precompute,
    retrieve,
    sample_users,
)

__all__ = [
    "EpsilonGreedyPolicy",
    "PrecomputeReport",
    "Retrieval",
    "Slate",
    "SoftmaxPolicy",
    "StateUpdate",
    "StoredCoverage",
    "ThompsonSamplingPolicy",
    "cached_model",
    "compute_state",
    "default_model",
    "log_slates",
    "popular_items",
    "precompute",
    "read_state",
    "rebuild_state",
    "recommend_now",
    "recommend_related",
    "related_items",
    "retrieve",
    "sample_users",
    "stored_coverage",
    "update_state",
]
