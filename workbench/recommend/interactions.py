"""The user x item interaction matrix every recommender trains on.

A recommender sees its training data as one sparse matrix: a row per user, a
column per item, and in each cell the summed weight of that user's
interactions with that item (1 per interaction unless a weight column is
named). :class:`InteractionMatrix` builds it from an event frame, an Ibis or
Arrow table, or a matrix, and keeps the id of every row and column so that
results can be reported in the caller's ids.

Weights may be negative (negative feedback, see :mod:`workbench.feedback`): a
pair whose weights do not sum to more than 0 is not learned from, but the user
has seen the item, so it is kept in ``excluded`` and never recommended to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from workbench.exceptions import InvalidArgument
from workbench.tables import to_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ITEM", "TIME", "USER", "InteractionMatrix", "as_event_frame", "interaction_weights"]

USER, ITEM, TIME = "user_id", "item_id", "ts"


@dataclass(frozen=True)
class InteractionMatrix:
    """A CSR user x item matrix with the ids of its rows and columns.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
        ``float64``, shape ``(len(users), len(items))``; no explicit zeros.
    users, items : numpy.ndarray
        The id of each row and column, sorted (so rows come in user-id order).
        Plain arrays rather than pandas indexes, so a model saves with skops.
    excluded : scipy.sparse.csr_array
        Same shape, 1 where the user met the item but its weights sum to 0 or less
        (a skip, a low rating): seen, not learned from.
    """

    matrix: sp.csr_array
    users: np.ndarray
    items: np.ndarray
    excluded: sp.csr_array

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        user: str = USER,
        item: str = ITEM,
        weight: str | None = None,
    ) -> InteractionMatrix:
        """Build the matrix from one row per interaction.

        Parameters
        ----------
        frame : pandas.DataFrame, ibis.Table or pyarrow.Table
            Interactions with ``user`` and ``item`` columns (tables are
            executed with ``to_pandas()``).
        user, item : str
            The columns holding user and item ids.
        weight : str, optional
            A column of finite weights (e.g. ``"rating"``, ``"value"`` or the
            ``weight`` of :meth:`workbench.feedback.Feedback.weighted`). Without it
            every interaction weighs 1. Repeated (user, item) pairs are summed; a
            pair whose weights sum to 0 or less is seen but not learned from
            (``excluded``).

        Returns
        -------
        InteractionMatrix

        Raises
        ------
        InvalidArgument
            If a column is missing, an id is missing, or a weight is not finite.

        Examples
        --------
        >>> import pandas as pd
        >>> events = pd.DataFrame({"user_id": ["b", "a", "a"], "item_id": ["x", "y", "y"]})
        >>> data = InteractionMatrix.from_frame(events)
        >>> list(data.users), list(data.items)
        (['a', 'b'], ['x', 'y'])
        >>> data.matrix.toarray()
        array([[0., 2.],
               [1., 0.]])
        >>> skipped = events.assign(weight=[1.0, 1.0, -1.0])
        >>> InteractionMatrix.from_frame(skipped, weight="weight").excluded.toarray()
        array([[0., 1.],
               [0., 0.]])
        """
        frame = as_event_frame(frame, columns=[user, item, *([weight] if weight else [])])
        weights = interaction_weights(frame, weight)
        return cls.from_codes(frame[user], frame[item], weights)

    @classmethod
    def from_codes(cls, users: Any, items: Any, weights: np.ndarray) -> InteractionMatrix:
        """Build the matrix from parallel sequences of user ids, item ids and weights."""
        import pandas as pd

        user_codes, user_index = pd.factorize(pd.Series(users), sort=True)
        item_codes, item_index = pd.factorize(pd.Series(items), sort=True)
        if (user_codes < 0).any() or (item_codes < 0).any():
            raise InvalidArgument(
                "Some interactions have no user or item id (NULL/NaN). Drop those rows first."
            )
        shape = (len(user_index), len(item_index))
        matrix = sp.csr_array(
            (np.asarray(weights, dtype=np.float64), (user_codes, item_codes)), shape=shape
        )
        matrix.sum_duplicates()
        # Every row is a pair the user met; only pairs summing above 0 are learned from.
        unlearned = matrix.data <= 0
        rows = np.repeat(np.arange(shape[0]), np.diff(matrix.indptr))
        excluded = sp.csr_array(
            (np.ones(int(unlearned.sum())), (rows[unlearned], matrix.indices[unlearned])),
            shape=shape,
        )
        matrix.data[unlearned] = 0.0
        matrix.eliminate_zeros()
        return cls(matrix, user_index.to_numpy(), item_index.to_numpy(), excluded)

    @classmethod
    def from_matrix(cls, matrix: Any) -> InteractionMatrix:
        """Wrap a 2-D non-negative matrix: user ids are row numbers, item ids column numbers.

        Examples
        --------
        >>> data = InteractionMatrix.from_matrix([[0, 3], [1, 0], [0, 0]])
        >>> data.matrix.shape, data.items.tolist()
        ((3, 2), [0, 1])
        """
        csr = sp.csr_array(matrix, dtype=np.float64)
        csr.sum_duplicates()
        csr.eliminate_zeros()
        if csr.ndim != 2:
            raise InvalidArgument(f"An interaction matrix must be 2-D, got shape {csr.shape}.")
        if csr.data.size and (csr.data.min() < 0 or not np.isfinite(csr.data).all()):
            raise InvalidArgument(
                "An interaction matrix must hold finite, non-negative weights; "
                f"found {csr.data.min()!r}."
            )
        rows, columns = csr.shape
        return cls(csr, np.arange(rows), np.arange(columns), sp.csr_array(csr.shape))


def is_event_table(data: Any) -> bool:
    """Whether ``data`` is a table of events (not a matrix) by its type."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return True
    # Ibis tables, pyarrow tables and polars frames all convert with to_pandas().
    return not sp.issparse(data) and hasattr(data, "to_pandas") and not isinstance(data, np.ndarray)


def as_event_frame(data: Any, *, columns: list[str]) -> pd.DataFrame:
    """``data`` as a pandas DataFrame that has ``columns``, or a clear error."""
    frame = to_frame(data, name="the interactions")
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise InvalidArgument(
            f"The interactions lack column(s) {missing}; they have {list(frame.columns)}. "
            f"Pass one row per interaction with {columns[:2]} (rename yours to match), "
            "or a user x item matrix."
        )
    return frame


def interaction_weights(frame: pd.DataFrame, weight: str | None) -> np.ndarray:
    """The weight of each row: column ``weight`` checked finite, or 1s."""
    if weight is None:
        return np.ones(len(frame))
    try:
        values = frame[weight].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(
            f"Weight column {weight!r} must be numeric, got dtype {frame[weight].dtype}."
        ) from error
    bad = ~np.isfinite(values)
    if bad.any():
        raise InvalidArgument(
            f"Weight column {weight!r} must hold finite numbers; "
            f"{int(bad.sum())} row(s) do not, e.g. {values[bad][0]!r}. "
            "Drop or fill them first."
        )
    return values
