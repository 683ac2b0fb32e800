"""One offline comparison: load interactions, split them, fit and compare recommenders.

The ``train_recommender`` notebook and the MovieLens benchmark both run the
same recipe, so it lives here::

    events = load_interactions(store, scope="music")   # weighted by [feedback]
    train, test = split_interactions(events, split="stratified", test_ratio=0.25, seed=0)
    table = compare_models("popularity,itemknn,ease", train, test, k=10)
    metrics = metrics_for_record(table, k=10)
    best = best_model(table, k=10)

The events are read within a scope (:class:`~workbench.scope.Scope`) and weighted
by the feedback semantics (:class:`~workbench.feedback.Feedback`): a skip is not a
like. Every held-out interaction with a positive weight is relevant (binary
relevance, as in the MovieLens benchmark of microsoft/recommenders); items a user
met in training, negative feedback included, are not recommended to them again.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument
from workbench.feedback import WEIGHT, Feedback
from workbench.scope import Scope
from workbench.tables import to_frame

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from workbench.store import Store

__all__ = [
    "SPLITS",
    "best_model",
    "check_model_params",
    "compare_models",
    "comparison_at_k",
    "load_interactions",
    "make_models",
    "metric_at",
    "metrics_for_record",
    "model_names",
    "split_interactions",
]

SPLITS = ("temporal", "leave_last", "stratified")
"""Split kinds accepted by :func:`split_interactions`."""

# Columns of evaluate_recommenders' table a version records, with their intervals, and
# those recorded without one (coverage has none; novelty's is left out of the record).
_RECORDED = (
    "precision_at_k_score",
    "recall_at_k_score",
    "ndcg_at_k_score",
    "map_at_k_score",
    "mean_average_precision_score",
)
_RECORDED_BARE = ("catalog_coverage_score", "novelty_score")


def load_interactions(
    store: Store,
    *,
    scope: Scope | str | Mapping[str, Any] | None = None,
    feedback: Feedback | Mapping[str, Any] | None = None,
    table: str = "events",
) -> ir.Table:
    """The events a recommender trains on: those in ``scope``, weighted by ``feedback``.

    Parameters
    ----------
    store : Store
        The store to read.
    scope : Scope, str or dict, optional
        Which events: a :class:`~workbench.scope.Scope`, the name of one in
        ``workbench.toml``, or None for every event.
    feedback : Feedback or dict, optional
        What each event type means; default ``[feedback]`` of ``workbench.toml``.
        Event types it does not declare are left out (see
        :meth:`~workbench.feedback.Feedback.coverage`).
    table : str, default "events"
        A table with ``event_id``, ``ts``, ``user_id``, ``item_id``, ``event_type``,
        ``value`` and ``source``.

    Returns
    -------
    ibis.Table
        The events with a ``weight`` column; not executed.
    """
    events = Scope.resolve(scope).events(store.table(table))
    return Feedback.resolve(feedback).weighted(events)


def split_interactions(
    events: ir.Table,
    *,
    split: str = "stratified",
    test_ratio: float = 0.25,
    seed: int = 0,
    last_n: int = 1,
    cut: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split interactions into train and test, executed to pandas.

    Parameters
    ----------
    events : ibis.Table
        Interactions with ``event_id``, ``ts``, ``user_id`` and ``item_id``.
    split : {"temporal", "leave_last", "stratified"}
        ``"stratified"``: ``test_ratio`` of each user's rows at random
        (:func:`~workbench.features.stratified_split`, seeded by ``seed``);
        ``"temporal"``: the latest ``test_ratio`` of all rows, cut at one moment
        (:func:`~workbench.features.temporal_split`), or the rows from ``cut`` on;
        ``"leave_last"``: each user's last ``last_n`` rows
        (:func:`~workbench.features.leave_last_n_split`).
    test_ratio : float, default 0.25
        Share held out by the stratified and temporal splits, in (0, 1).
    seed : int, default 0
        Seed of the stratified split.
    last_n : int, default 1
        Rows per user held out by the leave-last split.
    cut : datetime, date or ISO text, optional
        With ``split="temporal"``: the moment the test rows start (UTC), instead of
        the ``test_ratio`` quantile; e.g. yesterday's midnight to test on yesterday.

    Returns
    -------
    (train, test) : tuple of pandas.DataFrame
        Both with the columns of ``events``. With a ``weight`` column (from
        :func:`load_interactions`) the test rows are the relevant ones, weight > 0:
        negative feedback held out is not known at training time and is no target.

    Raises
    ------
    InvalidArgument
        If ``split`` is unknown, or train or test comes out empty.
    """
    from workbench.features.splits import leave_last_n_split, stratified_split, temporal_split

    if split == "stratified":
        parts = stratified_split(events, test_ratio=test_ratio, seed=seed)
    elif split == "temporal":
        at = _temporal_cut(events, test_ratio) if cut is None else cut
        parts = temporal_split(events, cut=at)
    elif split == "leave_last":
        parts = leave_last_n_split(events, n=last_n)
    else:
        raise InvalidArgument(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    train, test = to_frame(parts.train, name="train"), to_frame(parts.test, name="test")
    if WEIGHT in test.columns:
        test = test[test[WEIGHT] > 0].reset_index(drop=True)
    if train.empty or test.empty:
        raise InvalidArgument(
            f"The {split} split left {len(train)} training and {len(test)} test rows "
            f"(of {len(train) + len(test)}); both need rows. Load more interactions "
            "or change test_ratio."
        )
    return train, test


def _temporal_cut(events: ir.Table, test_ratio: float) -> dt.datetime:
    """The moment after which ``test_ratio`` of the rows fall."""
    if isinstance(test_ratio, bool) or not isinstance(test_ratio, int | float):
        raise InvalidArgument(f"test_ratio must be a number in (0, 1), got {test_ratio!r}.")
    if not 0 < test_ratio < 1:
        raise InvalidArgument(f"test_ratio must be in (0, 1), got {test_ratio!r}.")
    seconds = events["ts"].epoch_seconds().quantile(1.0 - float(test_ratio)).to_pandas()
    if seconds is None or seconds != seconds:  # no rows: NULL or NaN
        raise InvalidArgument("There are no interactions to split.")
    return dt.datetime.fromtimestamp(float(seconds), tz=dt.UTC)


def model_names(models: str | Sequence[str]) -> list[str]:
    """Model short names from ``"a,b"`` or a sequence, checked against ``MODELS``.

    Examples
    --------
    >>> model_names(" popularity, ease ")
    ['popularity', 'ease']
    """
    from workbench.recommend import MODELS

    names = models.split(",") if isinstance(models, str) else list(models)
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise InvalidArgument(f"No model named in {models!r}; known: {', '.join(MODELS)}.")
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise InvalidArgument(
            f"Unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(MODELS)}."
        )
    if len(set(names)) != len(names):
        raise InvalidArgument(f"A model is named twice in {models!r}.")
    return names


def make_models(
    models: str | Sequence[str],
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    weight: str | None = None,
) -> dict[str, Any]:
    """Unfitted recommenders by name, with ``params[name]`` overriding their defaults.

    ``weight`` names the weight column every model reads (``"weight"`` for the rows
    of :func:`load_interactions`); ``params`` may still set another per model.

    Examples
    --------
    >>> make_models("ease", params={"ease": {"l2": 300.0}})
    {'ease': EASERecommender(l2=300.0)}
    >>> make_models("popularity", weight="weight")
    {'popularity': PopularityRecommender(weight='weight')}
    """
    from workbench.recommend import MODELS

    params = dict(params or {})
    names = model_names(models)
    stray = sorted(set(params) - set(names))
    if stray:
        raise InvalidArgument(f"params names model(s) {stray} that are not compared: {names}.")
    for name in names:
        check_model_params(name, params.get(name, {}))
    shared = {} if weight is None else {"weight": weight}
    return {name: MODELS[name](**{**shared, **params.get(name, {})}) for name in names}


def check_model_params(model: str, params: Any) -> None:
    """Refuse, in one line, ``params`` that are not a dict of ``model``'s own parameters.

    Examples
    --------
    >>> check_model_params("ease", {"lambda": 8.0})
    Traceback (most recent call last):
    ...
    workbench.exceptions.InvalidArgument: ease has no parameter(s) lambda; it takes dropout, l2, weight.
    """
    from workbench.recommend import MODELS

    if not isinstance(params, Mapping):
        raise InvalidArgument(
            f"params[{model!r}] must be a dict of {model}'s parameters, got {params!r}."
        )
    known = set(MODELS[model]().get_params())
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidArgument(
            f"{model} has no parameter(s) {', '.join(unknown)}; it takes {', '.join(sorted(known))}."
        )


def compare_models(
    models: str | Sequence[str],
    train: Any,
    test: Any,
    *,
    k: int = 10,
    cutoffs: Sequence[int] = (1, 5, 10, 20),
    params: Mapping[str, Mapping[str, Any]] | None = None,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Fit each named model on ``train`` and compare them on ``test``.

    When ``train`` has a ``weight`` column (the rows of :func:`load_interactions`),
    every model learns from it.

    Parameters
    ----------
    models : str or sequence of str
        Short names from :data:`workbench.recommend.MODELS`, or ``"a,b,c"``.
    train, test : DataFrame or Ibis table
        Interactions; every test interaction is relevant.
    k : int, default 10
        The cut-off that matters; always in the table.
    cutoffs : sequence of int
        Further cut-offs, for :func:`~workbench.evaluate.plot_metric_by_k`.
    params : mapping, optional
        ``{name: {parameter: value}}`` overriding a model's defaults.
    n_resamples, seed
        Of the bootstrap intervals (see :func:`~workbench.evaluate.evaluate_recommenders`).

    Returns
    -------
    pandas.DataFrame
        :func:`~workbench.evaluate.evaluate_recommenders`' table: one row per
        model and cut-off.
    """
    from workbench.evaluate import evaluate_recommenders

    weight = WEIGHT if WEIGHT in _columns(train) else None
    return evaluate_recommenders(
        make_models(models, params=params, weight=weight),
        train,
        test,
        k=sorted({int(k), *cutoffs}),
        n_resamples=n_resamples,
        seed=seed,
    )


def _columns(table: Any) -> list[str]:
    columns = table.columns
    return list(columns() if callable(columns) else columns)


def _at_k(table: pd.DataFrame, k: int) -> pd.DataFrame:
    rows = table[table["k"] == k]
    if rows.empty:
        raise InvalidArgument(
            f"The table has no row with k={k!r}; it has k in {sorted(set(table['k']))}."
        )
    return rows


def metric_at(metric: str, k: int) -> str:
    """The name a table's ``metric`` is recorded (and gated) under at cut-off ``k``.

    One spelling for a metric everywhere: the function that computes it, the column of
    the comparison table, and, with the cut-off written in, the recorded name.

    >>> metric_at("ndcg_at_k_score", 10), metric_at("novelty_score", 10)
    ('ndcg_at_10_score', 'novelty_at_10_score')
    >>> metric_at("mean_average_precision_score", 10)  # over all of a user's relevant items
    'mean_average_precision_score'
    """
    if "_at_k_" in metric:
        return metric.replace("_at_k_", f"_at_{k}_")
    if metric in _RECORDED_BARE:
        return metric.removesuffix("_score") + f"_at_{k}_score"
    return metric


def metrics_for_record(table: pd.DataFrame, k: int) -> dict[str, dict[str, float]]:
    """``{model: {"ndcg_at_10_score", "ndcg_at_10_score_low", ..., "fit_seconds"}}`` at ``k``.

    Each accuracy metric (``precision_at_k_score``, ``recall_at_k_score``,
    ``ndcg_at_k_score``, ``map_at_k_score``, ``mean_average_precision_score``), named at
    the cut-off by :func:`metric_at`, comes with its bootstrap interval (``_low``,
    ``_high``), so a report can show what training measured without refitting; then
    ``catalog_coverage_at_k_score``, ``novelty_at_k_score`` and ``fit_seconds``.
    ``map_at_k_score`` divides each user's precision sum by ``min(n_relevant, k)``;
    ``mean_average_precision_score`` by all of the user's relevant items (both over the
    top ``k``), as the MAP of microsoft/recommenders' MovieLens table.
    """
    metrics = {}
    for row in _at_k(table, k).itertuples(index=False):
        values = row._asdict()
        named = {}
        for column in _RECORDED:
            label = metric_at(column, k)
            named[label] = column
            named[label + "_low"], named[label + "_high"] = column + "_low", column + "_high"
        named.update({metric_at(column, k): column for column in _RECORDED_BARE})
        named["fit_seconds"] = "fit_seconds"
        # Only finite figures are recorded: an interval a table lacks is left out, not NaN.
        metrics[str(values["model"])] = {
            label: float(values[column])
            for label, column in named.items()
            if column in values and math.isfinite(float(values[column]))
        }
    return metrics


def comparison_at_k(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """The comparison table's rows at cut-off ``k``, with the columns worth reading."""
    columns = ["model", "users", *_RECORDED, *_RECORDED_BARE, "fit_seconds"]
    return _at_k(table, k)[[column for column in columns if column in table.columns]]


def best_model(table: pd.DataFrame, k: int, *, metric: str = "ndcg_at_k_score") -> str:
    """The model with the highest ``metric`` at cut-off ``k`` (the first, on a tie)."""
    rows = _at_k(table, k).reset_index(drop=True)
    return str(rows.loc[rows[metric].idxmax(), "model"])
