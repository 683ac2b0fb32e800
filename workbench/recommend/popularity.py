"""The popularity baseline: everyone gets the most interacted-with items."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from workbench.exceptions import InvalidArgument
from workbench.recommend.base import BaseRecommender, check_number
from workbench.recommend.interactions import ITEM, TIME, interaction_weights

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp

__all__ = ["PopularityRecommender"]


class PopularityRecommender(BaseRecommender):
    """Recommend the items with the largest total interaction weight.

    Every user gets the same ranking (minus the items they have seen). It is
    the baseline any personalized model must beat, and the fallback for users
    a model does not know.

    Parameters
    ----------
    time_decay : float or None
        Half-life in days. When set, an interaction counts
        ``0.5 ** (age / time_decay)``, where ``age`` is its time before the
        latest interaction in the training data, so recent interest outweighs
        old. Needs events with a datetime ``ts`` column. None counts every
        interaction fully.
    weight : str or None
        Column of interaction weights (e.g. ``"value"``); None counts 1 per
        interaction.

    Attributes
    ----------
    popularity_ : numpy.ndarray
        The (decayed) total weight of each item, in ``item_index_`` order.
    interactions_ : scipy.sparse.csr_array
        The training user x item matrix.
    user_index_, item_index_ : numpy.ndarray
        The user id of each matrix row and the item id of each column, sorted.

    Examples
    --------
    >>> import pandas as pd
    >>> events = pd.DataFrame(
    ...     {"user_id": ["a", "a", "b", "c"], "item_id": ["x", "y", "y", "z"]}
    ... )
    >>> model = PopularityRecommender().fit(events)
    >>> model.recommend(["c", "unknown"], k=2)
      user_id item_id  rank  score
    0       c       y     1    2.0
    1       c       x     2    1.0
    """

    def __init__(self, *, time_decay: float | None = None, weight: str | None = None) -> None:
        self.time_decay = time_decay
        self.weight = weight

    def _check_params(self) -> None:
        super()._check_params()
        check_number(self, "time_decay", self.time_decay, low=0, low_open=True, allow_none=True)

    def _fit_interactions(self, matrix: sp.csr_array, frame: pd.DataFrame | None) -> None:
        if self.time_decay is None:
            self.popularity_ = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
            return
        if frame is None:
            raise InvalidArgument(
                "PopularityRecommender: time_decay needs interaction times, so fit it on "
                f"events with a datetime {TIME!r} column, not on a matrix (or set time_decay=None)."
            )
        import pandas as pd

        decay = 0.5 ** (_age_in_days(frame) / float(self.time_decay))
        columns = pd.Index(self.item_index_).get_indexer(frame[ITEM])
        self.popularity_ = np.bincount(
            columns,
            weights=interaction_weights(frame, self.weight) * decay,
            minlength=len(self.item_index_),
        )

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (rows.size, self.popularity_.size))


def _age_in_days(frame: pd.DataFrame) -> np.ndarray:
    """Days from each interaction to the latest one."""
    import pandas as pd

    if TIME not in frame.columns or not pd.api.types.is_datetime64_any_dtype(frame[TIME]):
        found = frame[TIME].dtype if TIME in frame.columns else "no such column"
        raise InvalidArgument(
            f"PopularityRecommender: time_decay needs a datetime {TIME!r} column, got {found}. "
            f"Convert it first, e.g. pd.to_datetime(events[{TIME!r}], unit='s', utc=True)."
        )
    times = frame[TIME]
    if times.isna().any():
        raise InvalidArgument(
            f"PopularityRecommender: {int(times.isna().sum())} interaction(s) have no {TIME!r}; "
            "drop them or set time_decay=None."
        )
    return ((times.max() - times) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
