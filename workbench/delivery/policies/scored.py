"""Policies over a model's scores: epsilon-greedy and softmax (Plackett-Luce) slates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.delivery.policies.base import (
    DEFAULT_PROPENSITY_DRAWS,
    ITEM,
    SCORE,
    USER,
    _check_int,
    _check_real,
    _SlatePolicy,
    _top_k_columns,
)
from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EpsilonGreedyPolicy", "ScoreSource", "SoftmaxPolicy"]

ScoreSource = Any
"""A fitted recommender (``recommend``), a DataFrame of ``[user_id,] item_id, score``,
or a callable ``(user_id, context) -> Series of scores indexed by item id``."""


class _ScoredPolicy(_SlatePolicy):
    """A policy over a model's (or a table's) scores of a user's candidates."""

    scores: ScoreSource
    n_candidates: int
    fallback: Any

    def _candidates(self, user_id: str, context: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
        self._check_params()
        series = _scores_for(self.scores, user_id, context, self.n_candidates, self._index)
        if series is None or series.empty:
            if self.fallback is None:
                raise InvalidArgument(
                    f"{type(self).__name__}: no candidate scores for user {user_id!r}. Give the "
                    "policy fallback scores (e.g. a popularity table of item_id, score) for "
                    "users the model does not know."
                )
            series = _scores_for(self.fallback, user_id, context, self.n_candidates, None)
            if series is None or series.empty:
                raise InvalidArgument(
                    f"{type(self).__name__}: neither the scores nor the fallback have "
                    f"candidates for user {user_id!r}."
                )
        return series.index.to_numpy(dtype=object), series.to_numpy(dtype=np.float64)

    @property
    def _index(self) -> dict | None:
        """A per-user index of a score table, built once."""
        cached = self.__dict__.get("_score_index")
        if cached is None or cached[0] is not self.scores:
            cached = self._score_index = (self.scores, _index_scores(self.scores))
        return cached[1]

    def _check_params(self) -> None:
        _check_int(self, "n_candidates", self.n_candidates, low=1)
        _check_int(self, "n_propensity_draws", self.n_propensity_draws, low=1)


class EpsilonGreedyPolicy(_ScoredPolicy):
    """Show the best-scored items, but a uniformly random slate with probability ``epsilon``.

    Parameters
    ----------
    scores : fitted recommender, DataFrame or callable
        Candidate scores: a recommender's ``recommend`` (the user's top
        ``n_candidates``); a table of ``user_id, item_id, score`` (or of
        ``item_id, score`` for everyone); or ``f(user_id, context)`` returning
        a Series of scores indexed by item id.
    epsilon : float
        Probability of exploring, in [0, 1].
    n_candidates : int
        How many of the best-scored items are candidates (and explored among).
    fallback : DataFrame or callable, optional
        Scores for users ``scores`` knows nothing about (e.g. popularity).
    model : str or object with ``name`` and ``version``, optional
        The model behind ``scores``, logged with every delivery.
    seed : int, optional
        Seeds the policy's random draws.
    """

    def __init__(
        self,
        scores: ScoreSource,
        *,
        epsilon: float = 0.1,
        n_candidates: int = 100,
        fallback: ScoreSource | None = None,
        model: Any = None,
        seed: int | None = None,
    ) -> None:
        self.scores = scores
        self.epsilon = epsilon
        self.n_candidates = n_candidates
        self.fallback = fallback
        self.model = model
        self.seed = seed
        self.n_propensity_draws = DEFAULT_PROPENSITY_DRAWS

    @property
    def name(self) -> str:
        return f"epsilon-greedy(epsilon={self.epsilon:g})"

    def _check_params(self) -> None:
        super()._check_params()
        _check_real(self, "epsilon", self.epsilon, low=0.0, high=1.0)

    def _sample(self, state: Any, k: int, size: int, rng: np.random.Generator) -> np.ndarray:
        n = state.size
        greedy = np.broadcast_to(_greedy_order(state)[:k], (size, k))
        random = rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)[:, :k]
        explore = rng.random(size) < self.epsilon
        return np.where(explore[:, None], random, greedy)

    def _exact_marginals(self, state: Any, n: int, k: int) -> np.ndarray:
        table = np.full((n, k), self.epsilon / n)
        table[_greedy_order(state)[:k], np.arange(k)] += 1.0 - self.epsilon
        return table


class SoftmaxPolicy(_ScoredPolicy):
    """Draw a slate without replacement, each item with probability ``∝ exp(score / temperature)``.

    Parameters
    ----------
    scores : fitted recommender, DataFrame or callable
        Candidate scores, as for :class:`EpsilonGreedyPolicy`.
    temperature : float
        > 0. Small values approach greedy; large values approach uniform.
    n_candidates, fallback, model, seed
        As for :class:`EpsilonGreedyPolicy`.
    n_propensity_draws : int
        Monte Carlo slates behind the propensities of positions after the first.
    """

    def __init__(
        self,
        scores: ScoreSource,
        *,
        temperature: float = 1.0,
        n_candidates: int = 100,
        fallback: ScoreSource | None = None,
        model: Any = None,
        seed: int | None = None,
        n_propensity_draws: int = DEFAULT_PROPENSITY_DRAWS,
    ) -> None:
        self.scores = scores
        self.temperature = temperature
        self.n_candidates = n_candidates
        self.fallback = fallback
        self.model = model
        self.seed = seed
        self.n_propensity_draws = n_propensity_draws

    @property
    def name(self) -> str:
        return f"softmax(temperature={self.temperature:g})"

    def _check_params(self) -> None:
        super()._check_params()
        _check_real(self, "temperature", self.temperature, low=0.0, low_open=True)

    def _logits(self, scores: np.ndarray) -> np.ndarray:
        logits = scores / self.temperature
        return logits - logits.max()

    def _sample(self, state: Any, k: int, size: int, rng: np.random.Generator) -> np.ndarray:
        # Gumbel-top-k: the k largest of logits + Gumbel noise are a Plackett-Luce draw.
        keys = self._logits(state) + rng.gumbel(size=(size, state.size))
        return _top_k_columns(keys, k)

    def _exact_marginals(self, state: Any, n: int, k: int) -> np.ndarray:
        # Positions 1 and 2 have closed forms; later ones are left (NaN) to Monte Carlo.
        # With weights w (sum W) and rest_a = W - w_a, the second position is
        # P(i second) = sum_{a != i} (w_a / W) (w_i / rest_a) = (w_i / W) (T - w_i / rest_i),
        # where T = sum_a w_a / rest_a.
        table = np.full((n, k), np.nan)
        weights = np.exp(self._logits(state))
        total = weights.sum()
        table[:, 0] = weights / total
        if k >= 2 and n >= 2:
            rest = total - weights
            top = int(np.argmax(weights))
            # The largest weight is the one whose rest would lose digits to cancellation.
            rest[top] = np.delete(weights, top).sum()
            if (rest > 0).all():
                ratio = weights / rest
                table[:, 1] = weights / total * (ratio.sum() - ratio)
        return table


# -- candidate scores ---------------------------------------------------------------------


def _index_scores(scores: Any) -> dict | None:
    """``{user_id or None: Series}`` for a score table; None for other sources."""
    import pandas as pd

    if hasattr(scores, "recommend") or callable(scores):
        return None
    frame = scores.to_pandas() if hasattr(scores, "to_pandas") else scores
    if not isinstance(frame, pd.DataFrame) or not {ITEM, SCORE} <= set(frame.columns):
        raise InvalidArgument(
            "scores must be a fitted recommender, a table with item_id and score columns "
            f"(and user_id for per-user scores), or a callable; got {type(scores).__name__}."
        )
    values = pd.to_numeric(frame[SCORE], errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=np.float64)).all():
        raise InvalidArgument("scores: every score must be a finite number.")
    frame = frame.assign(**{SCORE: values.astype(np.float64), ITEM: frame[ITEM].astype(str)})
    if USER not in frame.columns:
        return {None: _ranked(frame.drop_duplicates(ITEM).set_index(ITEM)[SCORE])}
    # Each user's first row of an item, best first, ties by item id (as _ranked orders
    # one Series), sorted once for every user rather than user by user.
    kept = frame.drop_duplicates([USER, ITEM])
    users = kept[USER].to_numpy(dtype=str)
    items = kept[ITEM].to_numpy(dtype=str)
    values = kept[SCORE].to_numpy(dtype=np.float64)
    order = np.lexsort((items, -values, users))
    users, items, values = users[order], items[order], values[order]
    if not users.size:
        return {}
    cuts = np.flatnonzero(users[1:] != users[:-1]) + 1
    return {
        users[start]: pd.Series(
            values[start:stop], index=pd.Index(items[start:stop], name=ITEM), name=SCORE
        )
        for start, stop in zip(np.r_[0, cuts], np.r_[cuts, users.size], strict=True)
    }


def _scores_for(
    source: Any, user_id: str, context: Mapping[str, Any], n: int, index: dict | None
) -> pd.Series | None:
    """The user's ``n`` best candidates as a Series of scores, best first (ties by item id)."""
    import pandas as pd

    if hasattr(source, "recommend"):
        frame = source.recommend([user_id], k=n)
        series = pd.Series(frame[SCORE].to_numpy(np.float64), index=frame[ITEM].astype(str))
    elif callable(source):
        result = source(user_id, dict(context))
        if isinstance(result, pd.DataFrame):
            result = result.set_index(ITEM)[SCORE]
        series = pd.Series(result, dtype=np.float64)
        series.index = series.index.astype(str)
        if not np.isfinite(series.to_numpy()).all():
            raise InvalidArgument(f"The scores callable gave non-finite scores for {user_id!r}.")
    else:
        index = index if index is not None else _index_scores(source)
        series = index.get(user_id, index.get(None)) if None in index else index.get(user_id)
        if series is None:
            return None
    return _ranked(series).iloc[:n]


def _ranked(series: pd.Series) -> pd.Series:
    order = np.lexsort((series.index.to_numpy(dtype=str), -series.to_numpy(dtype=np.float64)))
    return series.iloc[order]


def _greedy_order(scores: np.ndarray) -> np.ndarray:
    # Candidates arrive best first (ties broken by item id), so greedy is their order.
    return np.arange(scores.size)
