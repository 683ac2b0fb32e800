"""Reward models, and the reward predictions a doubly robust estimate needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.exceptions import InvalidArgument
from workbench.offpolicy._inputs import _Candidate, _probabilities

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MeanRewardModel"]


class MeanRewardModel:
    """Reward model: the mean reward of each group of ``keys``, shrunk toward the overall mean.

    ``predict`` gives ``(sum + smoothing * mean) / (count + smoothing)`` for the
    row's group, so a group seen rarely (or never) predicts close to the overall
    mean. It is the default reward model of doubly robust estimates.

    Parameters
    ----------
    keys : sequence of str
        Columns (or context keys) that define a group, e.g. ``("item_id",)`` or
        ``("segment", "item_id")``.
    smoothing : float
        Pseudo-count of the overall mean in each group, >= 0.
    """

    def __init__(self, keys: Sequence[str] = ("item_id",), *, smoothing: float = 1.0) -> None:
        self.keys = keys
        self.smoothing = smoothing

    def fit(self, frame: pd.DataFrame, rewards: np.ndarray) -> MeanRewardModel:
        """Learn the group means from ``frame`` (with the key columns) and its rewards."""
        keys = list(self.keys)
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise InvalidArgument(
                f"MeanRewardModel: keys {missing} are neither columns nor context keys of the "
                f"logs (columns: {sorted(frame.columns)})."
            )
        if not (isinstance(self.smoothing, int | float) and self.smoothing >= 0):
            raise InvalidArgument(f"smoothing must be a number >= 0, got {self.smoothing!r}.")
        grouped = frame[keys].astype(str).assign(__r=rewards).groupby(keys, sort=False)["__r"]
        self.mean_ = float(np.mean(rewards))
        self.groups_ = grouped.agg(["sum", "count"])
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted reward of each row of ``frame``."""
        import pandas as pd

        index = pd.MultiIndex.from_frame(frame[list(self.keys)].astype(str))
        groups = self.groups_.reindex(index if len(self.keys) > 1 else index.get_level_values(0))
        sums = groups["sum"].fillna(0.0).to_numpy(dtype=np.float64)
        counts = groups["count"].fillna(0.0).to_numpy(dtype=np.float64)
        return (sums + self.smoothing * self.mean_) / np.maximum(counts + self.smoothing, 1e-12)


def _reward_predictions(
    flat: pd.DataFrame,
    rewards: np.ndarray,
    asked: _Candidate | None,
    reward_model: Any,
    items: Sequence[str] | None,
    target_probabilities: pd.DataFrame | None,
    seed: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``q(x, logged item)`` and ``sum_a pi(a | x) q(x, a)`` for every row."""
    import pandas as pd

    distribution = _candidate_distribution(flat, asked, items, target_probabilities)
    # The rows of each (row, item) pair: the logged row with its item replaced.
    expanded = flat.iloc[distribution["row"].to_numpy()].reset_index(drop=True)
    expanded["item_id"] = distribution["item_id"].astype(str).to_numpy()
    logged_q = np.empty(len(flat))
    candidate_q = np.empty(len(expanded))
    if reward_model is None or _is_key_list(reward_model):
        keys = ("item_id",) if reward_model is None else tuple(reward_model)
        folds = np.random.default_rng(seed).integers(0, 2, len(flat))
        for fold in (0, 1):
            train = folds != fold
            if not train.any():
                train = np.ones(len(flat), dtype=bool)
            model = MeanRewardModel(keys).fit(flat[train], rewards[train])
            here = folds == fold
            logged_q[here] = model.predict(flat[here])
            at = here[distribution["row"].to_numpy()]
            candidate_q[at] = model.predict(expanded[at])
    elif callable(getattr(reward_model, "predict", None)):
        logged_q = np.asarray(reward_model.predict(flat), dtype=np.float64)
        candidate_q = np.asarray(reward_model.predict(expanded), dtype=np.float64)
    else:
        raise InvalidArgument(
            "reward_model must be None, a list of column names, or a fitted object with "
            f"predict(frame), got {type(reward_model).__name__}."
        )
    weighted = pd.Series(candidate_q * distribution["probability"].to_numpy(dtype=np.float64))
    expected_q = weighted.groupby(distribution["row"].to_numpy()).sum()
    return logged_q, expected_q.reindex(range(len(flat)), fill_value=0.0).to_numpy()


def _candidate_distribution(
    flat: pd.DataFrame,
    asked: _Candidate | None,
    items: Sequence[str] | None,
    target_probabilities: pd.DataFrame | None,
) -> pd.DataFrame:
    """``row, item_id, probability``: the candidate's distribution at every logged row."""
    import pandas as pd

    if target_probabilities is not None:
        missing = {"row", "item_id", "probability"} - set(target_probabilities.columns)
        if missing:
            raise InvalidArgument(
                f"target_probabilities lacks column(s) {sorted(missing)}; it needs one row per "
                "(logged row, item): row, item_id, probability."
            )
        rows = pd.to_numeric(target_probabilities["row"], errors="coerce")
        if rows.isna().any() or not rows.between(0, len(flat) - 1).all():
            raise InvalidArgument(
                f"target_probabilities.row must be row positions 0..{len(flat) - 1} of the logs."
            )
        _probabilities(target_probabilities, "probability", low_open=False)
        return target_probabilities.assign(row=rows.astype(np.int64))
    if asked is None:
        raise InvalidArgument(
            "A doubly robust estimate needs the candidate's probability of every item, not "
            "only of the logged one: give target_probabilities (row, item_id, probability), "
            "or the candidate as a policy object with items=."
        )
    catalog = [str(i) for i in (items if items is not None else pd.unique(flat["item_id"]))]
    table = np.array(
        [[asked.probability(code, item) for item in catalog] for code in range(len(asked.unique))]
    )
    return pd.DataFrame(
        {
            "row": np.repeat(np.arange(len(flat)), len(catalog)),
            "item_id": np.tile(np.array(catalog, dtype=object), len(flat)),
            "probability": table[asked.codes].ravel(),
        }
    )


def _is_key_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
