"""What every policy shares: the slate, propensities from exact marginals or Monte Carlo."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.delivery.policies.log import log_slates
from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

    from workbench.store import Store

USER, ITEM, SCORE = "user_id", "item_id", "score"

#: Slates drawn to estimate propensities that have no closed form.
DEFAULT_PROPENSITY_DRAWS = 10_000

#: Marginal tables a policy keeps, one per distinct candidate state and slate length.
_CACHED_STATES = 1_024


@dataclass(frozen=True)
class Slate:
    """One slate shown to one user: the items in order and how likely each was.

    Attributes
    ----------
    user_id
        Whom it was shown to.
    items
        Item ids, first slot first.
    propensities
        For each item, the probability that the policy shows it at that position
        in this context (see the module documentation).
    policy
        The policy's name with its parameters, e.g. ``"softmax(temperature=0.5)"``.
    propensity_method
        ``"exact"``, or ``"monte_carlo(M)"`` for estimates from ``M`` draws
        (``"exact+monte_carlo(M)"`` when the first position is exact).
    context
        The context the slate was made for (as given).
    model
        The model reference that scored the candidates (``"name@version"``), if any.
    slate_id
        Shared by every logged row of this slate.
    ts
        When the slate was made (UTC).
    """

    user_id: str
    items: tuple[str, ...]
    propensities: tuple[float, ...]
    policy: str
    propensity_method: str
    context: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    slate_id: str = ""
    ts: datetime | None = None

    @property
    def positions(self) -> tuple[int, ...]:
        """1-based position of each item."""
        return tuple(range(1, len(self.items) + 1))

    def to_frame(self) -> pd.DataFrame:
        """The slate as rows of ``user_id, position, item_id, propensity``."""
        import pandas as pd

        return pd.DataFrame(
            {
                USER: [self.user_id] * len(self.items),
                "position": list(self.positions),
                ITEM: list(self.items),
                "propensity": list(self.propensities),
            }
        )


ScoreSource = Any
"""A fitted recommender (``recommend``), a DataFrame of ``[user_id,] item_id, score``,
or a callable ``(user_id, context) -> Series of scores indexed by item id``."""


class _SlatePolicy(ABC):
    """What every policy shares: candidates, sampling, propensities, logging."""

    seed: int | None
    model: Any
    n_propensity_draws: int

    @property
    @abstractmethod
    def name(self) -> str:
        """The policy and its parameters, as logged in ``deliveries.policy``."""

    @abstractmethod
    def _candidates(self, user_id: str, context: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
        """The candidate item ids and whatever :meth:`_sample` needs about them."""

    @abstractmethod
    def _sample(self, state: Any, k: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` slates of ``k`` candidate indices each, shape ``(size, k)``."""

    def _exact_marginals(self, state: Any, n: int, k: int) -> np.ndarray | None:
        """Exact ``P(candidate i at position j)``, shape ``(n, k)``; NaN columns are estimated."""
        return None

    @property
    def _rng(self) -> np.random.Generator:
        rng = self.__dict__.get("_generator")
        if rng is None:
            rng = self._generator = np.random.default_rng(self.seed)
        return rng

    def marginals(
        self, user_id: str, *, k: int = 10, context: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """``P(item at position)`` for every candidate and position 1..k.

        Returns
        -------
        pandas.DataFrame
            One row per candidate item (the index), one column per position
            (1..k). Exact where the policy has a closed form, else the share of
            ``n_propensity_draws`` Monte Carlo slates.
        """
        import pandas as pd

        context = _check_context(context)
        k = _check_k(k)
        items, state = self._candidates(str(user_id), context)
        table = self._marginal_table(state, len(items), min(k, len(items)), self._rng)[0]
        return pd.DataFrame(
            table, index=pd.Index(items, name=ITEM), columns=range(1, k + 1)[: table.shape[1]]
        )

    def probability(self, context: Mapping[str, Any], item: str) -> float:
        """Probability that the policy shows ``item`` at ``context["position"]`` (default 1).

        ``context`` must hold ``user_id``; ``k`` (default: the position) sets the
        slate length. This is the interface :mod:`workbench.offpolicy` uses for a
        candidate policy.
        """
        context = _check_context(context)
        if USER not in context:
            raise InvalidArgument(
                f"{type(self).__name__}.probability needs context['user_id'] to score "
                f"candidates; got keys {sorted(context)}."
            )
        position = int(context.get("position", 1))
        k = int(context.get("k", position))
        if position < 1 or k < position:
            raise InvalidArgument(
                f"position must be between 1 and k, got position={position}, k={k}."
            )
        table = self.marginals(str(context[USER]), k=k, context=context)
        if item not in table.index or position not in table.columns:
            return 0.0
        return float(table.at[item, position])

    def slate(
        self, user_id: str, *, k: int = 10, context: Mapping[str, Any] | None = None
    ) -> Slate:
        """Draw a slate of up to ``k`` items for ``user_id``, with each item's propensity.

        A user gets fewer than ``k`` items only when there are fewer candidates.
        """
        context = _check_context(context)
        k = _check_k(k)
        user_id = str(user_id)
        items, state = self._candidates(user_id, context)
        k = min(k, len(items))
        rng = self._rng
        shown = self._sample(state, k, 1, rng)[0]
        table, method, counts = self._marginal_table(state, len(items), k, rng)
        at = np.arange(k)
        propensity = table[shown, at]
        if counts is not None:
            # Monte Carlo positions: the shown slate is one more draw, so never zero.
            estimated = ~np.isnan(counts[shown, at])
            draws = float(self.n_propensity_draws)
            propensity = np.where(estimated, (counts[shown, at] + 1.0) / (draws + 1.0), propensity)
        return Slate(
            user_id=user_id,
            items=tuple(str(i) for i in items[shown]),
            propensities=tuple(float(p) for p in propensity),
            policy=self.name,
            propensity_method=method,
            context=dict(context),
            model=_model_ref(self.model),
            slate_id=uuid.uuid4().hex,
            ts=datetime.now(UTC).replace(tzinfo=None),
        )

    def deliver(
        self,
        store: Store,
        user_id: str,
        *,
        k: int = 10,
        context: Mapping[str, Any] | None = None,
        experiment: str | None = None,
        variant: str | None = None,
    ) -> Slate:
        """Draw a slate for ``user_id`` and log every shown item to ``deliveries``."""
        shown = self.slate(user_id, k=k, context=context)
        log_slates(store, [shown], experiment=experiment, variant=variant)
        return shown

    # -- propensity machinery ----------------------------------------------------------

    def _marginal_table(
        self, state: Any, n: int, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, str, np.ndarray | None]:
        """The ``(n, k)`` marginals, how they were computed, and the Monte Carlo counts.

        Counts are NaN at exact positions. Results are cached per distinct state and
        ``k``, so a policy serving many users with the same scores (or posterior)
        draws its Monte Carlo slates once.
        """
        draws = int(self.n_propensity_draws)
        key = (_digest(state), n, k, draws)
        cache = self.__dict__.setdefault("_marginal_cache", OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        exact = self._exact_marginals(state, n, k)
        if exact is not None and not np.isnan(exact).any():
            found: tuple = (exact, "exact", None)
        else:
            sampled = self._sample(state, k, draws, rng)
            counts = np.zeros((n, k))
            for position in range(k):
                counts[:, position] = np.bincount(sampled[:, position], minlength=n)
            table = counts / draws
            if exact is None:
                found = (table, f"monte_carlo({draws})", counts)
            else:
                known = ~np.isnan(exact).any(axis=0)
                table[:, known] = exact[:, known]
                counts[:, known] = np.nan
                found = (table, f"exact+monte_carlo({draws})", counts)
        cache[key] = found
        if len(cache) > _CACHED_STATES:
            cache.popitem(last=False)
        return found


def _digest(state: Any) -> str:
    """A fingerprint of a policy's candidate state (scores, or posterior parameters)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in state if isinstance(state, tuple) else (state,):
        digest.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


def _model_ref(model: Any) -> str | None:
    """A model given as ``"name@version"`` text or as an object with ``name`` and ``version``."""
    if model is None:
        return None
    if isinstance(model, str):
        if "@" not in model:
            raise InvalidArgument(
                f"model must be a reference like 'name@3' or 'name@champion', got {model!r}."
            )
        return model
    if hasattr(model, "name") and hasattr(model, "version"):
        return f"{model.name}@{model.version}"
    raise InvalidArgument(
        f"model must be 'name@version' or a registered ModelVersion, got {type(model).__name__}."
    )


def _top_k_columns(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` largest keys, largest first."""
    n = keys.shape[1]
    if k < n:
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(n), keys.shape)
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


# -- argument checks ----------------------------------------------------------------------


def _check_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise InvalidArgument(f"context must be a mapping of names to values, got {context!r}.")
    return dict(context)


def _as_dict(value: Any, *, where: str) -> dict:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError as error:
            raise InvalidArgument(f"{where} {value[:60]!r} is not JSON.") from error
        if isinstance(parsed, dict):
            return parsed
    raise InvalidArgument(f"{where} must be a JSON object or a dict, got {value!r}.")


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise InvalidArgument(f"k must be an integer >= 1, got {k!r}.")
    return int(k)


def _check_int(owner: Any, name: str, value: Any, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise InvalidArgument(
            f"{type(owner).__name__}: {name} must be an integer >= {low}, got {value!r}."
        )


def _check_real(
    owner: Any,
    name: str,
    value: Any,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        if high is not None:
            bound += f" and <= {high:g}"
        raise InvalidArgument(
            f"{type(owner).__name__}: {name} must be a number {bound}, got {value!r}."
        )
