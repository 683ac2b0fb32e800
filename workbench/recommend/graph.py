"""RP3beta: item-to-item random walks with a popularity penalty (Paudel et al., 2017)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from workbench.recommend.base import BaseRecommender, check_number
from workbench.recommend.neighbors import pruned_item_matrix

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RP3betaRecommender"]


class RP3betaRecommender(BaseRecommender):
    """Score an item by the chance a three-step walk from the user ends on it, discounted
    by the item's popularity.

    The walk goes user -> item -> user -> item over the interaction graph, each step
    choosing an edge in proportion to its weight. The item-to-item part of it, each
    transition probability raised to ``alpha``, is divided by the popularity of the
    item it ends on raised to ``beta`` (so popular items, which every walk reaches, do
    not crowd out the rest), and pruned to each item's ``neighbors`` largest. A user's
    score for item ``j`` is ``sum_i P(u -> i)^alpha * W[i, j]``.

    Only positive weights are walked: negative feedback (a skip) is no edge.

    Parameters
    ----------
    alpha : float
        Exponent of the transition probabilities, > 0 (1: the plain walk).
    beta : float
        Popularity penalty, >= 0 (0: none; the usual values are 0.3 to 0.7).
    neighbors : int
        Items each item keeps, >= 1.
    weight : str or None
        Column of interaction weights; None counts 1 per interaction.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_array
        The pruned item x item walk weights ``W``, zero on the diagonal.
    interactions_, user_index_, item_index_
        As in :class:`~workbench.recommend.base.BaseRecommender`.

    References
    ----------
    Bibek Paudel, Fabian Christoffel, Chris Newell and Abraham Bernstein. "Updatable,
    Accurate, Diverse, and Scalable Recommendations for Interactive Applications."
    ACM TiiS 7(1), 2017.

    Examples
    --------
    >>> import pandas as pd
    >>> events = pd.DataFrame(
    ...     {"user_id": ["a", "a", "b", "b", "c", "d"], "item_id": ["x", "y", "x", "z", "x", "y"]}
    ... )
    >>> RP3betaRecommender(beta=0.0).fit(events).recommend(["c"], k=2)[["item_id", "rank"]]
      item_id  rank
    0       y     1
    1       z     2
    """

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        beta: float = 0.5,
        neighbors: int = 100,
        weight: str | None = None,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.neighbors = neighbors
        self.weight = weight

    def _check_params(self) -> None:
        super()._check_params()
        check_number(self, "alpha", self.alpha, low=0, low_open=True)
        check_number(self, "beta", self.beta, low=0)
        check_number(self, "neighbors", self.neighbors, low=1, integer=True)

    def _fit_interactions(self, matrix: sp.csr_array, frame: pd.DataFrame | None) -> None:
        edges = sp.csr_array(matrix, dtype=np.float64)
        edges.data = np.maximum(edges.data, 0.0)
        edges.eliminate_zeros()
        by_user = _walk(edges, float(self.alpha))
        by_item = _walk(edges.T.tocsr(), float(self.alpha))
        popularity = np.asarray(edges.sum(axis=0)).ravel()
        penalty = np.power(np.maximum(popularity, 1e-12), -float(self.beta))

        def block_scores(start: int, stop: int) -> np.ndarray:
            return (by_item[start:stop] @ by_user).toarray() * penalty[None, :]

        self.similarity_ = pruned_item_matrix(edges.shape[1], int(self.neighbors), block_scores)
        self.walks_ = by_user

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.walks_[rows] @ self.similarity_).toarray()


def _walk(matrix: sp.csr_array, alpha: float) -> sp.csr_array:
    """Each row's weights as transition probabilities, raised to ``alpha``."""
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    walk = sp.csr_array(sp.diags_array(scale) @ matrix)
    walk.data = np.power(walk.data, alpha)
    return walk
