"""Turning the inputs of the evaluation functions into arrays (private helpers).

Ranked lists become a padded matrix of item codes, one row per user and one
column per position, with ``-1`` past the end of a short list. Every metric is
then a few numpy operations on that matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.exceptions import InvalidArgument
from workbench.tables import to_frame

USER = "user_id"
ITEM = "item_id"
RANK = "rank"
POSITION = "position"


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, name: str) -> None:
    """Raise when ``frame`` lacks any of ``columns``."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InvalidArgument(
            f"{name} has no column {', '.join(map(repr, missing))} "
            f"(it has {', '.join(map(repr, frame.columns))}); rename the columns or pass "
            "the right table."
        )
    for column in columns:
        if frame[column].isna().any():
            raise InvalidArgument(f"{name}[{column!r}] has missing values; drop those rows first.")


def check_k(k: Any) -> int:
    """Return ``k`` as an int, or raise when it is not a positive integer."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidArgument(f"k must be a positive integer, got {k!r}.")
    return int(k)


def _long_frame(mapping: Mapping[Any, Any], *, name: str) -> pd.DataFrame:
    """{user: items} -> DataFrame[user_id, item_id, position] (position 1-based, in list order)."""
    users = list(mapping.keys())
    lists = []
    for user in users:
        items = mapping[user]
        if isinstance(items, str | bytes):
            raise InvalidArgument(
                f"{name}[{user!r}] is the string {items!r}; pass a list or set of item ids."
            )
        lists.append(list(items))
    lengths = np.array([len(items) for items in lists], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    items = pd.Series([item for items in lists for item in items], dtype=object)
    return pd.DataFrame(
        {
            USER: pd.Series(np.repeat(np.array(users, dtype=object), lengths), dtype=object),
            ITEM: items,
            POSITION: np.arange(lengths.sum()) - np.repeat(starts, lengths) + 1,
        }
    )


def ranked_frame(recommended: Any) -> pd.DataFrame:
    """Ranked lists as DataFrame[user_id, item_id, position], checked for repeated items.

    A DataFrame is ordered by ``rank`` within each user (ties keep their row
    order), and positions count 1, 2, ... whatever the rank values are.
    """
    if isinstance(recommended, Mapping):
        frame = _long_frame(recommended, name="recommended")
    else:
        frame = to_frame(recommended, name="recommended")
        require_columns(frame, (USER, ITEM, RANK), name="recommended")
        frame = frame[[USER, ITEM, RANK]].sort_values(RANK, kind="stable")
        frame = frame.assign(**{POSITION: frame.groupby(USER, sort=False).cumcount() + 1})
    repeated = frame.duplicated([USER, ITEM])
    if repeated.any():
        user, item = frame.loc[repeated, [USER, ITEM]].iloc[0]
        raise InvalidArgument(
            f"recommended lists item {item!r} more than once for user {user!r}; "
            "a ranked list holds each item once."
        )
    return frame[[USER, ITEM, POSITION]].reset_index(drop=True)


def relevant_frame(relevant: Any) -> pd.DataFrame:
    """Relevant items as DataFrame[user_id, item_id], one row per distinct pair."""
    if isinstance(relevant, Mapping):
        frame = _long_frame(relevant, name="relevant")
    else:
        frame = to_frame(relevant, name="relevant")
        require_columns(frame, (USER, ITEM), name="relevant")
    return frame[[USER, ITEM]].drop_duplicates().reset_index(drop=True)


def padded_lists(
    frame: pd.DataFrame, k: int, users: pd.Index | None = None
) -> tuple[pd.Index, np.ndarray, pd.Index]:
    """Top-``k`` lists as a matrix of item codes.

    Returns ``(users, codes, items)``: ``codes[u, p]`` is the position of the
    item at rank ``p + 1`` of ``users[u]`` in ``items``, or -1 past the end of
    the list. ``users`` defaults to every user with a list, in order of first
    appearance; users without a list get a row of -1.
    """
    if users is None:
        users = pd.Index(pd.unique(frame[USER]), name=USER)
    top = frame[frame[POSITION] <= k]
    item_codes, items = pd.factorize(top[ITEM])
    rows = users.get_indexer(top[USER])
    known = rows >= 0
    codes = np.full((len(users), k), -1, dtype=np.int64)
    codes[rows[known], top[POSITION].to_numpy()[known] - 1] = item_codes[known]
    return users, codes, pd.Index(items, name=ITEM)


def _id_kind(values: Any) -> str:
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in {"integer", "floating", "mixed-integer-float", "decimal"}:
        return "number"
    return "string" if kind == "string" else kind


def _check_same_id_types(listed: pd.Series, users: pd.Index) -> None:
    """Raise when no user matches because ids differ in kind (1 vs "1"), not in value."""
    if listed.empty or (users.get_indexer(listed) >= 0).any():
        return
    kinds = {_id_kind(pd.unique(listed)), _id_kind(users)}
    if kinds == {"number", "string"}:
        raise InvalidArgument(
            "recommended and relevant share no user, and their user ids differ in type "
            f"(e.g. {listed.iloc[0]!r} and {users[0]!r}); convert one of them."
        )


def hit_matrix(
    lists: pd.DataFrame, truth: pd.DataFrame, k: int
) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """Which of each user's top-``k`` positions hold a relevant item.

    Takes the outputs of :func:`ranked_frame` and :func:`relevant_frame`.
    Returns ``(users, hits, n_relevant)`` over the users with at least one
    relevant item; ``hits`` is a boolean ``(n_users, k)`` matrix.
    """
    k = check_k(k)
    if truth.empty:
        raise InvalidArgument(
            "relevant holds no user with a relevant item, so there is nothing to average; "
            "check the test split and the relevance threshold."
        )
    users = pd.Index(pd.unique(truth[USER]), name=USER)
    _check_same_id_types(lists[USER], users)
    users, codes, items = padded_lists(lists, k, users)
    truth_rows = users.get_indexer(truth[USER])
    truth_codes = items.get_indexer(truth[ITEM])  # -1: never recommended, cannot be a hit
    n_items = len(items) + 1
    truth_keys = truth_rows[truth_codes >= 0] * n_items + truth_codes[truth_codes >= 0]
    list_keys = np.arange(len(users))[:, None] * n_items + codes
    hits = np.isin(list_keys, truth_keys) & (codes >= 0)
    n_relevant = np.bincount(truth_rows, minlength=len(users))
    return users, hits, n_relevant
