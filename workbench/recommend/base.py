"""What every recommender shares: input handling in ``fit``, and fast top-k ``recommend``.

A subclass checks its parameters in ``_check_params``, learns from the
interaction matrix in ``_fit_interactions`` and scores a batch of users in
``_score_rows``; :class:`BaseRecommender` does the rest (its :meth:`~BaseRecommender.top_k_rows`
is the one scoring loop, for ``recommend`` and batch precompute alike).
"""

from __future__ import annotations

import math
import numbers
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator

from workbench.exceptions import InvalidArgument
from workbench.recommend.interactions import InteractionMatrix, is_event_table
from workbench.recommend.topk import top_k

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp

__all__ = ["BaseRecommender", "mask_seen", "recommendations"]

# Score at most this many (user, item) cells at once: 2**22 float64 cells is 32 MiB.
_BATCH_CELLS = 2**22


class BaseRecommender(BaseEstimator, metaclass=ABCMeta):
    """Base class of the recommenders: scikit-learn's estimator contract plus ``recommend``.

    ``fit(X)`` accepts

    - a pandas DataFrame, an Ibis table or a pyarrow table with one row per
      interaction and the columns ``user_id`` and ``item_id`` (plus the column
      named by the ``weight`` parameter, when set);
    - a 2-D non-negative matrix (numpy array or scipy sparse): rows are
      users, columns items, cells interaction weights. User and item ids are
      then the row and column numbers.

    After ``fit``, ``interactions_`` holds the training matrix (CSR),
    ``excluded_`` the pairs a user met without a positive weight (negative
    feedback: never recommended to them) and ``user_index_``/``item_index_``
    (numpy arrays, sorted) the id of each of its rows and columns. The model keeps only numpy and scipy objects, so it
    saves with skops.
    """

    weight: str | None

    def fit(self, X: Any, y: None = None) -> BaseRecommender:
        """Learn from interactions.

        Parameters
        ----------
        X : DataFrame, Ibis table, pyarrow table, array or sparse matrix
            One row per interaction (``user_id``, ``item_id``, optionally the
            ``weight`` column), or a user x item matrix of non-negative weights.
        y : None
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        self
        """
        self._check_params()
        data, frame = self._interactions(X)
        if data.matrix.nnz == 0:
            raise InvalidArgument(
                f"{type(self).__name__}.fit got no interactions (every weight is 0 or the "
                "input is empty); there is nothing to learn from."
            )
        self.user_index_ = data.users
        self.item_index_ = data.items
        self.interactions_ = data.matrix
        self.excluded_ = data.excluded
        self._fit_interactions(data.matrix, frame)
        return self

    def recommend(
        self, users: Any = None, k: int = 10, *, exclude_seen: bool = True
    ) -> pd.DataFrame:
        """The top ``k`` items for each user, best first.

        Parameters
        ----------
        users : sequence of ids, a single id, or None
            Whom to recommend to; None means every user seen in training.
            Users the model has not seen get no rows (a delivery layer adds
            fallbacks such as a popularity list). Repeats are ignored.
        k : int
            Items per user, >= 1. A user gets fewer when fewer items remain
            after excluding the ones they have seen.
        exclude_seen : bool
            Leave out the items each user met in training: their interactions,
            and the items of their negative feedback (``excluded_``).

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id``, ``item_id``, ``rank`` (1-based int),
            ``score`` (float, higher is better), sorted by user id, then rank.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return recommendations(self, self._rows_of(users), k, exclude_seen=exclude_seen)

    def top_k_rows(
        self, rows: np.ndarray, k: int, *, exclude_seen: bool = True, also: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Matrix row, item column, rank and score of the top ``k`` items of each user row.

        The one scoring loop: :meth:`recommend` and batch precompute both go through it.
        Users are scored a block at a time (memory stays bounded however many users
        there are), scores keep the model's own precision (float32 for factor models),
        and with ``exclude_seen`` the items met in training are left out, and those
        ``also`` marks (a users x items sparse matrix in the model's order).
        """
        n_items = len(self.item_index_)
        block = max(1, _BATCH_CELLS // max(n_items, 1))
        parts = []
        for start in range(0, rows.size, block):
            batch = rows[start : start + block]
            # A copy: some models return a read-only view of their state.
            scores = np.array(self._score_rows(batch), copy=True)
            if scores.dtype not in (np.float32, np.float64):
                scores = scores.astype(np.float64)
            if exclude_seen:
                mask_seen(scores, self, batch, also=also)
            at, column, rank, score = top_k(scores, k)
            parts.append((batch[at], column, rank, score))
        if not parts:
            return tuple(
                np.empty(0, dtype=dtype) for dtype in (np.intp, np.intp, np.int64, np.float64)
            )
        return tuple(np.concatenate([part[i] for part in parts]) for i in range(4))

    # -- to be provided by subclasses -----------------------------------------------

    def _check_params(self) -> None:
        """Raise InvalidArgument naming any parameter outside its range."""
        check_choice(self, "weight", self.weight, (None,), or_type=str)

    @abstractmethod
    def _fit_interactions(self, matrix: sp.csr_array, frame: pd.DataFrame | None) -> None:
        """Learn the model's state from the training matrix (and frame, when given one)."""

    @abstractmethod
    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Dense scores, shape ``(len(rows), n_items)``, for the users at matrix ``rows``."""

    # -- shared machinery ---------------------------------------------------------------

    def _interactions(self, X: Any) -> tuple[InteractionMatrix, pd.DataFrame | None]:
        """The training matrix, and the event frame when ``X`` is a table of events."""
        if is_event_table(X):
            from workbench.recommend.interactions import ITEM, USER, as_event_frame

            needed = [USER, ITEM, *([self.weight] if self.weight else [])]
            frame = as_event_frame(X, columns=needed)
            if hasattr(self, "n_features_in_"):
                del self.n_features_in_  # left from an earlier fit on a matrix
            return InteractionMatrix.from_frame(frame, weight=self.weight), frame
        from sklearn.utils.validation import check_non_negative, validate_data

        matrix = validate_data(
            self, X, accept_sparse=("csr", "csc", "coo"), dtype=(np.float64, np.float32)
        )
        check_non_negative(matrix, f"{type(self).__name__}.fit")
        return InteractionMatrix.from_matrix(matrix), None

    def _rows_of(self, users: Any) -> np.ndarray:
        """Sorted, unique matrix rows of the known ``users``."""
        import pandas as pd

        if users is None:
            return np.arange(len(self.user_index_))
        if isinstance(users, str | bytes) or np.isscalar(users):
            users = [users]
        positions = self._user_lookup().get_indexer(pd.Index(list(users)).unique())
        return np.unique(positions[positions >= 0])

    def _user_lookup(self) -> pd.Index:
        """``user_index_`` as a pandas Index, built once per fit: its hash table makes lookups fast."""
        import pandas as pd

        cached = self.__dict__.get("_lookup")
        if cached is None or cached[0] is not self.user_index_:
            cached = self._lookup = (self.user_index_, pd.Index(self.user_index_))
        return cached[1]

    def __getstate__(self) -> dict:
        """The state to pickle or save, without the lookup cache (skops cannot save it)."""
        state = dict(super().__getstate__())
        state.pop("_lookup", None)
        return state

    def __sklearn_tags__(self):
        """Declare what input the checks may feed: sparse, non-negative, no target."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        tags.target_tags.required = False
        return tags


def recommendations(model: Any, rows: np.ndarray, k: Any, *, exclude_seen: bool) -> pd.DataFrame:
    """What ``recommend`` returns: ``model.top_k_rows`` of the user ``rows`` as a frame.

    ``model`` is fitted and has ``top_k_rows``, ``user_index_`` and ``item_index_`` (a
    :class:`BaseRecommender`, or a model that wraps one, like the re-ranker).
    """
    import pandas as pd
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise InvalidArgument(
            f"{type(model).__name__}.recommend: k must be an integer >= 1, got {k!r}."
        )
    user_rows, item_columns, ranks, scores = model.top_k_rows(
        rows, int(k), exclude_seen=exclude_seen
    )
    return pd.DataFrame(
        {
            "user_id": model.user_index_.take(user_rows),
            "item_id": model.item_index_.take(item_columns),
            "rank": ranks.astype(np.int64),
            "score": scores.astype(np.float64),
        }
    )


def mask_seen(
    scores: np.ndarray, model: BaseRecommender, rows: np.ndarray, *, also: Any = None
) -> None:
    """Set the scores of items each user met in training to -inf, in place.

    ``scores`` holds one row per entry of ``rows`` (the users' matrix rows). Met means
    an interaction (``interactions_``) or negative feedback (``excluded_``; a version
    registered before negatives were recorded has none), and whatever ``also`` (a
    sparse users x items matrix of the model's shape) marks.
    """
    for matrix in (model.interactions_, getattr(model, "excluded_", None), also):
        if matrix is None or matrix.nnz == 0:
            continue
        seen = matrix[rows]
        at = np.repeat(np.arange(rows.size), np.diff(seen.indptr))
        scores[at, seen.indices] = -np.inf


# -- parameter checks: each names the estimator, the value and the allowed range --------


def check_number(
    estimator: BaseEstimator,
    name: str,
    value: Any,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    integer: bool = False,
    allow_none: bool = False,
) -> None:
    """Raise InvalidArgument unless ``value`` is a number in the given range."""
    if allow_none and value is None:
        return
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
        ok = ok and (integer or math.isfinite(value))
    if not ok:
        what = "an integer" if integer else "a number"
        bound = f"> {low}" if low_open else f">= {low}"
        if high is not None:
            bound += f" and <= {high}"
        none = " or None" if allow_none else ""
        raise InvalidArgument(
            f"{type(estimator).__name__}: {name} must be {what} {bound}{none}, got {value!r}."
        )


def check_choice(
    estimator: BaseEstimator,
    name: str,
    value: Any,
    choices: Sequence[Any],
    *,
    or_type: type | None = None,
) -> None:
    """Raise InvalidArgument unless ``value`` is one of ``choices`` (or of type ``or_type``)."""
    if isinstance(value, str | None) and value in choices:
        return
    if or_type is not None and isinstance(value, or_type):
        return
    allowed = ", ".join(repr(choice) for choice in choices)
    if or_type is not None:
        allowed += f" or a {or_type.__name__}"
    raise InvalidArgument(
        f"{type(estimator).__name__}: {name} must be one of {allowed}, got {value!r}."
    )


def check_random_state(estimator: BaseEstimator, value: Any) -> int | None:
    """``random_state`` as an int seed (or None), from an int, None or a RandomState."""
    if value is None or (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
        if value is not None and value < 0:
            raise InvalidArgument(
                f"{type(estimator).__name__}: random_state must be >= 0, got {value!r}."
            )
        return None if value is None else int(value)
    if isinstance(value, np.random.RandomState):
        return int(value.randint(2**31 - 1))
    if isinstance(value, np.random.Generator):
        return int(value.integers(2**31 - 1))
    raise InvalidArgument(
        f"{type(estimator).__name__}: random_state must be an int, None, "
        f"a numpy RandomState or Generator, got {value!r}."
    )
