"""A/B statistics from per-variant sums: Welch, two proportions, the delta method, CUPED, SRM.

Every function here takes the sums of :mod:`workbench.experiments.statistics`
(``n``, ``sum_y``, ``sum_yy``, ... per variant) and works elementwise on numpy
arrays, so the same code reads out one experiment or checks interval coverage
over thousands of simulated ones at once. Distributions and tests come from
scipy and statsmodels; what is written here is the algebra from sums to moments.

Methods, by metric kind:

- **means** (``count:``, ``sum:``): Welch's t-test and interval for the
  difference (unequal variances, Welch-Satterthwaite degrees of freedom), as
  ``scipy.stats.ttest_ind(equal_var=False)``.
- **proportions** (conversion): the Wald z-test and interval for the difference
  with unpooled variances ``p(1-p)/n``, as statsmodels'
  ``test_proportions_2indep(method="wald")``.
- **ratios** (``ratio:a/b``): the ratio of sums per variant, its variance by
  the delta method, ``Var(Y/D) ~ (s_y^2 - 2 R s_yd + R^2 s_d^2) / (n dbar^2)``,
  and a z-test and interval for the difference.
- **CUPED** (means and proportions with a pre-period covariate ``x``):
  ``y - theta (x - xbar)`` with ``theta = cov(x, y) / var(x)`` pooled over all
  units (Deng et al. 2013), then Welch's test on the adjusted values.

The relative lift ``m_t / m_c - 1`` has a normal interval from the delta method,
``Var ~ v_t / m_c^2 + m_t^2 v_c / m_c^4`` (``v`` the variance of each mean);
its p-value is that of the difference (both test ``m_t = m_c``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workbench.exceptions import ExperimentError, InvalidArgument

__all__ = [
    "METHODS",
    "adjust_p_values",
    "compare",
    "cuped_theta",
    "moments",
    "sample_ratio_test",
]

#: Analyses :func:`compare` knows.
METHODS = ("welch", "proportion", "ratio", "cuped")

#: Sample ratio mismatch is flagged below this chi-square p-value.
SRM_THRESHOLD = 0.001


def moments(sums: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Means, variances (ddof 1) and covariances from the sums of one variant.

    Returns
    -------
    dict
        ``n, mean_y, var_y, mean_d, var_d, cov_yd, mean_x, var_x, cov_xy`` as arrays.

    Examples
    --------
    Values 1, 2, 3 (``y``) with covariate 2, 4, 6 (``x``):

    >>> m = moments({"n": 3, "sum_y": 6, "sum_yy": 14, "sum_x": 12, "sum_xx": 56, "sum_xy": 28,
    ...              "sum_d": 0, "sum_dd": 0, "sum_yd": 0})
    >>> float(m["mean_y"]), float(m["var_y"]), float(m["cov_xy"])
    (2.0, 1.0, 2.0)
    """
    n = np.asarray(sums["n"], dtype=float)
    out = {"n": n}

    def mean(name):
        return np.asarray(sums[f"sum_{name}"], dtype=float) / n

    def co(a, b):
        # (sum ab - n mean_a mean_b) / (n - 1): the unbiased sample (co)variance
        cross = np.asarray(sums[f"sum_{a}{b}"], dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (cross - n * mean(a) * mean(b)) / (n - 1)

    for name in ("y", "d", "x"):
        out[f"mean_{name}"] = mean(name)
        out[f"var_{name}"] = np.maximum(co(name, name), 0.0)  # rounding can dip below 0
    out["cov_yd"] = co("y", "d")
    out["cov_xy"] = co("x", "y")
    return out


def cuped_theta(*variants: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """CUPED's ``theta = cov(x, y) / var(x)`` and the covariate mean, over all units pooled.

    Pooling every variant keeps ``theta`` free of the treatment effect on ``y``
    only approximately; that is the estimator of Deng et al. (2013), and its
    bias is of order 1/n. ``theta`` is 0 where ``x`` does not vary.
    """
    keys = ("n", "sum_y", "sum_yy", "sum_x", "sum_xx", "sum_xy", "sum_d", "sum_dd", "sum_yd")
    pooled = {k: sum(np.asarray(v[k], dtype=float) for v in variants) for k in keys}
    m = moments(pooled)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = np.where(m["var_x"] > 0, m["cov_xy"] / m["var_x"], 0.0)
    return theta, m["mean_x"]


def compare(
    treatment: Mapping[str, Any],
    control: Mapping[str, Any],
    *,
    method: str,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Compare a treatment with the control from their sums.

    Parameters
    ----------
    treatment, control : mapping
        Sums of each variant (:data:`~workbench.experiments.statistics.SUMS`);
        scalars or arrays of equal shape (one entry per simulated experiment).
    method : {"welch", "proportion", "ratio", "cuped"}
        See the module docstring.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    dict of arrays
        ``control_mean, treatment_mean, difference, difference_low,
        difference_high, lift, lift_low, lift_high, se_difference, se_lift,
        statistic, df, p_value``, plus for CUPED ``theta`` and
        ``variance_reduction`` (1 - adjusted over unadjusted variance of the
        difference). ``df`` is infinite for the z-tests. ``lift`` is NaN where
        the control mean is 0.

    Examples
    --------
    >>> a = {"n": 4, "sum_y": 10.0, "sum_yy": 30.0}
    >>> b = {"n": 4, "sum_y": 6.0, "sum_yy": 10.0}
    >>> r = compare(a, b, method="welch")
    >>> round(float(r["difference"]), 3), round(float(r["lift"]), 3)
    (1.0, 0.667)
    """
    from scipy import stats

    if method not in METHODS:
        raise InvalidArgument(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    if not 0 < alpha < 1:
        raise InvalidArgument(f"alpha must be in (0, 1), got {alpha!r}.")
    t, c = _complete(treatment), _complete(control)
    mt, mc = moments(t), moments(c)
    extra: dict[str, np.ndarray] = {}
    if method == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_t, mean_c = mt["mean_y"] / mt["mean_d"], mc["mean_y"] / mc["mean_d"]
            v_t = _ratio_variance(mt, mean_t)
            v_c = _ratio_variance(mc, mean_c)
    elif method == "proportion":
        mean_t, mean_c = mt["mean_y"], mc["mean_y"]
        v_t = mean_t * (1.0 - mean_t) / mt["n"]
        v_c = mean_c * (1.0 - mean_c) / mc["n"]
    else:
        mean_t, mean_c = mt["mean_y"], mc["mean_y"]
        v_t, v_c = mt["var_y"] / mt["n"], mc["var_y"] / mc["n"]
        if method == "cuped":
            theta, mean_x = cuped_theta(t, c)
            raw = v_t + v_c
            mean_t = mean_t - theta * (mt["mean_x"] - mean_x)
            mean_c = mean_c - theta * (mc["mean_x"] - mean_x)
            v_t = _adjusted_variance(mt, theta) / mt["n"]
            v_c = _adjusted_variance(mc, theta) / mc["n"]
            with np.errstate(invalid="ignore", divide="ignore"):
                extra = {"theta": theta, "variance_reduction": 1.0 - (v_t + v_c) / raw}
    difference = mean_t - mean_c
    se = np.sqrt(v_t + v_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = difference / se
        if method in ("welch", "cuped"):
            # Welch-Satterthwaite degrees of freedom
            df = (v_t + v_c) ** 2 / (v_t**2 / (mt["n"] - 1) + v_c**2 / (mc["n"] - 1))
            critical = stats.t.ppf(1.0 - alpha / 2.0, df)
            p_value = 2.0 * stats.t.sf(np.abs(statistic), df)
        else:
            df = np.full_like(difference, np.inf)
            critical = stats.norm.ppf(1.0 - alpha / 2.0)
            p_value = 2.0 * stats.norm.sf(np.abs(statistic))
        lift = mean_t / mean_c - 1.0
        se_lift = np.sqrt(v_t / mean_c**2 + mean_t**2 * v_c / mean_c**4)
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    return {
        "control_mean": mean_c,
        "treatment_mean": mean_t,
        "difference": difference,
        "difference_low": difference - critical * se,
        "difference_high": difference + critical * se,
        "se_difference": se,
        "statistic": statistic,
        "df": df,
        "p_value": p_value,
        "lift": lift,
        "lift_low": lift - z * se_lift,
        "lift_high": lift + z * se_lift,
        "se_lift": se_lift,
        **extra,
    }


def _complete(sums: Mapping[str, Any]) -> dict[str, Any]:
    """The sums, with those a method does not use defaulting to 0; n checked."""
    out = {key: sums.get(key, 0.0) for key in ("sum_d", "sum_dd", "sum_yd", "sum_x", "sum_xx")}
    out["sum_xy"] = sums.get("sum_xy", 0.0)
    for key in ("n", "sum_y", "sum_yy"):
        if key not in sums:
            raise InvalidArgument(f"Sums lack {key!r}; they need at least n, sum_y and sum_yy.")
        out[key] = sums[key]
    if np.any(np.asarray(out["n"]) < 2):
        raise ExperimentError(
            "A variant has fewer than 2 units, so its variance is unknown; wait for more units."
        )
    return out


def _ratio_variance(m: dict[str, np.ndarray], ratio: np.ndarray) -> np.ndarray:
    """Delta-method variance of sum(y) / sum(d) (linearization of the ratio of means)."""
    spread = m["var_y"] - 2.0 * ratio * m["cov_yd"] + ratio**2 * m["var_d"]
    return np.maximum(spread, 0.0) / (m["n"] * m["mean_d"] ** 2)


def _adjusted_variance(m: dict[str, np.ndarray], theta: np.ndarray) -> np.ndarray:
    """Sample variance of y - theta x within one variant."""
    return np.maximum(m["var_y"] - 2.0 * theta * m["cov_xy"] + theta**2 * m["var_x"], 0.0)


def sample_ratio_test(
    counts: Mapping[str, int],
    weights: Mapping[str, float],
    *,
    threshold: float = SRM_THRESHOLD,
) -> dict[str, Any]:
    """Chi-square test of the observed split against the designed one (sample ratio mismatch).

    Parameters
    ----------
    counts : mapping of str to int
        Units per variant as observed (a designed variant missing here counts 0).
    weights : mapping of str to float
        Designed traffic shares per variant (normalized here).
    threshold : float
        The mismatch is flagged when the p-value is below it (0.001: a readout
        looks at one SRM test, and a false alarm stops a launch).

    Returns
    -------
    dict
        ``observed``, ``expected`` (per variant), ``statistic``, ``p_value``, ``flagged``.

    Raises
    ------
    ExperimentError
        If a variant was observed that the design does not have.

    Examples
    --------
    >>> result = sample_ratio_test({"a": 5000, "b": 5400}, {"a": 0.5, "b": 0.5})
    >>> result["flagged"], round(result["p_value"], 5)
    (True, 9e-05)
    """
    from scipy import stats

    unknown = sorted(set(counts) - set(weights))
    if unknown:
        raise ExperimentError(
            f"Variants {unknown} have units but are not in the design ({sorted(weights)}); the "
            "assignments do not match the experiment's design."
        )
    names = list(weights)
    shares = np.array([float(weights[v]) for v in names])
    if (shares < 0).any() or shares.sum() <= 0:
        raise InvalidArgument(
            f"weights must be non-negative and not all zero, got {dict(weights)}."
        )
    observed = np.array([int(counts.get(v, 0)) for v in names], dtype=float)
    active = shares > 0  # a variant designed to get no traffic takes no part in the test
    expected = observed.sum() * shares / shares.sum()
    if observed[~active].sum() > 0:
        # Units where the design sends none: a mismatch by definition.
        statistic, p_value = float("inf"), 0.0
    elif active.sum() < 2:
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.chisquare(observed[active], expected[active])
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return {
        "observed": dict(zip(names, observed.astype(int).tolist(), strict=True)),
        "expected": dict(zip(names, expected.tolist(), strict=True)),
        "statistic": statistic,
        "p_value": p_value,
        "flagged": bool(p_value < threshold),
        "threshold": threshold,
    }


def adjust_p_values(
    p_values: Sequence[float], *, method: str = "holm", alpha: float = 0.05
) -> np.ndarray:
    """Correct p-values for testing several metrics: Holm (FWER) or Benjamini-Hochberg (FDR).

    Parameters
    ----------
    p_values : sequence of float
        One per comparison (metric x treatment). NaN entries (no test possible)
        stay NaN and do not count.
    method : {"holm", "bh", "none"}

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03], method="holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    from statsmodels.stats.multitest import multipletests

    names = {"holm": "holm", "bh": "fdr_bh", "none": None}
    if method not in names:
        raise InvalidArgument(f"correction must be holm, bh or none, got {method!r}.")
    values = np.asarray(p_values, dtype=float)
    out = values.copy()
    present = ~np.isnan(values)
    if names[method] is not None and present.any():
        out[present] = multipletests(values[present], alpha=alpha, method=names[method])[1]
    return out
