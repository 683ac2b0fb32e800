"""Thompson sampling with Beta-Bernoulli posteriors, per item or per segment and item."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.delivery.policies.base import (
    DEFAULT_PROPENSITY_DRAWS,
    ITEM,
    _as_dict,
    _check_int,
    _check_real,
    _SlatePolicy,
    _top_k_columns,
)
from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ThompsonSamplingPolicy"]


class ThompsonSamplingPolicy(_SlatePolicy):
    """Thompson sampling with a Beta-Bernoulli posterior per item, or per segment and item.

    Each item's reward rate (e.g. click-through) has a ``Beta(alpha, beta)``
    posterior, starting at the prior. A slate draws one rate per item and shows
    the ``k`` highest; :meth:`update` adds observed rewards (``alpha += r``,
    ``beta += 1 - r`` for a reward ``r`` in [0, 1]).

    Parameters
    ----------
    items : iterable of str
        The items (arms) to choose among.
    segment : str, optional
        A context key (e.g. ``"country"``); when set, each value of it learns
        its own posteriors, and a new value starts at the prior.
    prior_alpha, prior_beta : float
        The Beta prior, both > 0 (1, 1 is uniform).
    model : str or object with ``name`` and ``version``, optional
        Logged with every delivery when given.
    seed : int, optional
        Seeds the posterior draws.
    n_propensity_draws : int
        Monte Carlo slates behind each propensity.

    Attributes
    ----------
    alpha_, beta_ : dict
        Segment (None when unsegmented) -> posterior parameters, in ``items`` order.
    """

    def __init__(
        self,
        items: Iterable[str],
        *,
        segment: str | None = None,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        model: Any = None,
        seed: int | None = None,
        n_propensity_draws: int = DEFAULT_PROPENSITY_DRAWS,
    ) -> None:
        self.items = items
        self.segment = segment
        self.prior_alpha = prior_alpha
        self.prior_beta = prior_beta
        self.model = model
        self.seed = seed
        self.n_propensity_draws = n_propensity_draws

    @property
    def name(self) -> str:
        by = f"segment={self.segment}" if self.segment else "per item"
        return f"thompson(beta-bernoulli, {by})"

    def _arms(self) -> np.ndarray:
        cached = self.__dict__.get("_arm_ids")
        if cached is None:
            _check_real(self, "prior_alpha", self.prior_alpha, low=0.0, low_open=True)
            _check_real(self, "prior_beta", self.prior_beta, low=0.0, low_open=True)
            _check_int(self, "n_propensity_draws", self.n_propensity_draws, low=1)
            items = [self.items] if isinstance(self.items, str) else list(self.items)
            cached = np.array([str(i) for i in items], dtype=object)
            if cached.size == 0 or len(set(cached)) != cached.size:
                raise InvalidArgument(
                    f"ThompsonSamplingPolicy: items must be non-empty and unique, got "
                    f"{cached.size} ids ({cached.size - len(set(cached))} repeated)."
                )
            self._arm_ids = cached
            self._arm_lookup = {item: i for i, item in enumerate(cached)}
            self.alpha_: dict[Any, np.ndarray] = {}
            self.beta_: dict[Any, np.ndarray] = {}
        return cached

    def _segment_of(self, context: Mapping[str, Any]) -> Any:
        if self.segment is None:
            return None
        if self.segment not in context:
            raise InvalidArgument(
                f"ThompsonSamplingPolicy learns per {self.segment!r}, but the context has no "
                f"such key (keys: {sorted(context)}). Pass it in the context."
            )
        return str(context[self.segment])

    def posterior(self, segment: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(alpha, beta)`` arrays of ``segment`` (None when unsegmented), in ``items`` order."""
        arms = self._arms()
        if segment not in self.alpha_:
            return (
                np.full(arms.size, float(self.prior_alpha)),
                np.full(arms.size, float(self.prior_beta)),
            )
        return self.alpha_[segment], self.beta_[segment]

    def _candidates(self, user_id: str, context: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
        arms = self._arms()
        return arms, self.posterior(self._segment_of(context))

    def _sample(self, state: Any, k: int, size: int, rng: np.random.Generator) -> np.ndarray:
        alpha, beta = state
        return _top_k_columns(rng.beta(alpha, beta, size=(size, alpha.size)), k)

    def update(self, feedback: Any) -> ThompsonSamplingPolicy:
        """Learn from observed rewards; returns ``self``.

        Parameters
        ----------
        feedback : DataFrame or pyarrow Table
            One row per shown item: ``item_id`` and ``reward`` in [0, 1], and,
            when the policy is segmented, the segment as a column of that name or
            as a key of a ``context`` column (dicts or JSON text), as in
            ``deliveries``. Rows with an unknown item or a reward outside [0, 1]
            are refused (nothing is learned from the batch).
        """
        import pandas as pd

        arms = self._arms()
        frame = feedback.to_pandas() if hasattr(feedback, "to_pandas") else pd.DataFrame(feedback)
        missing = {ITEM, "reward"} - set(frame.columns)
        if missing:
            raise InvalidArgument(
                f"ThompsonSamplingPolicy.update needs columns item_id and reward; missing "
                f"{sorted(missing)} (columns: {list(frame.columns)})."
            )
        rewards = pd.to_numeric(frame["reward"], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~((rewards >= 0) & (rewards <= 1))
        if bad.any():
            raise InvalidArgument(
                f"ThompsonSamplingPolicy.update: {int(bad.sum())} reward(s) are missing or "
                f"outside [0, 1] (first: {frame['reward'][bad].iloc[0]!r}); a Beta-Bernoulli "
                "posterior learns from rewards in [0, 1]. Rescale or drop them first."
            )
        positions = np.array([self._arm_lookup.get(str(i), -1) for i in frame[ITEM]])
        if (positions < 0).any():
            unknown = sorted({str(i) for i in frame[ITEM][positions < 0]})[:5]
            raise InvalidArgument(
                f"ThompsonSamplingPolicy.update: item(s) {unknown} are not among the policy's "
                "items; make a policy that includes them."
            )
        segments = self._feedback_segments(frame)
        for segment in pd.unique(segments):
            rows = segments == segment
            alpha, beta = self.posterior(segment)
            self.alpha_[segment] = alpha + np.bincount(
                positions[rows], weights=rewards[rows], minlength=arms.size
            )
            self.beta_[segment] = beta + np.bincount(
                positions[rows], weights=1.0 - rewards[rows], minlength=arms.size
            )
        return self

    def _feedback_segments(self, frame: pd.DataFrame) -> np.ndarray:
        if self.segment is None:
            return np.full(len(frame), None, dtype=object)
        if self.segment in frame.columns:
            values = frame[self.segment]
        elif "context" in frame.columns:
            values = [_as_dict(c, where="context").get(self.segment) for c in frame["context"]]
        else:
            values = [None] * len(frame)
        segments = np.array([None if v is None else str(v) for v in values], dtype=object)
        if any(s is None for s in segments):
            raise InvalidArgument(
                f"ThompsonSamplingPolicy.update: some rows have no {self.segment!r} (neither a "
                f"column nor a key of context); every reward must name its segment."
            )
        return segments
