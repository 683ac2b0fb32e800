"""Delivery B, on the fly: score one user at call time with the aliased model.

The model behind a reference (``"als@champion"``) is loaded once per process and
kept until the alias moves. Whether it moved is checked only when the store
file changed since the last call (a ``stat``), so a steady stream of requests
never opens the store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.delivery.stored import (
    Retrieval,
    check_positive,
    count_fallback,
    default_model,
    fallback_items,
    store_state,
)
from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    from workbench.registry import ModelVersion
    from workbench.store import Store

__all__ = ["cached_model", "recommend_now"]


@dataclass
class _Loaded:
    state: tuple | None
    version: ModelVersion
    model: Any
    popular: tuple[np.ndarray, np.ndarray]


_LOADED = "loaded models"  # Store.memo name: model reference -> _Loaded
_lock = threading.Lock()


def cached_model(store: Store, model: str | None = None) -> tuple[Any, ModelVersion]:
    """The model a reference names, loaded once and reloaded only when the reference moves.

    Parameters
    ----------
    store : Store
    model : str, optional
        ``"name@alias"`` or ``"name@version"``; default the champion of the
        only model that has one.

    Returns
    -------
    (model, ModelVersion)
    """
    entry = _entry(store, model)
    return entry.model, entry.version


def _entry(store: Store, model: str | None) -> _Loaded:
    from workbench.registry import load_version, resolve

    ref = model if model is not None else default_model(store)
    memo = store.memo(_LOADED)
    state = store_state(store)
    with _lock:
        entry = memo.get(ref)
    if entry is not None and state is not None and entry.state == state:
        return entry
    version = resolve(store, ref)
    if entry is not None and entry.version == version:
        entry.state = state
        return entry
    fitted = load_version(store, version)
    with store.reading() as raw:
        # The same fallback as the version's stored lists.
        popular = count_fallback(raw, version.name, version.version)
    entry = _Loaded(state, version, fitted, popular)
    with _lock:
        memo[ref] = entry
    return entry


def recommend_now(
    store: Store,
    user_id: str,
    *,
    context: Mapping[str, Any] | None = None,
    k: int = 10,
    model: str | None = None,
) -> Retrieval:
    """Score one user now with the aliased model (delivery B).

    Parameters
    ----------
    store : Store
    user_id : str
    context : mapping, optional
        What is known about this request. ``"exclude"`` (a list of item ids)
        keeps those items out of the answer (already in the basket, just
        shown); the whole context is returned with the answer, for logging.
    k : int
        Items wanted, >= 1.
    model : str, optional
        ``"name@alias"`` or ``"name@version"``; default the champion of the
        only model that has one.

    Returns
    -------
    Retrieval
        ``source="model"`` when the model knows the user, else
        ``"popularity"``: the same fallback as the version's stored lists (the most
        popular items in its scope, counted with its feedback semantics).
    """
    check_positive("k", k)
    if not isinstance(user_id, str):
        raise InvalidArgument(f"user_id must be text (ids are strings), got {user_id!r}.")
    if context is not None and not isinstance(context, Mapping):
        raise InvalidArgument(f"context must be a mapping (a dict), got {type(context).__name__}.")
    context = dict(context) if context is not None else None
    exclude = _excluded(context)
    entry = _entry(store, model)
    lists = entry.model.recommend([user_id], k=k + len(exclude), exclude_seen=True)
    if not lists.empty:
        lists = lists.assign(item_id=lists["item_id"].astype(str))
        if exclude:
            lists = lists[~lists["item_id"].isin(exclude)]
        items = lists.head(k)[["item_id", "score"]].reset_index(drop=True)
        items.insert(1, "rank", np.arange(1, len(items) + 1, dtype=np.int32))
        return Retrieval(user_id, items, "model", entry.version.ref, "scored now", None, context)
    return Retrieval(
        user_id,
        fallback_items(*entry.popular, k=k, exclude=exclude),
        "popularity",
        entry.version.ref,
        f"{entry.version.ref} does not know this user",
        None,
        context,
    )


def _excluded(context: dict[str, Any] | None) -> set[str]:
    if not context or context.get("exclude") is None:
        return set()
    exclude = context["exclude"]
    if isinstance(exclude, str) or not all(isinstance(item, str) for item in exclude):
        raise InvalidArgument(
            f"context['exclude'] must be a list of item ids (text), got {exclude!r}."
        )
    return set(exclude)
