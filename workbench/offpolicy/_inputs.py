"""Reading and checking the logs an estimate is made from."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.exceptions import InvalidArgument
from workbench.tables import to_frame

if TYPE_CHECKING:
    import pandas as pd


def _as_frame(logs: Any) -> pd.DataFrame:
    logs = to_frame(logs, name="logs")
    missing = [c for c in ("item_id", "propensity", "reward") if c not in logs.columns]
    if missing:
        raise InvalidArgument(
            f"The logs lack column(s) {missing} (columns: {list(logs.columns)}). Read them "
            "with logged_deliveries(store), which joins rewards from events."
        )
    if logs.empty:
        raise InvalidArgument("The logs have no rows: there is nothing to estimate from.")
    return logs.reset_index(drop=True)


def _probabilities(frame: pd.DataFrame, column: str, *, low_open: bool) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    low_ok = values > 0 if low_open else values >= 0
    bad = ~(low_ok & (values <= 1))
    if bad.any():
        bound = "(0, 1]" if low_open else "[0, 1]"
        raise InvalidArgument(
            f"{int(bad.sum())} row(s) have a {column!r} that is missing or outside {bound} "
            f"(first: {frame[column][bad].iloc[0]!r}, row {int(np.flatnonzero(bad)[0])}). "
            "Fix or drop them; an estimate over the others would not be the policy's value."
        )
    return values


def _rewards(frame: pd.DataFrame) -> np.ndarray:
    import pandas as pd

    rewards = pd.to_numeric(frame["reward"], errors="coerce").to_numpy(dtype=np.float64)
    missing = ~np.isfinite(rewards)
    if missing.any():
        raise InvalidArgument(
            f"{int(missing.sum())} row(s) have no (finite) reward. Join rewards from events "
            "with logged_deliveries(store, event_types=...), or drop those rows."
        )
    return rewards


#: Context keys a policy logs about its own slate (not about the user): left out of the
#: context a candidate policy is asked about, so rows of one user share one context.
BOOKKEEPING_KEYS = ("slate_id", "propensity_method")


def _contexts(frame: pd.DataFrame) -> list[dict]:
    """Each row's context, with ``user_id`` and ``position`` as a policy object sees them."""
    raw = frame["context"] if "context" in frame.columns else [None] * len(frame)
    contexts = []
    for i, value in enumerate(raw):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            context: dict = {}
        elif isinstance(value, Mapping):
            context = dict(value)
        else:
            try:
                context = json.loads(value)
            except (TypeError, ValueError) as error:
                raise InvalidArgument(f"context of row {i} is not JSON: {value!r}.") from error
            if not isinstance(context, dict):
                raise InvalidArgument(f"context of row {i} is not a JSON object: {value!r}.")
        for key in BOOKKEEPING_KEYS:
            context.pop(key, None)
        contexts.append(context)
    for column in ("user_id", "position"):
        if column in frame.columns:
            for context, value in zip(contexts, frame[column], strict=True):
                context[column] = value.item() if hasattr(value, "item") else value
    return contexts


def _flatten(frame: pd.DataFrame, contexts: list[dict]) -> pd.DataFrame:
    """The logs with context keys as extra columns (a column of the same name wins)."""
    import pandas as pd

    extra = pd.DataFrame.from_records(contexts, index=frame.index)
    extra = extra[[c for c in extra.columns if c not in frame.columns]]
    return pd.concat([frame, extra], axis=1)


def _target_column(frame: pd.DataFrame, target: Any, asked: _Candidate | None) -> np.ndarray:
    """The candidate's probability of each logged item, from a column or a policy object."""
    if asked is None:
        if target not in frame.columns:
            raise InvalidArgument(
                f"target {target!r} is not a column of the logs (columns: {list(frame.columns)}); "
                "give the candidate's probability of each logged item, or a policy object."
            )
        return _probabilities(frame, target, low_open=False)
    return np.array(
        [asked.probability(c, str(i)) for c, i in zip(asked.codes, frame["item_id"], strict=True)]
    )


class _Candidate:
    """A candidate policy object, asked once per distinct (context, item) of the logs."""

    def __init__(self, policy: Any, contexts: list[dict]) -> None:
        import pandas as pd

        if not callable(getattr(policy, "probability", None)):
            raise InvalidArgument(
                "target must be a column name or an object with probability(context, item), "
                f"got {type(policy).__name__}."
            )
        self.policy = policy
        keys = pd.Series([json.dumps(c, sort_keys=True, default=str) for c in contexts])
        self.codes, _ = pd.factorize(keys)
        first = pd.Series(np.arange(len(self.codes))).groupby(self.codes).first().to_numpy()
        self.unique = [contexts[i] for i in first]
        self._cache: dict[tuple[int, str], float] = {}

    def probability(self, code: int, item: str) -> float:
        key = (int(code), item)
        if key not in self._cache:
            value = float(self.policy.probability(dict(self.unique[code]), item))
            if not 0.0 <= value <= 1.0:
                raise InvalidArgument(
                    f"The candidate policy gave probability {value!r} for item {item!r} in "
                    f"context {self.unique[code]}; probabilities must be in [0, 1]."
                )
            self._cache[key] = value
        return self._cache[key]
