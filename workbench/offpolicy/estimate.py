"""IPS, self-normalized IPS and doubly robust estimates, with bootstrap intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.evaluate.bootstrap import resampled_ratios
from workbench.exceptions import InvalidArgument
from workbench.offpolicy._inputs import (
    _as_frame,
    _Candidate,
    _contexts,
    _flatten,
    _probabilities,
    _rewards,
    _target_column,
)
from workbench.offpolicy.rewards import _reward_predictions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ESTIMATORS", "PolicyEstimate", "estimate_policy_value"]

ESTIMATORS = ("ips", "snips", "dr")


@dataclass(frozen=True)
class PolicyEstimate:
    """One estimate of a candidate policy's value per logged decision."""

    estimator: str
    value: float
    low: float
    high: float
    standard_error: float
    confidence: float
    n: int
    effective_sample_size: float
    mean_weight: float
    max_weight: float


def estimate_policy_value(
    logs: Any,
    target: str | Any,
    *,
    estimators: Sequence[str] = ESTIMATORS,
    reward_model: Any = None,
    items: Sequence[str] | None = None,
    target_probabilities: pd.DataFrame | None = None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    cluster: str | None = None,
    max_weight: float | None = None,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Estimate a candidate policy's value from logged decisions, with bootstrap intervals.

    Parameters
    ----------
    logs : DataFrame, pyarrow or Ibis table
        One row per logged decision with ``item_id``, ``propensity`` (the
        logging policy's probability of that item at that position, in (0, 1])
        and ``reward``; usually :func:`logged_deliveries`. ``context`` (dicts or
        JSON text) and ``position`` are passed to a candidate policy object.
    target : str or policy
        The candidate: a column of ``logs`` holding its probability of each
        logged item (at its position), or an object with
        ``probability(context, item)``; the context is the row's ``context``
        (less the ``slate_id`` and ``propensity_method`` a policy logs about
        itself) plus ``user_id`` and ``position``. It is asked once per
        distinct (context, item).
    estimators : sequence of {"ips", "snips", "dr"}
        Which estimates to compute.
    reward_model : None, sequence of str, or fitted model
        For DR. None: :class:`MeanRewardModel` by item; a sequence of column or
        context names: :class:`MeanRewardModel` by those. Both are cross-fitted
        (two folds: each half is predicted by a model of the other half). Or any
        fitted object with ``predict(frame) -> rewards`` (used as is).
    items : sequence of str, optional
        For DR with a policy object: the items the candidate may show
        (default: every logged item).
    target_probabilities : DataFrame, optional
        For DR with a column ``target``: the candidate's whole distribution, one
        row per (logged row, item) with columns ``row`` (the position of the row
        in ``logs``, 0-based), ``item_id``, ``probability``.
    confidence : float
        Coverage of the intervals, in (0, 1).
    n_resamples : int
        Bootstrap resamples.
    cluster : str, optional
        Column whose values are resampled together (e.g. ``user_id``).
    max_weight : float, optional
        Clip importance weights at this value (less variance, some bias); None
        does not clip.
    seed : int or None
        Seeds the bootstrap and the cross-fitting folds.

    Returns
    -------
    pandas.DataFrame
        One row per estimator, the fields of :class:`PolicyEstimate`.
    """
    import pandas as pd

    frame = _as_frame(logs)
    chosen = _check_estimators(estimators)
    _check_settings(confidence, n_resamples, max_weight)
    propensity = _probabilities(frame, "propensity", low_open=True)
    rewards = _rewards(frame)
    contexts = _contexts(frame)
    flat = _flatten(frame, contexts)
    asked = None if isinstance(target, str) else _Candidate(target, contexts)
    candidate = _target_column(frame, target, asked)
    weights = candidate / propensity
    if max_weight is not None:
        weights = np.minimum(weights, max_weight)

    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "ips": (weights * rewards, np.ones_like(weights)),
        "snips": (weights * rewards, weights),
    }
    if "dr" in chosen:
        logged_q, expected_q = _reward_predictions(
            flat, rewards, asked, reward_model, items, target_probabilities, seed
        )
        parts["dr"] = (expected_q + weights * (rewards - logged_q), np.ones_like(weights))

    groups = _cluster_codes(frame, cluster)
    ess = float(weights.sum() ** 2 / np.square(weights).sum()) if weights.any() else 0.0
    estimates = []
    for name in chosen:
        numerator, denominator = parts[name]
        value = float(numerator.sum() / denominator.sum()) if denominator.sum() else float("nan")
        low, high, error = _bootstrap_ratio(
            numerator,
            denominator,
            groups,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
        )
        estimates.append(
            PolicyEstimate(
                estimator=name,
                value=value,
                low=low,
                high=high,
                standard_error=error,
                confidence=confidence,
                n=len(frame),
                effective_sample_size=ess,
                mean_weight=float(weights.mean()),
                max_weight=float(weights.max()),
            )
        )
    return pd.DataFrame([asdict(e) for e in estimates])


# -- bootstrap ------------------------------------------------------------------------------


def _cluster_codes(frame: pd.DataFrame, cluster: str | None) -> np.ndarray:
    import pandas as pd

    if cluster is None:
        return np.arange(len(frame))
    if cluster not in frame.columns:
        raise InvalidArgument(
            f"cluster {cluster!r} is not a column of the logs (columns: {list(frame.columns)})."
        )
    return pd.factorize(frame[cluster].astype(str))[0]


def _bootstrap_ratio(
    numerator: np.ndarray,
    denominator: np.ndarray,
    groups: np.ndarray,
    *,
    confidence: float,
    n_resamples: int,
    seed: int | None,
) -> tuple[float, float, float]:
    """Percentile interval and standard error of ``sum(num) / sum(den)`` over resampled groups."""
    ratios = resampled_ratios(
        np.bincount(groups, weights=numerator),
        np.bincount(groups, weights=denominator),
        n_resamples=n_resamples,
        seed=seed,
    )
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high), float(np.nanstd(ratios, ddof=1))


def _check_estimators(estimators: Sequence[str]) -> list[str]:
    chosen = [estimators] if isinstance(estimators, str) else list(estimators)
    unknown = [e for e in chosen if e not in ESTIMATORS]
    if not chosen or unknown:
        raise InvalidArgument(
            f"estimators must be among {', '.join(ESTIMATORS)}, got {list(estimators)!r}."
        )
    return list(dict.fromkeys(chosen))


def _check_settings(confidence: float, n_resamples: int, max_weight: float | None) -> None:
    if not (isinstance(confidence, float | int) and 0 < confidence < 1):
        raise InvalidArgument(f"confidence must be in (0, 1), got {confidence!r}.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 2:
        raise InvalidArgument(f"n_resamples must be an integer >= 2, got {n_resamples!r}.")
    if max_weight is not None and not (isinstance(max_weight, float | int) and max_weight > 0):
        raise InvalidArgument(f"max_weight must be a number > 0 or None, got {max_weight!r}.")
