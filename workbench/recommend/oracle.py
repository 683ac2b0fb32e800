"""The planted-taste oracle: the ranking a model could at best learn from synthetic music.

:func:`workbench.datasets.make_music` draws each play from the planted truth: a user
picks a track with probability proportional to ``taste[user, genre(track)] *
popularity(track)``. :class:`PlantedTasteRecommender` ranks by exactly that
probability, so on a holdout of that data it shows how close a trained model comes
to what the data can teach (the oracle's own score is not 1: plays are random draws).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.exceptions import InvalidArgument
from workbench.recommend.base import BaseRecommender

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp

__all__ = ["PlantedTasteRecommender"]


class PlantedTasteRecommender(BaseRecommender):
    """Rank tracks by the planted probability that each user picks them.

    Parameters
    ----------
    truth : dict
        The music set's truth (``SyntheticDataset.truth`` of ``make_music``, or
        ``data/truth/music.json``): ``user_taste``, ``item_genre``, ``item_popularity``.
    weight : str or None
        As for every recommender: which training rows mark items as seen.

    Examples
    --------
    >>> from workbench.datasets import make_music
    >>> music = make_music(users=20, items=40, days=5, genres=3)
    >>> events = music.tables["events"].to_pandas()
    >>> oracle = PlantedTasteRecommender(truth=music.truth).fit(events)
    >>> len(oracle.recommend(["user_0001"], k=5))
    5
    """

    def __init__(self, *, truth: dict[str, Any] | None = None, weight: str | None = None) -> None:
        self.truth = truth
        self.weight = weight

    def _check_params(self) -> None:
        super()._check_params()
        needed = ("user_taste", "item_genre", "item_popularity")
        if not isinstance(self.truth, dict) or any(key not in self.truth for key in needed):
            raise InvalidArgument(
                "PlantedTasteRecommender: truth must be a music set's truth with "
                f"{', '.join(needed)} (make_music(...).truth or data/truth/music.json)."
            )

    def _fit_interactions(self, matrix: sp.csr_array, frame: pd.DataFrame | None) -> None:
        tastes = self.truth["user_taste"]
        genres = self.truth["item_genre"]
        popularity = self.truth["item_popularity"]
        width = len(next(iter(tastes.values())))
        # Users or items the truth does not know (from outside the set) get no preference.
        self.taste_ = np.array(
            [tastes.get(str(user), [0.0] * width) for user in self.user_index_], dtype=np.float64
        )
        self.item_genre_ = np.array([int(genres.get(str(i), 0)) for i in self.item_index_])
        self.item_weight_ = np.array(
            [float(popularity.get(str(i), 0.0)) for i in self.item_index_], dtype=np.float64
        )

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.taste_[rows][:, self.item_genre_] * self.item_weight_
