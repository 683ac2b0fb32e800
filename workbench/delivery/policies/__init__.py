"""Explore/exploit policies: slates whose every shown item carries its propensity.

A policy turns candidate scores into a *slate* (an ordered list of ``k`` items)
and says how likely each shown item was. Those propensities are what off-policy
evaluation (:mod:`workbench.offpolicy`) and unbiased learning need, so every
shown item is logged to ``deliveries`` with them.

**Propensity of a shown item** is the probability that the policy shows *this
item at this position* to this user in this context, at the time it was shown:
the marginal of the policy's slate distribution at that position. For a
single-slot policy (``k=1``) it is the ordinary action probability. Positions
count from 1 (the first slot), as ``rank`` does in ``recommendations``.

How each policy computes it:

- :class:`EpsilonGreedyPolicy` explores per slate: with probability
  ``1 - epsilon`` it shows the ``k`` best-scored candidates in order, otherwise a
  uniformly random ordering of ``k`` of its ``n`` candidates. The marginal is
  exact: ``(1 - epsilon) * [item is the greedy choice at j] + epsilon / n``.
- :class:`SoftmaxPolicy` draws a slate without replacement with probabilities
  proportional to ``exp(score / temperature)`` (a Plackett-Luce model). The
  first two positions are exact (closed forms); later positions are estimated
  by Monte Carlo.
- :class:`ThompsonSamplingPolicy` keeps a Beta posterior of the reward rate of
  every item (per segment when ``segment`` names a context key), draws one
  rate per item and shows the ``k`` highest. Every position is estimated by
  Monte Carlo.

*Monte Carlo* means: ``n_propensity_draws`` further slates are drawn
independently from the same distribution, and the propensity of the shown
item at position ``j`` is ``(c + 1) / (M + 1)``, where ``c`` counts the draws
that also put it at ``j`` and ``M`` is the number of draws; the shown slate is
itself one draw from the distribution, so the estimate counts it and is never
zero. Its standard error is about ``sqrt(p (1 - p) / M)``. The draws are made
once per distinct candidate state (the same scores, or the same posterior) and
slate length, and reused by later slates with that state (a policy keeps the
latest 1,024), so serving a slate costs one draw. Each logged row
records which method gave its propensity in ``context.propensity_method``, and
every row of one slate shares ``context.slate_id``.

Examples
--------
>>> import pandas as pd
>>> scores = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "score": [4.0, 3.0, 2.0, 1.0]})
>>> policy = EpsilonGreedyPolicy(scores, epsilon=0.2, seed=1)
>>> slate = policy.slate("u1", k=2)
>>> len(slate.items), slate.policy
(2, 'epsilon-greedy(epsilon=0.2)')
>>> round(policy.probability({"user_id": "u1", "position": 1}, "a"), 3)
0.85
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "DEFAULT_PROPENSITY_DRAWS": "base",
    "Slate": "base",
    "log_slates": "log",
    "EpsilonGreedyPolicy": "scored",
    "SoftmaxPolicy": "scored",
    "ThompsonSamplingPolicy": "thompson",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
