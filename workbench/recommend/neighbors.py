"""Item-based nearest neighbours: items like the ones a user already chose."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from workbench.recommend.base import BaseRecommender, check_choice, check_number

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ItemKNNRecommender", "item_similarity", "pruned_item_matrix"]

# Dense similarities per block of items (32 MiB of float64).
_BLOCK_CELLS = 2**22
# Blocks computed at once, so memory stays within _THREADS blocks.
_THREADS = min(4, os.cpu_count() or 1)


class ItemKNNRecommender(BaseRecommender):
    """Score an item by its similarity to the items the user interacted with.

    The item-item similarity is computed from the columns of the training
    matrix and pruned to each item's ``neighbors`` most similar items (kept
    sparse). A user's score for item ``j`` is ``sum_i x[u, i] * S[i, j]``:
    their interaction weights times the similarities.

    Parameters
    ----------
    similarity : {"cosine", "jaccard"}
        ``"cosine"``: ``x_i . x_j / (|x_i| |x_j| + shrinkage)`` on the weights.
        ``"jaccard"``: ``|U_i & U_j| / (|U_i | U_j| + shrinkage)`` on who
        interacted, ignoring weights.
    shrinkage : float
        Added to the denominator, >= 0: it damps similarities resting on few
        shared users.
    neighbors : int
        How many most similar items each item keeps, >= 1.
    weight : str or None
        Column of interaction weights; None counts 1 per interaction.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_array
        The pruned item x item similarity, zero on the diagonal; row ``i``
        holds the neighbours of item ``i``.
    interactions_, user_index_, item_index_
        As in :class:`~workbench.recommend.base.BaseRecommender`.

    Examples
    --------
    >>> import pandas as pd
    >>> events = pd.DataFrame(
    ...     {"user_id": ["a", "a", "b", "b", "c"], "item_id": ["x", "y", "x", "y", "x"]}
    ... )
    >>> model = ItemKNNRecommender(similarity="jaccard").fit(events)
    >>> model.recommend("c", k=1)
      user_id item_id  rank     score
    0       c       y     1  0.666667
    """

    def __init__(
        self,
        *,
        similarity: str = "cosine",
        shrinkage: float = 0.0,
        neighbors: int = 100,
        weight: str | None = None,
    ) -> None:
        self.similarity = similarity
        self.shrinkage = shrinkage
        self.neighbors = neighbors
        self.weight = weight

    def _check_params(self) -> None:
        super()._check_params()
        check_choice(self, "similarity", self.similarity, ("cosine", "jaccard"))
        check_number(self, "shrinkage", self.shrinkage, low=0)
        check_number(self, "neighbors", self.neighbors, low=1, integer=True)

    def _fit_interactions(self, matrix: sp.csr_array, frame: pd.DataFrame | None) -> None:
        self.similarity_ = item_similarity(
            matrix,
            similarity=self.similarity,
            shrinkage=float(self.shrinkage),
            neighbors=int(self.neighbors),
        )

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return (self.interactions_[rows] @ self.similarity_).toarray()


def item_similarity(
    matrix: sp.sparray,
    *,
    similarity: str = "cosine",
    shrinkage: float = 0.0,
    neighbors: int = 100,
) -> sp.csr_array:
    """The item x item similarity of a user x item matrix, pruned to top ``neighbors`` per row.

    Computed in blocks of items, so memory stays bounded however many items
    there are; the diagonal (an item's similarity to itself) is zero, and
    zero similarities are not stored.

    Examples
    --------
    >>> matrix = sp.csr_array([[1, 1, 0], [1, 0, 1], [1, 1, 1]])
    >>> item_similarity(matrix, similarity="jaccard").toarray()
    array([[0.        , 0.66666667, 0.66666667],
           [0.66666667, 0.        , 0.33333333],
           [0.66666667, 0.33333333, 0.        ]])
    """
    by_user = sp.csr_array(matrix, dtype=np.float64)
    if similarity == "jaccard":
        by_user.data[:] = 1.0
    by_item = by_user.T.tocsr()
    # Per item: its vector norm (cosine) or its number of users (jaccard).
    size = np.asarray(by_item.multiply(by_item).sum(axis=1)).ravel()
    if similarity == "cosine":
        size = np.sqrt(size)
    n_items = by_user.shape[1]

    def block_scores(start: int, stop: int) -> np.ndarray:
        shared = (by_item[start:stop] @ by_user).toarray()
        if similarity == "cosine":
            denominator = size[start:stop, None] * size[None, :] + shrinkage
        else:
            denominator = size[start:stop, None] + size[None, :] - shared + shrinkage
        return np.divide(shared, denominator, out=np.zeros_like(shared), where=denominator > 0)

    return pruned_item_matrix(n_items, neighbors, block_scores)


def pruned_item_matrix(
    n_items: int, neighbors: int, block_scores: Callable[[int, int], np.ndarray]
) -> sp.csr_array:
    """An item x item matrix built block by block of rows, each row pruned to its
    ``neighbors`` largest positive values, the diagonal zero.

    ``block_scores(start, stop)`` returns the dense rows ``start:stop`` (all items as
    columns). Memory stays within a few blocks however many items there are.
    """
    keep = min(neighbors, n_items - 1)
    block = max(1, _BLOCK_CELLS // max(n_items, 1))

    def neighbours_of(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stop = min(n_items, start + block)
        scores = block_scores(start, stop)
        scores[np.arange(stop - start), np.arange(start, stop)] = 0.0
        top = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
        best = np.take_along_axis(scores, top, axis=1)
        nonzero = best > 0
        block_rows = np.broadcast_to(np.arange(start, stop)[:, None], top.shape)[nonzero]
        return block_rows, top[nonzero], best[nonzero]

    # scipy's sparse product and numpy's partition release the GIL, so blocks run on
    # threads; results are gathered in block order, so the matrix is the same.
    starts = range(0, n_items if keep > 0 else 0, block)
    with ThreadPoolExecutor(max_workers=min(_THREADS, max(1, len(starts)))) as pool:
        parts = list(pool.map(neighbours_of, starts))
    rows = [part[0] for part in parts]
    columns = [part[1] for part in parts]
    values = [part[2] for part in parts]
    if not rows:
        return sp.csr_array((n_items, n_items), dtype=np.float64)
    result = sp.csr_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
        shape=(n_items, n_items),
    )
    result.sort_indices()
    return result
