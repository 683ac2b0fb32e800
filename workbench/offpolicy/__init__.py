"""Off-policy evaluation: what a candidate policy would have earned, from logs of another.

Every logged delivery says which item a *logging* policy showed, where, with
which propensity, and (once joined) what it earned. A *candidate* policy's
value is estimated from those logs without showing it to anyone:

- **IPS** (inverse propensity scoring): ``mean(w * r)`` with
  ``w = pi_candidate(item | context) / propensity``. Unbiased when every item
  the candidate may show had a positive logging propensity; its variance grows
  with the weights.
- **SNIPS** (self-normalized IPS): ``sum(w * r) / sum(w)``. Slightly biased,
  far less variable, and always within the range of the observed rewards.
- **DR** (doubly robust): ``mean(dm + w * (r - q(x, item)))``, where ``q`` is a
  reward model and ``dm = sum_a pi_candidate(a | x) q(x, a)`` its prediction
  of the candidate's reward. Unbiased if either the propensities or the reward
  model are right, and less variable than IPS when the reward model is good.

The value is the expected reward **per logged decision**. For slates, each
shown item is one decision: its propensity is the probability of that item at
that position (see :mod:`workbench.delivery.policies`), and the candidate's
probability is taken at the same position. This per-position estimator is
unbiased when an item's reward depends on the item, its position and the
context, not on the other items of the slate.

Intervals are percentile bootstraps of the whole estimator (a ratio of sums
for SNIPS), resampling rows, or clusters of rows (``cluster="user_id"``,
or a slate id) when rows are not independent. The effective sample size
``(sum w)^2 / sum w^2`` says how many logged rows the estimate is worth.

:func:`logged_deliveries` reads ``deliveries`` with their rewards: a reward
stored with the delivery (an ingested external log) is kept; otherwise it is
joined from ``events``: a reward event (``event_types``, default ``click``) of
the same user and item at or after the delivery and within ``window`` (default
1 hour) is attributed to the latest such delivery before it, so one click never
rewards two deliveries.

Examples
--------
>>> import pandas as pd
>>> logs = pd.DataFrame({"item_id": ["a", "b", "a", "b"], "propensity": [0.5] * 4,
...                      "reward": [1.0, 0.0, 1.0, 1.0], "always_a": [1.0, 0.0, 1.0, 0.0]})
>>> table = estimate_policy_value(logs, "always_a", estimators=["ips", "snips"])
>>> table[["estimator", "value", "effective_sample_size"]]
  estimator  value  effective_sample_size
0       ips    1.0                    2.0
1     snips    1.0                    2.0
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "ESTIMATORS": "estimate",
    "PolicyEstimate": "estimate",
    "estimate_policy_value": "estimate",
    "REWARD_KINDS": "logs",
    "logged_deliveries": "logs",
    "MeanRewardModel": "rewards",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
