"""Learning to rank: re-rank a base recommender's candidates with gradient boosting.

The recipe (two-stage retrieval, as in most production recommenders):

1. **Split in time.** ``cut`` is the start of the last ``holdout_days`` UTC
   days of the training events. Events before it are the past, events from it
   on are the labels.
2. **Candidates.** A clone of the base recommender, fitted on the past,
   proposes its top ``candidates`` unseen items per user.
3. **Labels.** A candidate is positive when the user interacted with the item
   at or after ``cut``.
4. **Features, point in time.** Base score and rank, user activity, item
   popularity and user-item affinity (the :mod:`workbench.features` helpers),
   joined with :func:`~workbench.features.training_set` at label time
   ``cut``: every value comes from events strictly before ``cut``.
5. **Learn** a classifier of positive vs. negative candidates.
6. **Serve.** The base is refitted on every event and the feature snapshot
   retaken as of the end of the last day, so ``recommend`` scores the full
   base model's candidates with the classifier's probability and re-ranks them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from workbench.exceptions import InvalidArgument
from workbench.recommend.base import (
    BaseRecommender,
    check_number,
    check_random_state,
    recommendations,
)
from workbench.recommend.interactions import ITEM, TIME, USER, as_event_frame

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = ["LearningToRankRecommender"]

EVENT_TYPE = "event_type"
# Event types that get their own count columns, at most this many (by frequency).
_MAX_EVENT_TYPES = 8
_TYPE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_DAY = dt.timedelta(days=1)
# The default classifier: shallow, slow-learning trees, since the candidate rows of one
# holdout are few and noisy. A candidate never gets less likely by ranking higher in
# the base model: the constraints keep the re-ranker from undoing the base on noise.
_DEFAULT_MODEL = {
    "max_iter": 200,
    "learning_rate": 0.03,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 50,
    "l2_regularization": 1.0,
}
_MONOTONE = {"base_rank": -1, "base_score_share": 1}


@dataclass(frozen=True)
class FeatureSnapshot:
    """The feature rows of users, items and (user, item) pairs as of one moment.

    Each frame holds the latest feature row with ``feature_ts <= as_of`` of its
    entity (found with :func:`~workbench.features.training_set`), so every value
    comes from events strictly before ``as_of``. Feature columns are prefixed
    ``user_``, ``item_`` and ``pair_``; ``*_feature_ts`` tells which row was used.
    """

    as_of: pd.Timestamp
    users: pd.DataFrame
    items: pd.DataFrame
    pairs: pd.DataFrame


class LearningToRankRecommender(BaseEstimator):
    """Re-rank a base recommender's candidates with a classifier trained on what came next.

    ``fit(X)`` takes one row per event with ``user_id``, ``item_id`` and a
    datetime ``ts`` (``event_type`` adds per-type activity counts). It holds
    out the last ``holdout_days`` UTC days as labels, trains a classifier on
    the candidates a base model fitted on the earlier days proposes, with
    features computed only from events before the cut, then refits the base
    on all events for serving. See :mod:`workbench.recommend.rerank`.

    Parameters
    ----------
    base : str or estimator
        The candidate generator: a name in :data:`~workbench.recommend.MODELS`
        (``"ease"``...) or an unfitted recommender (cloned, never modified).
    candidates : int
        Candidates per user the classifier re-ranks, >= 1 (at least ``k`` are
        drawn in ``recommend``).
    holdout_days : int
        Length, in UTC days, of the label period at the end of the events, >= 1.
    windows : int or sequence of int
        Trailing windows, in days, of the user activity and item popularity
        features.
    model : classifier or None
        A scikit-learn classifier with ``predict_proba``, cloned before fitting.
        None means a regularized ``HistGradientBoostingClassifier`` (200
        iterations, learning rate 0.03, 15 leaves) seeded with ``random_state``,
        monotone decreasing in the base rank and increasing in the share of the
        user's best base score.
    random_state : int, RandomState, Generator or None
        Seed of the default classifier (a given ``model`` keeps its own).

    Attributes
    ----------
    base_ : estimator
        The base recommender fitted on every event; it proposes the candidates.
    classifier_ : estimator
        The fitted classifier.
    feature_names_ : list of str
        The classifier's input columns, in order.
    event_types_ : list of str
        Event types with their own activity counts.
    cut_ : pandas.Timestamp
        Start of the label period (naive UTC): training features use events
        before it.
    as_of_ : pandas.Timestamp
        End of the last event day (naive UTC): serving features use every event.
    snapshot_ : FeatureSnapshot
        The serving features (users, items, pairs) as of ``as_of_``.
    training_frame_ : pandas.DataFrame
        The classifier's training rows: ``user_id``, ``item_id``, ``ts``
        (= ``cut_``), ``label``, the ``*_feature_ts`` used, and the features.
    n_candidates_, n_positives_ : int
        Training candidates, and how many of them were positives.

    Examples
    --------
    >>> from workbench.datasets import make_music
    >>> events = make_music(users=40, items=60, days=14).tables["events"].to_pandas()
    >>> model = LearningToRankRecommender(candidates=20, windows=7).fit(events)
    >>> model.recommend(["user_0000"], k=3)["rank"].tolist()
    [1, 2, 3]
    """

    def __init__(
        self,
        *,
        base: Any = "ease",
        candidates: int = 50,
        holdout_days: int = 7,
        windows: int | Sequence[int] = (7, 30),
        model: Any = None,
        random_state: Any = 0,
    ) -> None:
        self.base = base
        self.candidates = candidates
        self.holdout_days = holdout_days
        self.windows = windows
        self.model = model
        self.random_state = random_state

    def fit(self, X: Any, y: None = None) -> LearningToRankRecommender:
        """Learn the re-ranker on the last ``holdout_days``, then refit the base on everything.

        Parameters
        ----------
        X : DataFrame, Ibis table or pyarrow table
            One row per event: ``user_id``, ``item_id``, datetime ``ts`` and,
            optionally, ``event_type``.
        y : None
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        self

        Raises
        ------
        InvalidArgument
            If a parameter is out of range, a column is missing, the events do
            not span both sides of the cut, or no candidate turns out positive.
        """
        base, classifier = self._check_params()
        events = _events_of(X, name=type(self).__name__)
        end = events[TIME].max().floor("D") + _DAY
        cut = end - dt.timedelta(days=int(self.holdout_days))
        past, future = events[events[TIME] < cut], events[events[TIME] >= cut]
        if past.empty or future.empty:
            raise InvalidArgument(
                f"{type(self).__name__}.fit: the events run from {events[TIME].min()} to "
                f"{events[TIME].max()}, so the cut at {cut} leaves nothing on one side. "
                f"Pass more than holdout_days={self.holdout_days} days of events, or lower it."
            )
        self.event_types_ = _frequent_types(past)

        # Training: candidates, labels and features all as of the cut.
        past_base = clone(base).fit(past)
        rows = np.arange(len(past_base.user_index_))
        candidates = _candidates(past_base, rows, n=int(self.candidates), exclude_seen=True)
        seen_later = future[[USER, ITEM]].drop_duplicates().assign(label=1)
        candidates = candidates.merge(seen_later, on=[USER, ITEM], how="left")
        candidates["label"] = candidates["label"].fillna(0).astype(np.int64)
        positives = int(candidates["label"].sum())
        if positives == 0 or positives == len(candidates):
            raise InvalidArgument(
                f"{type(self).__name__}.fit: {positives} of {len(candidates)} candidates "
                "were interacted with after the cut; the classifier needs both kinds. "
                "Raise candidates or holdout_days."
            )
        snapshot = self._snapshot(past, cut, candidates)
        frame = _with_features(candidates, snapshot)
        self.feature_names_ = _feature_columns(frame)
        classifier = self._monotone(classifier)
        self.classifier_ = classifier.fit(frame[self.feature_names_], frame["label"])

        # Serving: the base and the features as of the end of the last day.
        self.base_ = clone(base).fit(events)
        self.snapshot_ = self._snapshot(events, end, None)
        self.cut_, self.as_of_ = cut, end
        self.training_frame_ = frame
        self.n_candidates_, self.n_positives_ = len(candidates), positives
        return self

    def recommend(
        self, users: Any = None, k: int = 10, *, exclude_seen: bool = True
    ) -> pd.DataFrame:
        """The top ``k`` items for each user, by the classifier's probability of interaction.

        Parameters
        ----------
        users : sequence of ids, a single id, or None
            Whom to recommend to; None means every user seen in training.
            Unknown users get no rows.
        k : int
            Items per user, >= 1. The base proposes ``max(candidates, k)``.
        exclude_seen : bool
            Leave out the items each user interacted with in training.

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id``, ``item_id``, ``rank`` (1-based int) and
            ``score`` (the probability, float), sorted by user id, then rank.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return recommendations(self, self.base_._rows_of(users), k, exclude_seen=exclude_seen)

    @property
    def user_index_(self) -> np.ndarray:
        """The users the base was fitted on, in its matrix order."""
        return self.base_.user_index_

    @property
    def item_index_(self) -> np.ndarray:
        """The items the base was fitted on, in its matrix order."""
        return self.base_.item_index_

    def top_k_rows(
        self, rows: np.ndarray, k: int, *, exclude_seen: bool = True, also: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Matrix row, item column, rank and score of the top ``k`` items of each user row.

        The path :meth:`recommend` and batch precompute share, as on
        :class:`~workbench.recommend.base.BaseRecommender`: the base proposes its top
        ``max(candidates, k)`` (``exclude_seen`` and ``also`` as the base takes them),
        the classifier scores them, and each user keeps the ``k`` most probable (ties:
        the base's order). Rows come grouped by user in the order of ``rows``.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        n = max(int(self.candidates), int(k))
        proposed = self.base_.top_k_rows(rows, n, exclude_seen=exclude_seen, also=also)
        user_rows, item_columns = proposed[0], proposed[1]
        if user_rows.size == 0:
            return proposed
        candidates = _candidate_frame(self.base_, *proposed)
        frame = _with_features(candidates, self.snapshot_)
        positive = list(self.classifier_.classes_).index(1)
        scores = self.classifier_.predict_proba(frame[self.feature_names_])[:, positive]
        # Within each user (its rows stay together, in the order given): most probable
        # first, the base's rank breaking ties.
        group = np.r_[0, np.cumsum(user_rows[1:] != user_rows[:-1])]
        order = np.lexsort((candidates["base_rank"].to_numpy(), -scores, group))
        starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
        counts = np.diff(np.r_[starts, order.size])
        ranks = np.arange(order.size) - np.repeat(starts, counts) + 1
        keep = order[ranks <= k]
        return (
            user_rows[keep],
            item_columns[keep],
            ranks[ranks <= k].astype(np.int64),
            scores[keep].astype(np.float64),
        )

    # -- saving: the registry stores models with skops, which keeps arrays, not frames --

    def __getstate__(self) -> dict:
        """The state with each frame as plain column arrays, so skops can save it."""
        state = dict(super().__getstate__())
        snapshot = state.get("snapshot_")
        if isinstance(snapshot, FeatureSnapshot):
            state["snapshot_"] = {
                "as_of": np.datetime64(snapshot.as_of, "us"),
                **{part: _columns_of(getattr(snapshot, part)) for part in _SNAPSHOT_PARTS},
            }
        for name in ("cut_", "as_of_"):
            if name in state:
                state[name] = np.datetime64(state[name], "us")
        if "training_frame_" in state:
            state["training_frame_"] = _columns_of(state["training_frame_"])
        return state

    def __setstate__(self, state: dict) -> None:
        """Rebuild the frames :meth:`__getstate__` took apart."""
        import pandas as pd

        state = dict(state)
        snapshot = state.get("snapshot_")
        if isinstance(snapshot, dict):
            state["snapshot_"] = FeatureSnapshot(
                pd.Timestamp(snapshot["as_of"]),
                **{part: _frame_of(snapshot[part]) for part in _SNAPSHOT_PARTS},
            )
        for name in ("cut_", "as_of_"):
            if name in state:
                state[name] = pd.Timestamp(state[name])
        if isinstance(state.get("training_frame_"), dict):
            state["training_frame_"] = _frame_of(state["training_frame_"])
        super().__setstate__(state)

    # -- helpers ----------------------------------------------------------------------

    def _check_params(self) -> tuple[BaseEstimator, BaseEstimator]:
        """Check every parameter; return an unfitted base and classifier."""
        from workbench.recommend import MODELS

        name = type(self).__name__
        if isinstance(self.base, str):
            if self.base not in MODELS:
                raise InvalidArgument(
                    f"{name}: base must be one of {', '.join(map(repr, MODELS))} or a "
                    f"recommender instance, got {self.base!r}."
                )
            base = MODELS[self.base]()
        elif isinstance(self.base, BaseRecommender):
            base = clone(self.base)
        else:
            # The re-ranker scores the base's own top-k rows (the path precompute takes),
            # so the base is one of the workbench's recommenders.
            raise InvalidArgument(
                f"{name}: base must be a name in MODELS or a workbench recommender "
                f"(e.g. EASERecommender()), got {self.base!r}."
            )
        check_number(self, "candidates", self.candidates, low=1, integer=True)
        check_number(self, "holdout_days", self.holdout_days, low=1, integer=True)
        seed = check_random_state(self, self.random_state)
        if self.model is None:
            from sklearn.ensemble import HistGradientBoostingClassifier

            classifier = HistGradientBoostingClassifier(**_DEFAULT_MODEL, random_state=seed)
        elif hasattr(self.model, "fit") and hasattr(self.model, "predict_proba"):
            classifier = clone(self.model)
        else:
            raise InvalidArgument(
                f"{name}: model must be a classifier with fit and predict_proba "
                f"(e.g. HistGradientBoostingClassifier()), or None; got {self.model!r}."
            )
        return base, classifier

    def _monotone(self, classifier: BaseEstimator) -> BaseEstimator:
        """The default classifier constrained monotone in the base's rank; others as given."""
        if self.model is not None:
            return classifier
        constraints = {name: _MONOTONE.get(name, 0) for name in self.feature_names_}
        return classifier.set_params(monotonic_cst=constraints)

    def _snapshot(
        self, events: pd.DataFrame, as_of: pd.Timestamp, candidates: pd.DataFrame | None
    ) -> FeatureSnapshot:
        """Feature rows as of ``as_of`` for the users, items and pairs of ``events``.

        The pairs are those of ``candidates`` when given (training), else every
        pair with an event (serving; any other pair has no affinity row anyway).
        """
        import ibis

        from workbench.features import (
            item_popularity_features,
            training_set,
            user_activity_features,
            user_item_affinity_features,
        )

        table = ibis.memtable(events[[USER, ITEM, EVENT_TYPE, TIME]])
        features = {
            "user": (
                [USER],
                user_activity_features(table, windows=self.windows, event_types=self.event_types_),
            ),
            "item": ([ITEM], item_popularity_features(table, windows=self.windows)),
            "pair": ([USER, ITEM], user_item_affinity_features(table)),
        }
        pairs = events if candidates is None else candidates
        keys = {
            "user": events[[USER]].drop_duplicates(),
            "item": events[[ITEM]].drop_duplicates(),
            "pair": pairs[[USER, ITEM]].drop_duplicates(),
        }
        connection = ibis.duckdb.connect()
        frames = {}
        for kind, (entity, feature_table) in features.items():
            labels = ibis.memtable(keys[kind].assign(**{TIME: as_of}))
            joined = training_set(labels, _prefixed(feature_table, kind, entity), entity=entity)
            joined = joined.drop(TIME).rename({f"{kind}_feature_ts": "feature_ts"})
            frame = connection.to_pandas(joined)
            age = (as_of - frame[f"{kind}_feature_ts"]) / _DAY
            frames[kind] = frame.assign(**{f"{kind}_feature_age_days": age})
        return FeatureSnapshot(as_of, frames["user"], frames["item"], frames["pair"])


_SNAPSHOT_PARTS = ("users", "items", "pairs")


def _columns_of(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame as ``{"columns": [...], "values": [array, ...]}`` of numpy arrays."""
    import pandas as pd

    values = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:
            # A numeric column that a left join filled with NaN comes back as objects.
            numeric = pd.to_numeric(column, errors="coerce")
            if numeric.notna().sum() == column.notna().sum():
                column = numeric.astype(np.float64)
        values.append(column.to_numpy())
    return {"columns": [str(name) for name in frame.columns], "values": values}


def _frame_of(state: dict[str, Any]) -> pd.DataFrame:
    """The frame :func:`_columns_of` took apart."""
    import pandas as pd

    return pd.DataFrame(dict(zip(state["columns"], state["values"], strict=True)))


def _events_of(X: Any, *, name: str) -> pd.DataFrame:
    """``X`` as a frame of ``user_id, item_id, event_type, ts`` with a datetime ``ts``."""
    import pandas as pd

    frame = as_event_frame(X, columns=[USER, ITEM, TIME])
    if not pd.api.types.is_datetime64_any_dtype(frame[TIME]):
        raise InvalidArgument(
            f"{name}.fit needs a datetime column {TIME!r}, got dtype {frame[TIME].dtype}; "
            "convert it first, e.g. pd.to_datetime(events['ts'], utc=True)."
        )
    missing = frame[[USER, ITEM, TIME]].isna().any(axis=1)
    if missing.any():
        raise InvalidArgument(
            f"{name}.fit: {int(missing.sum())} event(s) have no user, item or time; "
            "drop those rows first."
        )
    if frame.empty:
        raise InvalidArgument(f"{name}.fit got no events; there is nothing to learn from.")
    kinds = frame[EVENT_TYPE].astype(str) if EVENT_TYPE in frame.columns else "event"
    times = frame[TIME]
    if times.dt.tz is not None:
        # Naive UTC: DuckDB truncates zoned timestamps to days in its session time zone.
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DataFrame(
        {USER: frame[USER], ITEM: frame[ITEM], EVENT_TYPE: kinds, TIME: times}
    ).reset_index(drop=True)


def _frequent_types(events: pd.DataFrame) -> list[str]:
    """The most frequent event types usable as column names, sorted by name."""
    counts = events[EVENT_TYPE].value_counts()
    usable = [kind for kind in counts.index if _TYPE_NAME.match(kind)]
    return sorted(usable[:_MAX_EVENT_TYPES]) if len(usable) > 1 else []


def _prefixed(table: ir.Table, prefix: str, keys: list[str]) -> ir.Table:
    """The feature table with its value columns prefixed, so the three never clash."""
    fixed = {*keys, "feature_ts"}
    return table.rename({f"{prefix}_{name}": name for name in table.columns if name not in fixed})


def _candidates(
    model: BaseRecommender, rows: np.ndarray, *, n: int, exclude_seen: bool
) -> pd.DataFrame:
    """The base model's top ``n`` for each user row, with its score and rank as features."""
    return _candidate_frame(model, *model.top_k_rows(rows, n, exclude_seen=exclude_seen))


def _candidate_frame(
    model: BaseRecommender,
    user_rows: np.ndarray,
    item_columns: np.ndarray,
    ranks: np.ndarray,
    scores: np.ndarray,
) -> pd.DataFrame:
    """The base's proposals as rows: ids, base score, rank and share of the user's best."""
    import pandas as pd

    score = pd.Series(scores.astype(np.float64))
    # Scores grow with a user's history; the share of their best score does not, so
    # it means the same as of the cut and at serving time.
    best = score.groupby(user_rows).transform("max")
    return pd.DataFrame(
        {
            USER: np.asarray(model.user_index_).take(user_rows),
            ITEM: np.asarray(model.item_index_).take(item_columns),
            "base_score": score.to_numpy(),
            "base_rank": ranks.astype(np.float64),
            "base_score_share": (score / best.where(best > 0)).to_numpy(),
        }
    )


def _with_features(candidates: pd.DataFrame, snapshot: FeatureSnapshot) -> pd.DataFrame:
    """Candidates joined to their user, item and pair feature rows (missing rows: NaN)."""
    frame = candidates.merge(snapshot.users, on=USER, how="left")
    frame = frame.merge(snapshot.items, on=ITEM, how="left")
    frame = frame.merge(snapshot.pairs, on=[USER, ITEM], how="left")
    return frame.assign(**{TIME: snapshot.as_of})


def _feature_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric columns the classifier learns from (not ids, times or the label)."""
    import pandas as pd

    # The raw base score is left out: it grows with history, so its scale as of the cut
    # differs from serving time. Its share of the user's best score stands in for it.
    excluded = {USER, ITEM, TIME, "label", "base_score"}
    return [
        name
        for name in frame.columns
        if name not in excluded
        and pd.api.types.is_numeric_dtype(frame[name])
        and not pd.api.types.is_bool_dtype(frame[name])
        # A column with no value at all teaches nothing (and breaks histogram binning).
        and frame[name].notna().any()
    ]
