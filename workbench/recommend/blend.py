"""A blend: several recommenders' scores, each scaled per user, summed with weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.exceptions import InvalidArgument
from workbench.recommend.base import BaseRecommender, mask_seen

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp

__all__ = ["BlendRecommender"]

# A user's scores of one model are scaled between its top item and its SCALE_DEPTH-th:
# the part of the ranking a top 10 is drawn from, whatever the model's units.
SCALE_DEPTH = 50


class BlendRecommender(BaseRecommender):
    """Blend the scores of two or more recommenders fitted on the same interactions.

    Each base model scores every item for a user; its scores are scaled per user so
    that the user's best unseen item is 1 and the ``SCALE_DEPTH``-th best is 0 (the
    models' units differ: similarities, regression weights, dot products), then summed
    with ``weights``. Choose each base's values with :func:`~workbench.recommend.tune_model`,
    then the weights the same way (``tune_model("blend", train, fixed={"models": ...,
    "params": ...})``): on a validation split, never on the test split.

    Parameters
    ----------
    models : str
        Base models' short names, ``"a,b"`` (two or more, none of them a blend).
    weights : tuple of float or None
        One weight >= 0 per base model (not all 0); None weighs them equally.
    params : dict or None
        ``{name: {parameter: value}}`` for the base models (their defaults otherwise).
    weight : str or None
        Column of interaction weights every base model learns from.

    Attributes
    ----------
    models_ : list of BaseRecommender
        The fitted base models, in the order of ``models``.

    Examples
    --------
    >>> import pandas as pd
    >>> events = pd.DataFrame(
    ...     {"user_id": ["a", "a", "b", "b", "c"], "item_id": ["x", "y", "x", "z", "x"]}
    ... )
    >>> blend = BlendRecommender(models="itemknn,popularity", weights=(1.0, 0.5)).fit(events)
    >>> blend.recommend(["c"], k=2)["item_id"].tolist()
    ['y', 'z']
    """

    def __init__(
        self,
        *,
        models: str = "ease,als",
        weights: tuple[float, ...] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        weight: str | None = None,
    ) -> None:
        self.models = models
        self.weights = weights
        self.params = params
        self.weight = weight

    def _names(self) -> list[str]:
        from workbench.recommend.comparison import model_names

        names = model_names(self.models)
        if len(names) < 2 or "blend" in names:
            raise InvalidArgument(
                f"BlendRecommender: models={self.models!r} must name two or more base models "
                "(not a blend), e.g. 'ease,als'."
            )
        return names

    def _weights(self, count: int) -> np.ndarray:
        if self.weights is None:
            return np.full(count, 1.0 / count)
        numbers = not isinstance(self.weights, str | bytes) and all(
            isinstance(w, int | float | np.number) and not isinstance(w, bool)
            for w in np.ravel(np.asarray(self.weights, dtype=object))
        )
        weights = np.asarray(self.weights, dtype=float).ravel() if numbers else np.array([])
        if weights.size != count or not np.isfinite(weights).all() or (weights < 0).any():
            raise InvalidArgument(
                f"BlendRecommender: weights={self.weights!r} must be {count} numbers >= 0, one "
                f"per model of {self.models!r}."
            )
        if weights.sum() == 0:
            raise InvalidArgument("BlendRecommender: the weights are all 0; give one > 0.")
        return weights

    def _check_params(self) -> None:
        super()._check_params()
        names = self._names()
        self._weights(len(names))
        params = self.params or {}
        if not isinstance(params, dict):
            raise InvalidArgument(
                f"BlendRecommender: params must be {{model: {{parameter: value}}}}, got {params!r}."
            )
        stray = sorted(set(params) - set(names))
        if stray:
            raise InvalidArgument(
                f"BlendRecommender: params names {stray}, which are not among {names}."
            )
        from workbench.recommend.comparison import check_model_params

        for name, values in params.items():
            check_model_params(name, values)

    def _fit_interactions(self, matrix: sp.csr_array, frame: pd.DataFrame | None) -> None:
        from workbench.recommend.comparison import make_models

        names = self._names()
        # Fitted on the matrix, every base numbers users and items as the blend does.
        models = make_models(names, params={n: (self.params or {}).get(n, {}) for n in names})
        self.models_ = [model.fit(matrix) for model in models.values()]
        self.weights_ = self._weights(len(names))

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        total = np.zeros((rows.size, len(self.item_index_)))
        for model, weight in zip(self.models_, self.weights_, strict=True):
            if weight == 0:
                continue
            scores = np.array(model._score_rows(rows), dtype=np.float64, copy=True)
            candidates = scores.copy()
            mask_seen(candidates, self, rows)
            total += weight * _scaled(scores, candidates)
        return total


def _scaled(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Each row of ``scores`` scaled so its best candidate is 1 and its SCALE_DEPTH-th is 0
    (``candidates``: the scores with the items not to recommend at -inf; with fewer
    candidates than that, the last one is 0)."""
    depth = min(SCALE_DEPTH, candidates.shape[1])
    ordered = -np.sort(-candidates, axis=1)  # best first; -inf last
    top = ordered[:, :1]
    lowest = np.where(np.isfinite(candidates), candidates, np.inf).min(axis=1, keepdims=True)
    floor = np.where(
        np.isfinite(ordered[:, depth - 1 : depth]), ordered[:, depth - 1 : depth], lowest
    )
    usable = np.isfinite(top) & np.isfinite(floor) & (top > floor)
    low = np.where(usable, floor, 0.0)
    span = np.where(usable, top - floor, 1.0)
    return (scores - low) / span
