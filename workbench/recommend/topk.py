"""Exact top-k selection of score rows, shared by ``recommend`` and batch precompute.

``numpy.argpartition`` alone keeps an arbitrary subset of the items that tie for
the last places; users notice when the same call returns different lists, so
ties are broken by column (item) order, everywhere.
"""

from __future__ import annotations

import numpy as np

__all__ = ["top_k"]


def top_k(scores: np.ndarray, k: int, *, group: int = 64) -> tuple[np.ndarray, ...]:
    """Row, column, rank and score of each row's ``k`` best finite scores, exactly.

    Best first; equal scores rank in column order, and when several items tie
    for the last places, the ones with the lowest column numbers are kept.
    Columns are cut into groups of ``group``: a row's top ``k`` lie in the
    groups whose maximum is at least the ``k``-th largest group maximum, so
    only those are searched (rows where more than ``k`` groups reach that
    bound are searched whole).
    """
    n_rows, n_columns = scores.shape
    n_groups = -(-n_columns // group)
    if n_groups <= 2 * k:
        return _select(scores, np.broadcast_to(np.arange(n_columns), scores.shape), k)
    padded = scores
    if n_columns % group:
        padded = np.full((n_rows, n_groups * group), -np.inf, dtype=scores.dtype)
        padded[:, :n_columns] = scores
    maxima = padded.reshape(n_rows, n_groups, group).max(axis=2)
    best_groups = np.argpartition(maxima, n_groups - k, axis=1)[:, n_groups - k :]
    bound = np.take_along_axis(maxima, best_groups, axis=1).min(axis=1)
    whole = ((maxima >= bound[:, None]).sum(axis=1) > k) | ~np.isfinite(bound)
    best_groups.sort(axis=1)
    columns = (best_groups[:, :, None] * group + np.arange(group)).reshape(n_rows, k * group)
    row, column, rank, score = _select(np.take_along_axis(padded, columns, axis=1), columns, k)
    if whole.any():
        tied = np.flatnonzero(whole)
        keep = ~whole[row]
        whole_rows = _select(
            scores[tied], np.broadcast_to(np.arange(n_columns), (tied.size, n_columns)), k
        )
        row = np.concatenate([row[keep], tied[whole_rows[0]]])
        column = np.concatenate([column[keep], whole_rows[1]])
        rank = np.concatenate([rank[keep], whole_rows[2]])
        score = np.concatenate([score[keep], whole_rows[3]])
        order = np.lexsort((rank, row))
        row, column, rank, score = row[order], column[order], rank[order], score[order]
    return row, column, rank, score


def _select(values: np.ndarray, columns: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Top ``k`` finite ``values`` of each row; ``columns`` (ascending per row) name them."""
    n_rows, width = values.shape
    k = min(k, width)
    if n_rows == 0:
        return tuple(
            np.empty(0, dtype=dtype) for dtype in (np.intp, np.intp, np.int64, values.dtype)
        )
    kth = np.partition(values, width - k, axis=1)[:, width - k][:, None]
    above = values > kth
    # Of the values equal to the k-th largest, keep the first ones (lowest columns).
    needed = k - above.sum(axis=1, keepdims=True)
    at_kth = values == kth
    chosen = (above | (at_kth & (np.cumsum(at_kth, axis=1) <= needed))) & np.isfinite(values)
    row, position = np.nonzero(chosen)
    score = values[row, position]
    column = columns[row, position]
    # Row by row, best first; np.nonzero gave ascending columns, and lexsort is stable.
    order = np.lexsort((-score, row))
    row, column, score = row[order], column[order], score[order]
    starts = np.searchsorted(row, np.arange(n_rows))
    rank = np.arange(row.size) - starts[row] + 1
    return row, column, rank.astype(np.int64), score
