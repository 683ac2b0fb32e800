"""Always-valid inference: confidence sequences that may be looked at every day.

A fixed-horizon 95% interval covers the truth 95% of the time *at one
pre-planned look*; recomputed daily and acted on the first time it excludes
zero, it is wrong far more often (peeking). A confidence sequence covers the
truth at every look simultaneously with probability ``1 - alpha``.

The sequence used here is the normal-mixture (mixture sequential probability
ratio test) boundary of Robbins, in the form of Johari, Koomen, Pekelis and
Walsh, "Always valid inference: continuous monitoring of A/B tests" (Operations
Research, 2022), and Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform,
nonparametric, nonasymptotic confidence sequences" (Annals of Statistics, 2021,
eq. 14). For an estimate ``theta_hat`` that is approximately
``N(theta, V)``, with ``V`` the variance of the estimate at the current look, and
a normal mixing distribution ``N(0, tau^2)`` over the effect, the likelihood
ratio is

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (theta_hat - theta)^2 / (2 V (V + tau^2)))

and ``{theta : Lambda < 1 / alpha}`` is the confidence sequence:

    theta_hat +/- sqrt( 2 V (V + tau^2) / tau^2 * log( sqrt((V + tau^2) / V) / alpha ) ).

The always-valid p-value is ``min(1, min over looks so far of 1 / Lambda(theta=0))``.
With ``V`` estimated from the data the guarantee is asymptotic, as in
Waudby-Smith et al., "Time-uniform central limit theory and asymptotic
confidence sequences" (Annals of Statistics, 2024).

:func:`sequential_view` applies the sequence to an experiment's daily looks
(sums from :func:`~workbench.experiments.statistics.sequential_statistics`).

``tau^2`` sets where the sequence is tightest. It is chosen here as
``r(alpha) * V_final``, the value that minimizes the width at the last look;
it depends on the variance at that look only, never on the effect.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SEQUENTIAL_COLUMNS",
    "always_valid_p_values",
    "confidence_sequence_radius",
    "mixing_variance",
    "sequential_view",
]


@functools.cache
def _best_ratio(alpha: float) -> float:
    """The ``tau^2 / V`` that minimizes the radius at one look."""
    from scipy.optimize import minimize_scalar

    def squared_radius(log_ratio: float) -> float:
        ratio = np.exp(log_ratio)
        return (1.0 + ratio) / ratio * (0.5 * np.log1p(ratio) - np.log(alpha))

    return float(np.exp(minimize_scalar(squared_radius, bounds=(-10.0, 15.0), method="bounded").x))


def mixing_variance(final_variance: float | np.ndarray, *, alpha: float = 0.05) -> np.ndarray:
    """``tau^2`` that makes the sequence tightest where the estimate's variance is ``final_variance``."""
    _check_alpha(alpha)
    return _best_ratio(float(alpha)) * np.asarray(final_variance, dtype=float)


def confidence_sequence_radius(
    variance: float | np.ndarray, *, tau2: float | np.ndarray, alpha: float = 0.05
) -> np.ndarray:
    """Half-width of the normal-mixture confidence sequence at looks with ``variance``.

    Parameters
    ----------
    variance : float or array
        Variance of the estimate at each look (e.g. ``se**2``).
    tau2 : float or array
        Mixing variance (see :func:`mixing_variance`).
    alpha : float
        The sequence covers the truth at every look with probability ``1 - alpha``.

    Examples
    --------
    The sequence is wider than the fixed 95% interval (1.96 standard errors):

    >>> float(confidence_sequence_radius(1.0, tau2=mixing_variance(1.0))) > 1.96
    True
    """
    _check_alpha(alpha)
    v = np.asarray(variance, dtype=float)
    t2 = np.asarray(tau2, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(2.0 * v * (v + t2) / t2 * np.log(np.sqrt((v + t2) / v) / alpha))


def always_valid_p_values(
    estimates: np.ndarray, variances: np.ndarray, *, tau2: float | np.ndarray
) -> np.ndarray:
    """Always-valid p-values of "no effect" along successive looks (last axis = looks).

    ``p_k = min(1, min_{j <= k} 1 / Lambda_j)``: it never increases, and stopping
    the first time it drops below ``alpha`` keeps the false positive rate at ``alpha``.

    Examples
    --------
    >>> always_valid_p_values(np.array([0.0, 3.0, 1.0]), np.array([1.0, 1.0, 1.0]), tau2=1.0)
    array([1.        , 0.14905701, 0.14905701])
    """
    theta = np.asarray(estimates, dtype=float)
    v = np.asarray(variances, dtype=float)
    t2 = np.asarray(tau2, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        log_lambda = 0.5 * np.log(v / (v + t2)) + t2 * theta**2 / (2.0 * v * (v + t2))
        p = np.minimum(1.0, np.exp(-log_lambda))
    p = np.where(np.isnan(p), 1.0, p)
    return np.minimum.accumulate(p, axis=-1)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise InvalidArgument(f"alpha must be in (0, 1), got {alpha!r}.")


SEQUENTIAL_COLUMNS = [
    "metric", "variant", "method", "checkpoint", "n_control", "n_treatment", "lift",
    "lift_low", "lift_high", "cs_low", "cs_high", "difference", "difference_cs_low",
    "difference_cs_high", "always_valid_p_value",
]  # fmt: skip


def sequential_view(
    store,
    experiment,
    metric,
    control,
    method_of,
    *,
    alpha,
    max_looks,
    until,
    pre_days,
    covariate,
    exposure,
    scope=None,
) -> pd.DataFrame:
    """Daily looks of every treatment of one metric, with confidence sequences.

    ``method_of`` maps ``(metric name, treatment)`` to the analysis of
    :func:`~workbench.experiments.analysis.compare` used at every look; the
    other arguments are those of :func:`~workbench.experiments.statistics.sequential_statistics`.
    ``tau^2`` is fitted to the variance at the last look (see :func:`mixing_variance`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SEQUENTIAL_COLUMNS`: per look the lift with its fixed-horizon
        interval, the confidence sequence of the lift (``cs_low``, ``cs_high``)
        and of the difference, and the always-valid p-value of the difference.
    """
    import pandas as pd

    from workbench.experiments.analysis import compare
    from workbench.experiments.statistics import SUMS, sequential_statistics

    stats = sequential_statistics(
        store,
        experiment,
        metric,
        max_looks=max_looks,
        until=until,
        pre_days=pre_days,
        covariate=covariate,
        exposure=exposure,
        scope=scope,
    )
    wide = stats.pivot(index="checkpoint", columns="variant", values=list(SUMS)).fillna(0)
    frames = []
    for (name, variant), method in method_of.items():
        if name != metric.name or variant not in wide["n"] or control not in wide["n"]:
            continue
        enough = (wide["n"][variant] >= 2) & (wide["n"][control] >= 2)
        part = wide[enough]
        if part.empty:
            continue
        t = {key: part[key][variant].to_numpy() for key in SUMS}
        c = {key: part[key][control].to_numpy() for key in SUMS}
        r = compare(t, c, method=method, alpha=alpha)
        var_lift, var_diff = r["se_lift"] ** 2, r["se_difference"] ** 2
        tau_lift = mixing_variance(var_lift[-1], alpha=alpha)
        tau_diff = mixing_variance(var_diff[-1], alpha=alpha)
        radius_lift = confidence_sequence_radius(var_lift, tau2=tau_lift, alpha=alpha)
        radius_diff = confidence_sequence_radius(var_diff, tau2=tau_diff, alpha=alpha)
        frames.append(
            pd.DataFrame(
                {
                    "metric": metric.name,
                    "variant": variant,
                    "method": method,
                    "checkpoint": part.index,
                    "n_control": c["n"].astype(int),
                    "n_treatment": t["n"].astype(int),
                    "lift": r["lift"],
                    "lift_low": r["lift_low"],
                    "lift_high": r["lift_high"],
                    "cs_low": r["lift"] - radius_lift,
                    "cs_high": r["lift"] + radius_lift,
                    "difference": r["difference"],
                    "difference_cs_low": r["difference"] - radius_diff,
                    "difference_cs_high": r["difference"] + radius_diff,
                    "always_valid_p_value": always_valid_p_values(
                        r["difference"], var_diff, tau2=tau_diff
                    ),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
