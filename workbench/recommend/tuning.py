"""Hyper-parameter search on a validation split carved from the training data only.

A model's hyper-parameters are chosen without looking at the test split::

    train, test = split_interactions(events, split="stratified", seed=0)
    tuned = tune_model("ease", train, budget_seconds=60)
    tuned.params          # {'l2': 300.0}: the values that ranked the validation best
    model = MODELS["ease"](**tuned.params).fit(train)

Each user's rows of ``train`` are split again at random (``validation_ratio`` of
them held out, as the test split holds out its share); every candidate is fitted
on the rest and judged by nDCG@k on the held-out rows; the best one's values come
back with every trial, so what was tried and what it scored stays on record. The
candidates are each model's :data:`SEARCH_SPACES` grid (the ranges the literature
on tuning top-n recommenders finds, Dacrema et al. 2019 and Anelli et al. 2022),
tried in a seeded random order until the grid or ``budget_seconds`` runs out.

A blend's weights are tuned once its bases' values are known: tune each base, then
``tune_model("blend", train, fixed={"models": "ease,als", "params": {"ease": ..., "als": ...}})``.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SEARCH_SPACES", "Tuning", "tune_model", "tune_models"]

SEARCH_SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    "popularity": {},
    "itemknn": {
        "similarity": ("cosine", "jaccard"),
        "neighbors": (20, 50, 100, 200, 400),
        "shrinkage": (0.0, 10.0, 50.0, 200.0),
    },
    "rp3beta": {
        "alpha": (0.4, 0.6, 0.8, 1.0, 1.2),
        "beta": (0.0, 0.2, 0.35, 0.5, 0.65, 0.8),
        "neighbors": (50, 100, 200, 400),
    },
    "ease": {
        "l2": (50.0, 100.0, 200.0, 300.0, 500.0, 800.0, 1200.0, 2000.0, 4000.0),
        "dropout": (0.0, 0.25, 0.5),
    },
    "als": {
        "factors": (16, 32, 64, 128),
        "regularization": (0.01, 0.1, 1.0),
        "alpha": (1.0, 5.0, 20.0, 40.0),
    },
    "bpr": {
        "factors": (32, 64, 128),
        "learning_rate": (0.005, 0.01, 0.05),
        "regularization": (0.001, 0.01, 0.1),
        "iterations": (50, 100),
    },
    # For two bases (their own values come from their tuning, ``fixed={"params": ...}``);
    # from one alone to the other alone, so the order the bases are named in does not matter.
    "blend": {
        "weights": (
            (1.0, 0.0),
            (1.0, 0.2),
            (1.0, 0.5),
            (1.0, 1.0),
            (0.5, 1.0),
            (0.2, 1.0),
            (0.0, 1.0),
        ),
    },
}
"""Model short name -> {parameter: candidate values}; the grid :func:`tune_model` searches."""


@dataclass(frozen=True)
class Tuning:
    """What :func:`tune_model` tried and chose.

    Attributes
    ----------
    model : str
        The model's short name.
    params : dict
        The values to build the model with: the chosen ones (the best validation
        nDCG@k; the first tried on a tie) and those given as ``fixed``.
    score : float
        Their validation nDCG@k.
    trials : pandas.DataFrame
        One row per candidate tried, in order: its values, ``ndcg_at_k_score`` and
        ``seconds``.
    tried, grid : int
        Candidates tried, of the grid's.
    seconds, budget_seconds : float
        Time spent, and the budget it had.
    validation_ratio : float
        Share of each user's training rows held out to judge.
    k : int
        The cut-off of nDCG.
    """

    model: str
    params: dict[str, Any]
    score: float
    trials: pd.DataFrame = field(repr=False)
    tried: int
    grid: int
    seconds: float
    budget_seconds: float
    validation_ratio: float
    k: int

    def describe(self) -> str:
        """In words, for a report: ``"ease: l2=300 (validation nDCG@10 0.412; 9 of 9..."``."""
        values = ", ".join(f"{name}={value!r}" for name, value in self.params.items())
        return (
            f"{self.model}: {values or 'its defaults (nothing to tune)'} (validation "
            f"nDCG@{self.k} {self.score:.3f}; {self.tried} of {self.grid} candidates in "
            f"{self.seconds:.1f} s, budget {self.budget_seconds:g} s, "
            f"{self.validation_ratio:.0%} of each user's training rows held out)"
        )

    def record(self) -> dict[str, Any]:
        """What a model version keeps of its tuning (plain JSON values)."""
        return {
            "params": dict(self.params),
            "validation_ndcg_at_k_score": float(self.score),
            "k": int(self.k),
            "tried": int(self.tried),
            "grid": int(self.grid),
            "seconds": round(float(self.seconds), 3),
            "budget_seconds": float(self.budget_seconds),
            "validation_ratio": float(self.validation_ratio),
        }


def tune_model(
    model: str,
    train: Any,
    *,
    space: Mapping[str, Sequence[Any]] | None = None,
    budget_seconds: float = 60.0,
    validation_ratio: float = 0.25,
    k: int = 10,
    seed: int = 0,
    fixed: Mapping[str, Any] | None = None,
) -> Tuning:
    """Choose ``model``'s hyper-parameters on a validation split of ``train`` alone.

    Parameters
    ----------
    model : str
        A short name of :data:`workbench.recommend.MODELS`.
    train : DataFrame or Ibis table
        The training interactions (``event_id``, ``user_id``, ``item_id``; a
        ``weight`` column, as :func:`~workbench.recommend.load_interactions` gives,
        is learnt from and only rows of positive weight are validation targets).
    space : mapping, optional
        ``{parameter: values}`` to search instead of the model's :data:`SEARCH_SPACES`.
    budget_seconds : float, default 60
        Candidates are tried until this is spent (the one running finishes); at least one is.
    validation_ratio : float, default 0.25
        Share of each user's rows held out to judge the candidates. A held-out item the
        user also has among the rows kept (a repeat) is no target: it could never be
        recommended to them.
    k : int, default 10
        Cut-off of the nDCG the candidates are ranked by.
    seed : int, default 0
        Seeds the validation split and the order candidates are tried in.
    fixed : mapping, optional
        Parameters every candidate gets (e.g. ``{"random_state": 0}``); they are part
        of the returned ``params``. For ``"blend"``: its bases and their values,
        ``{"models": "ease,als", "params": {...}}`` (default ``"ease,als"`` with their
        defaults); the default grid weighs two bases.

    Returns
    -------
    Tuning

    Raises
    ------
    InvalidArgument
        For an unknown model, a parameter the model does not take or that is both in
        ``space`` and ``fixed``, a space value that is not a list of candidates, a
        budget that is not a positive number, a ratio outside (0, 1), a k below 1, or a
        split that leaves nothing to judge.

    Examples
    --------
    >>> from workbench.datasets import make_music
    >>> events = make_music(users=60, items=80, days=20, seed=1).tables["events"].to_pandas()
    >>> train = events[events["event_type"] != "skip"][["event_id", "user_id", "item_id"]]
    >>> tuned = tune_model("ease", train, space={"l2": [10.0, 100.0]}, budget_seconds=30)
    >>> sorted(tuned.params), tuned.tried, tuned.grid
    (['l2'], 2, 2)
    """
    import ibis
    import pandas as pd

    from workbench.evaluate.compare import score_users
    from workbench.feedback import WEIGHT
    from workbench.recommend.comparison import make_models, split_interactions
    from workbench.tables import to_frame

    if model not in SEARCH_SPACES:
        raise InvalidArgument(
            f"No search space for model {model!r}; tunable: {', '.join(SEARCH_SPACES)}."
        )
    if (
        isinstance(budget_seconds, bool)
        or not isinstance(budget_seconds, int | float)
        or not budget_seconds > 0
    ):
        raise InvalidArgument(f"budget_seconds must be a number > 0, got {budget_seconds!r}.")
    if isinstance(validation_ratio, bool) or not isinstance(validation_ratio, int | float):
        raise InvalidArgument(f"validation_ratio must be in (0, 1), got {validation_ratio!r}.")
    if not 0 < validation_ratio < 1:
        raise InvalidArgument(f"validation_ratio must be in (0, 1), got {validation_ratio!r}.")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgument(f"k must be an integer >= 1, got {k!r}.")
    fixed = dict(fixed or {})
    if space is None:
        space = SEARCH_SPACES[model]
        bases = fixed.get("models", "ease,als")
        if model == "blend" and isinstance(bases, str) and len(bases.split(",")) != 2:
            raise InvalidArgument(
                f"The default grid of blend weights is for two models, not {bases!r}; pass "
                "space={'weights': [...]} with one weight per model in each candidate."
            )
    grid = _grid(model, space, fixed)
    rows = to_frame(train, name="train")
    if "event_id" not in rows.columns:
        rows = rows.assign(event_id=[str(i) for i in range(len(rows))])
    fit_part, held = split_interactions(
        ibis.memtable(rows), split="stratified", test_ratio=validation_ratio, seed=seed
    )
    fit_part = fit_part[rows.columns.intersection(fit_part.columns)]
    # A held-out repeat of an item the user keeps in the fit part can never be recommended.
    kept = pd.MultiIndex.from_frame(fit_part[["user_id", "item_id"]])
    relevant = held[["user_id", "item_id"]].drop_duplicates()
    relevant = relevant[~pd.MultiIndex.from_frame(relevant).isin(kept)]
    if relevant.empty:
        raise InvalidArgument(
            "The validation split left no held-out item a model could recommend (every one "
            "is a repeat of a kept one); tune on more interactions."
        )
    weight = WEIGHT if WEIGHT in rows.columns else None
    order = list(range(len(grid)))
    random.Random(seed).shuffle(order)
    started = time.perf_counter()
    trials, tried = [], []
    for position in order:
        values = grid[position]
        tried.append(values)
        began = time.perf_counter()
        candidate = make_models([model], params={model: {**fixed, **values}}, weight=weight)
        fitted = candidate[model].fit(fit_part)
        lists = fitted.recommend(relevant["user_id"].unique().tolist(), k=k)
        score = float(score_users(lists, relevant, k=k)["ndcg_at_k_score"].mean())
        trials.append({**values, "ndcg_at_k_score": score, "seconds": time.perf_counter() - began})
        if time.perf_counter() - started >= budget_seconds:
            break
    table = pd.DataFrame(trials)
    best = int(table["ndcg_at_k_score"].to_numpy().argmax())
    chosen = {**fixed, **tried[best]}
    return Tuning(
        model=model,
        params=chosen,
        score=float(table["ndcg_at_k_score"].iloc[best]),
        trials=table,
        tried=len(trials),
        grid=len(grid),
        seconds=time.perf_counter() - started,
        budget_seconds=float(budget_seconds),
        validation_ratio=float(validation_ratio),
        k=int(k),
    )


def _grid(
    model: str, space: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every combination of the space's values, each a dict; one empty dict for no space."""
    from workbench.recommend.comparison import check_model_params

    check_model_params(model, {**space, **fixed})
    both = sorted(set(space) & set(fixed))
    if both:
        raise InvalidArgument(
            f"{', '.join(both)} is both searched (space) and fixed; give it in one of them."
        )
    for name, values in space.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise InvalidArgument(
                f"space[{name!r}] must be a list of candidate values, e.g. [{values!r}]; "
                f"got {values!r}."
            )
    empty = [name for name, values in space.items() if len(values) == 0]
    if empty:
        raise InvalidArgument(f"The search space gives no value for {', '.join(empty)}.")
    names = list(space)
    return [
        dict(zip(names, combination, strict=True))
        for combination in itertools.product(*(list(space[name]) for name in names))
    ]


def tune_models(
    names: str | Sequence[str],
    train: Any,
    *,
    budget_seconds: float = 60.0,
    validation_ratio: float = 0.25,
    k: int = 10,
    seed: int = 0,
) -> dict[str, Tuning]:
    """:func:`tune_model` for each named model, the same split and budget each.

    A blend is tuned last, over its default bases (``ease`` and ``als``) with the values
    their own tuning chose; bases it needs that were not named are tuned for it.

    Returns
    -------
    dict
        Short name -> :class:`Tuning`, in the order of ``names``.
    """
    from workbench.recommend import BlendRecommender
    from workbench.recommend.comparison import model_names

    names = model_names(names)
    options = {"budget_seconds": budget_seconds, "validation_ratio": validation_ratio}
    options |= {"k": k, "seed": seed}
    bases = model_names(BlendRecommender().models) if "blend" in names else []
    tuned = {name: tune_model(name, train, **options) for name in names if name != "blend"}
    for base in bases:
        if base not in tuned:
            tuned[base] = tune_model(base, train, **options)
    if "blend" in names:
        fixed = {"models": ",".join(bases), "params": {b: tuned[b].params for b in bases}}
        tuned["blend"] = tune_model("blend", train, fixed=fixed, **options)
    return {name: tuned[name] for name in names}
