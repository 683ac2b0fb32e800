"""Matrix factorization with the ``implicit`` library: ALS and BPR, on the CPU.

Both learn a vector per user and per item; a user's score for an item is the
dot product. Only the factors are kept on the model (plain numpy arrays), not
the ``implicit`` object, so a fitted model is small and saves with skops.
"""

from __future__ import annotations

import contextlib
import warnings
from abc import abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.recommend.base import BaseRecommender, check_number, check_random_state

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp

__all__ = ["ALSRecommender", "BPRRecommender"]


class _FactorizationRecommender(BaseRecommender):
    """Fits an ``implicit`` model and scores with its user and item factors."""

    @abstractmethod
    def _implicit_model(self, seed: int | None) -> Any:
        """The unfitted ``implicit`` model with this recommender's parameters."""

    def _check_params(self) -> None:
        super()._check_params()
        check_number(self, "factors", self.factors, low=1, integer=True)
        check_number(self, "regularization", self.regularization, low=0)
        check_number(self, "iterations", self.iterations, low=1, integer=True)
        check_random_state(self, self.random_state)

    def _fit_interactions(self, matrix: sp.csr_array, frame: pd.DataFrame | None) -> None:
        import scipy.sparse as sp
        from threadpoolctl import threadpool_limits

        # implicit wants a csr_matrix (not csr_array) of float32. It runs its own
        # threads, and an OpenBLAS pool on top of them slows it down (it warns when
        # the model is made, so that happens under the limit too).
        user_items = sp.csr_matrix(matrix, dtype=np.float32)
        with threadpool_limits(1, "blas"):
            model = self._implicit_model(check_random_state(self, self.random_state))
            model.fit(user_items, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[rows] @ self.item_factors_.T


class ALSRecommender(_FactorizationRecommender):
    """Alternating least squares for implicit feedback (Hu, Koren and Volinsky, 2008).

    Every cell of the user x item matrix is a preference (1 if the user
    interacted, else 0) held with a confidence that grows with the
    interaction weight; ALS fits factors to those preferences, weighted by
    confidence, by alternately solving for users and for items.

    Parameters
    ----------
    factors : int
        Length of each user and item vector, >= 1.
    regularization : float
        L2 penalty on the factors, >= 0. The default suits catalogues of a few
        thousand items: on MovieLens 100K, 64 factors score nDCG@10 0.38 at 0.01
        (the ``implicit`` library's default), 0.41 at 5 and 0.46 at 10.
    alpha : float
        Confidence scale, > 0: a weight ``w`` counts as ``alpha * w``.
    iterations : int
        Alternating sweeps, >= 1.
    random_state : int, numpy RandomState or Generator, or None
        Seeds the initial factors; a fixed int gives the same model every fit.
    weight : str or None
        Column of interaction weights; None counts 1 per interaction.

    Attributes
    ----------
    user_factors_ : numpy.ndarray
        Shape ``(n_users, factors)``, rows in ``user_index_`` order.
    item_factors_ : numpy.ndarray
        Shape ``(n_items, factors)``, rows in ``item_index_`` order.
    interactions_, user_index_, item_index_
        As in :class:`~workbench.recommend.base.BaseRecommender`.

    Examples
    --------
    >>> import numpy as np
    >>> matrix = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]])
    >>> model = ALSRecommender(factors=2, iterations=5).fit(matrix)
    >>> model.user_factors_.shape, model.item_factors_.shape
    ((3, 2), (4, 2))
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 10.0,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: Any = 0,
        weight: str | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.weight = weight

    def _check_params(self) -> None:
        super()._check_params()
        check_number(self, "alpha", self.alpha, low=0, low_open=True)

    def _implicit_model(self, seed: int | None) -> Any:
        with _quiet_progress_import():
            from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=int(self.factors),
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            iterations=int(self.iterations),
            random_state=seed,
        )


class BPRRecommender(_FactorizationRecommender):
    """Bayesian personalized ranking (Rendle et al., 2009), trained by SGD.

    Learns factors so that each user scores an item they interacted with
    above a randomly drawn one they did not. Interaction weights only mark
    which cells are positive.

    Training runs on one thread: implicit's multi-threaded SGD updates shared
    factors without locks, which would make results differ from fit to fit.

    Parameters
    ----------
    factors : int
        Length of each user and item vector, >= 1 (implicit adds an item bias).
    learning_rate : float
        SGD step size, > 0.
    regularization : float
        L2 penalty on the factors, >= 0.
    iterations : int
        Passes over the interactions, >= 1.
    random_state : int, numpy RandomState or Generator, or None
        Seeds the initial factors and the sampling; a fixed int gives the same
        model every fit.
    weight : str or None
        Column of interaction weights (only whether it is > 0 matters).

    Attributes
    ----------
    user_factors_, item_factors_ : numpy.ndarray
        One row per user and per item (in ``user_index_``/``item_index_``
        order); a user's scores are ``user_factors_[u] @ item_factors_.T``.
    interactions_, user_index_, item_index_
        As in :class:`~workbench.recommend.base.BaseRecommender`.

    Examples
    --------
    >>> import numpy as np
    >>> matrix = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1]])
    >>> model = BPRRecommender(factors=2, iterations=5).fit(matrix)
    >>> sorted(model.recommend([0, 2], k=2).groupby("user_id").size().tolist())
    [2, 2]
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: Any = 0,
        weight: str | None = None,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.weight = weight

    def _check_params(self) -> None:
        super()._check_params()
        check_number(self, "learning_rate", self.learning_rate, low=0, low_open=True)

    def _implicit_model(self, seed: int | None) -> Any:
        with _quiet_progress_import():
            from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=int(self.factors),
            learning_rate=float(self.learning_rate),
            regularization=float(self.regularization),
            iterations=int(self.iterations),
            random_state=seed,
            num_threads=1,
        )


@contextlib.contextmanager
def _quiet_progress_import() -> Iterator[None]:
    """Import implicit without tqdm's "IProgress not found" warning.

    implicit imports ``tqdm.auto``, which in a notebook kernel without ipywidgets warns
    on import; the workbench turns its progress bars off (``show_progress=False``), so
    the warning is about nothing and would land in every training report.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        yield
