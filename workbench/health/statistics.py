"""Statistics of data health: PSI, the two-sample KS comparison, deterministic samples.

Pure functions of numbers (and, for sampling, of Ibis tables); nothing here knows
about the store, windows or thresholds.
"""

from __future__ import annotations

import numbers
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = ["compare_distributions", "population_stability_index"]

# A bin empty in one window would make the PSI infinite; it counts as this share instead.
_MIN_SHARE = 1e-4


def population_stability_index(reference: Any, recent: Any, *, bins: int = 10) -> float:
    """Population stability index of ``recent`` against ``reference``.

    Bins are cut at the quantiles of ``reference`` (deciles by default; repeated
    cut points, as in counts, merge), each bin ``[lower, upper)``. With ``p`` and
    ``q`` the shares of ``reference`` and ``recent`` in each bin (a share of 0
    counts as 1e-4),

        PSI = sum((q - p) * ln(q / p))

    0 means the same distribution; above 0.2 is usually called a significant shift.

    Parameters
    ----------
    reference, recent : array-like of float
        Finite values, at least one each.
    bins : int
        Number of quantile bins, >= 2.

    Returns
    -------
    float
        The index, >= 0.

    Raises
    ------
    InvalidArgument
        If a sample is empty or holds NaN or infinity, or ``bins`` < 2.

    Examples
    --------
    Two bins split at the reference median 5.5: the reference has half its values
    on each side, the recent sample 30% below and 70% above.

    >>> population_stability_index(range(1, 11), [1, 2, 3, 6, 7, 8, 9, 10, 11, 12], bins=2)
    0.169...
    >>> population_stability_index([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0])
    0.0
    """
    bins = _check_int("bins", bins, 2)
    reference = _finite_sample("reference", reference)
    recent = _finite_sample("recent", recent)
    cuts = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    expected = _bin_shares(reference, cuts)
    actual = _bin_shares(recent, cuts)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def compare_distributions(reference: Any, recent: Any, *, bins: int = 10) -> dict[str, float]:
    """PSI and two-sample Kolmogorov-Smirnov test of ``recent`` against ``reference``.

    Returns
    -------
    dict
        ``psi`` (:func:`population_stability_index`), ``ks_statistic`` and
        ``ks_pvalue`` (:func:`scipy.stats.ks_2samp`, two-sided).

    Examples
    --------
    >>> result = compare_distributions([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    >>> result["psi"], result["ks_pvalue"]
    (0.0, 1.0)
    """
    from scipy import stats

    psi = population_stability_index(reference, recent, bins=bins)
    ks = stats.ks_2samp(_finite_sample("reference", reference), _finite_sample("recent", recent))
    return {"psi": psi, "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue)}


def _bin_shares(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(cuts, values, side="right"), minlength=cuts.size + 1)
    return np.maximum(counts / values.size, _MIN_SHARE)


def _finite_sample(name: str, values: Any) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"{name} must be numbers, got {values!r:.80}: {error}") from error
    if array.size == 0:
        raise InvalidArgument(f"{name} is empty; a distribution needs at least one value.")
    if not np.isfinite(array).all():
        raise InvalidArgument(f"{name} holds NaN or infinity; drop them first.")
    return array


def _content_ordered(table: ir.Table, time: str) -> ir.Table:
    """``table`` plus ``_wb_time`` (column ``time`` as a timestamp) and ``_wb_order``."""
    import ibis

    # A hash of every value orders the rows: a deterministic sample, not the first rows.
    content = [table[c].cast("string").fill_null("\N{EMPTY SET}") for c in table.columns]
    return table.mutate(
        _wb_time=table[time].cast("timestamp"),
        _wb_order=ibis.literal("|").join(content).hash(),
    )


def _deterministic_sample(
    ordered: ir.Table, columns: list[str], start: datetime, end: datetime, size: int
) -> pd.DataFrame:
    """``columns`` of at most ``size`` rows of ``ordered`` in ``[start, end)``, by hash."""
    window = ordered.filter((ordered["_wb_time"] >= start) & (ordered["_wb_time"] < end))
    return window.order_by("_wb_order").limit(size).select(*columns).execute()


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)
