"""Bootstrap confidence intervals for metrics that are means over users."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exceptions import InvalidArgument

__all__ = ["bootstrap_interval", "resampled_ratios"]

# Resample counts are built in blocks of at most this many cells (8 bytes each),
# so memory stays bounded however many users and resamples there are.
_BLOCK_CELLS = 1 << 22


def bootstrap_interval(
    values: Any,
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> tuple[Any, Any]:
    """Percentile bootstrap interval for the mean of per-user metric values.

    Users (rows) are drawn with replacement ``n_resamples`` times; each
    resample's mean is computed, and the interval runs from the
    ``(1 - confidence) / 2`` to the ``(1 + confidence) / 2`` quantile of those
    means. With a 2-D ``values`` every column (metric) uses the same
    resampled users, so intervals of several metrics, or of several models
    scored on the same users in the same order, come from paired draws.
    NaN marks a user without a value for that metric: it is left out of
    each resample's mean, as it is left out of the point estimate
    (``numpy.nanmean``).

    The same ``values``, ``seed`` and settings always give the same interval.
    Vectorized: each block of resamples is one matrix product of resample
    counts with the values.

    Parameters
    ----------
    values : array-like, shape (n_users,) or (n_users, n_metrics)
        Per-user metric values, e.g. columns of :func:`score_users`.
    confidence : float, default 0.95
        Coverage of the interval, in (0, 1).
    n_resamples : int, default 1000
        Number of bootstrap resamples.
    seed : int or None, default 0
        Seed of :func:`numpy.random.default_rng`; None draws fresh entropy.

    Returns
    -------
    (low, high)
        Floats for 1-D ``values``; arrays of length ``n_metrics`` for 2-D.
        NaN for a metric without any value.

    Examples
    --------
    >>> low, high = bootstrap_interval([0.0, 0.5, 1.0, 0.5, 0.25, 0.75], seed=7)
    >>> bool(low < 0.5 < high)
    True
    >>> (low, high) == bootstrap_interval([0.0, 0.5, 1.0, 0.5, 0.25, 0.75], seed=7)
    True
    """
    array = np.asarray(values, dtype=float)
    one_dimensional = array.ndim == 1
    if one_dimensional:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise InvalidArgument(
            f"values must be a non-empty 1-D or 2-D array of per-user values, "
            f"got shape {np.shape(values)}."
        )
    if not 0 < confidence < 1:
        raise InvalidArgument(f"confidence must be in (0, 1), got {confidence!r}.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise InvalidArgument(f"n_resamples must be a positive integer, got {n_resamples!r}.")

    n_metrics = array.shape[1]
    present = ~np.isnan(array)
    means = resampled_ratios(
        np.where(present, array, 0.0), present.astype(float), n_resamples=n_resamples, seed=seed
    )

    tail = (1.0 - confidence) / 2.0
    low = np.full(n_metrics, np.nan)
    high = np.full(n_metrics, np.nan)
    some = present.any(axis=0)
    if some.any():
        low[some], high[some] = np.nanquantile(means[:, some], [tail, 1.0 - tail], axis=0)
    if one_dimensional:
        return float(low[0]), float(high[0])
    return low, high


def resampled_ratios(
    numerators: np.ndarray, denominators: np.ndarray, *, n_resamples: int, seed: int | None
) -> np.ndarray:
    """``sum(numerator) / sum(denominator)`` over units drawn with replacement, per resample.

    The one bootstrap kernel of the workbench: a metric's mean over users (numerator the
    value, denominator 1 where it is known) and an off-policy estimate over clusters
    (numerator the weighted rewards, denominator the weights) both resample through it.

    Parameters
    ----------
    numerators, denominators : array, shape (n_units,) or (n_units, n_columns)
        One row per resampled unit; columns share the drawn units (paired draws).
    n_resamples : int
    seed : int or None
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    numpy.ndarray, shape (n_resamples,) or (n_resamples, n_columns)
        NaN where a resample's denominator is 0.
    """
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    flat = num.ndim == 1
    if flat:
        num, den = num[:, None], den[:, None]
    n_units = num.shape[0]
    rng = np.random.default_rng(seed)
    ratios = np.empty((n_resamples, num.shape[1]))
    # Each block of resamples is one matrix product of resample counts with the units.
    block = max(1, _BLOCK_CELLS // n_units)
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        drawn = rng.integers(0, n_units, size=(size, n_units))
        offsets = np.arange(size)[:, None] * n_units
        counts = np.bincount((drawn + offsets).ravel(), minlength=size * n_units)
        counts = counts.reshape(size, n_units).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios[start : start + size] = (counts @ num) / (counts @ den)
    return ratios[:, 0] if flat else ratios
