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

What a user has met (and precompute leaves out of their list): :func:`met_items`.

Where a stored list came from: :func:`workbench.registry.lineage`.

Importing this package is cheap: each name loads its module on first use, so showing
a stored list does not import the training code.
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "PrecomputeReport": "batch",
    "precompute": "batch",
    "StoredCoverage": "coverage",
    "stored_coverage": "coverage",
    "StateUpdate": "incremental",
    "compute_state": "incremental",
    "popular_items": "incremental",
    "read_state": "incremental",
    "rebuild_state": "incremental",
    "recommend_related": "incremental",
    "related_items": "incremental",
    "update_state": "incremental",
    "cached_model": "online",
    "recommend_now": "online",
    "EpsilonGreedyPolicy": "policies",
    "Slate": "policies",
    "SoftmaxPolicy": "policies",
    "ThompsonSamplingPolicy": "policies",
    "log_slates": "policies",
    "met_items": "semantics",
    "Retrieval": "stored",
    "default_model": "stored",
    "retrieve": "stored",
    "sample_users": "stored",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
