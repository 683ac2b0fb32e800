"""Interval coverage by simulation: 1,000 A/A and A/B experiments per method, from sums.

Each simulated experiment is drawn unit by unit with numpy and reduced to the same
sufficient statistics the store computes; the analysis then runs on all 1,000 at
once (it is vectorized), so the whole file takes seconds. A 95% interval must
cover the true value in 93-97% of runs; the always-valid confidence sequence must
cover it at every one of 20 looks in at least 95% of runs, where daily peeking at
fixed-horizon intervals does not.
"""

from __future__ import annotations

import numpy as np
import pytest

from workbench.experiments import (
    always_valid_p_values,
    compare,
    confidence_sequence_radius,
    mixing_variance,
)

RUNS = 1_000
UNITS = 2_000  # per variant
BAND = (0.93, 0.97)


def sums(y: np.ndarray, *, d: np.ndarray | None = None, x: np.ndarray | None = None) -> dict:
    """Sufficient statistics along the last axis (units), as the store computes them."""
    d = np.zeros_like(y) if d is None else d
    x = np.zeros_like(y) if x is None else x
    return {
        "n": np.full(y.shape[:-1], y.shape[-1]),
        "sum_y": y.sum(-1),
        "sum_yy": (y * y).sum(-1),
        "sum_d": d.sum(-1),
        "sum_dd": (d * d).sum(-1),
        "sum_yd": (y * d).sum(-1),
        "sum_x": x.sum(-1),
        "sum_xx": (x * x).sum(-1),
        "sum_xy": (x * y).sum(-1),
    }


def counts(rng, mean: float, shape) -> np.ndarray:
    """Over-dispersed counts per unit (negative binomial), like clicks per user."""
    return rng.poisson(rng.gamma(0.5, mean / 0.5, shape)).astype(float)


def simulate(method: str, lift: float, seed: int):
    """1,000 experiments: (treatment sums, control sums, true difference, true lift)."""
    rng = np.random.default_rng(seed)
    shape = (RUNS, UNITS)
    if method == "welch":
        base = 0.5
        t, c = counts(rng, base * (1 + lift), shape), counts(rng, base, shape)
        return sums(t), sums(c), base * lift, lift
    if method == "proportion":
        base = 0.3
        t = (rng.random(shape) < base * (1 + lift)).astype(float)
        c = (rng.random(shape) < base).astype(float)
        return sums(t), sums(c), base * lift, lift
    if method == "ratio":
        ctr = 0.05
        d_t, d_c = counts(rng, 8.0, shape), counts(rng, 8.0, shape)
        y_t = rng.binomial(d_t.astype(int), ctr * (1 + lift)).astype(float)
        y_c = rng.binomial(d_c.astype(int), ctr).astype(float)
        return sums(y_t, d=d_t), sums(y_c, d=d_c), ctr * lift, lift
    # cuped: a pre-period count x and a post-period count y share each unit's activity
    activity_t, activity_c = rng.gamma(1.0, 3.0, shape), rng.gamma(1.0, 3.0, shape)
    x_t, x_c = rng.poisson(activity_t).astype(float), rng.poisson(activity_c).astype(float)
    y_t = rng.poisson(activity_t * (1 + lift)).astype(float)
    y_c = rng.poisson(activity_c).astype(float)
    return sums(y_t, x=x_t), sums(y_c, x=x_c), 3.0 * lift, lift  # mean activity 3


def coverage(low: np.ndarray, high: np.ndarray, truth: float) -> float:
    return float(np.mean((low <= truth) & (truth <= high)))


@pytest.mark.parametrize("method", ["welch", "proportion", "ratio", "cuped"])
@pytest.mark.parametrize("lift", [0.0, 0.10], ids=["A/A", "A/B"])
def test_95_percent_intervals_cover_the_truth_95_percent_of_the_time(method, lift):
    seed = {"welch": 1, "proportion": 2, "ratio": 3, "cuped": 4}[method] + int(lift * 100)
    treatment, control, true_difference, true_lift = simulate(method, lift, seed)

    result = compare(treatment, control, method=method, alpha=0.05)

    difference = coverage(result["difference_low"], result["difference_high"], true_difference)
    relative = coverage(result["lift_low"], result["lift_high"], true_lift)
    assert BAND[0] <= difference <= BAND[1], f"difference interval covered {difference:.3f}"
    assert BAND[0] <= relative <= BAND[1], f"lift interval (delta method) covered {relative:.3f}"
    if lift == 0.0:
        # A/A: the test rejects about alpha of the time
        assert 0.03 <= np.mean(result["p_value"] < 0.05) <= 0.07
    else:
        assert np.all(np.isfinite(result["p_value"]))


def test_cuped_narrows_the_interval_without_moving_its_center():
    treatment, control, _, _ = simulate("cuped", 0.10, seed=9)

    plain = compare(treatment, control, method="welch")
    adjusted = compare(treatment, control, method="cuped")

    ratio = np.median(adjusted["se_difference"] / plain["se_difference"])
    assert ratio < 0.8  # x and y share activity: a large share of the variance goes
    assert np.median(adjusted["variance_reduction"]) == pytest.approx(1 - ratio**2, abs=0.02)
    # unbiased: the two estimators agree on average
    assert np.mean(adjusted["difference"]) == pytest.approx(np.mean(plain["difference"]), abs=0.02)


LOOKS = 20


def sequential_runs(lift: float, seed: int):
    """1,000 experiments watched at 20 looks: cumulative sums of 100 new units per look."""
    rng = np.random.default_rng(seed)
    step = UNITS // LOOKS
    t = counts(rng, 0.5 * (1 + lift), (RUNS, LOOKS, step))
    c = counts(rng, 0.5, (RUNS, LOOKS, step))
    cumulative = [{k: np.cumsum(v, axis=-1) for k, v in sums(a).items()} for a in (t, c)]
    for s in cumulative:
        s["n"] = np.broadcast_to(np.arange(1, LOOKS + 1) * step, (RUNS, LOOKS))
    return cumulative[0], cumulative[1], 0.5 * lift


@pytest.mark.parametrize("lift", [0.0, 0.10], ids=["A/A", "A/B"])
def test_the_confidence_sequence_covers_the_truth_at_every_look(lift):
    treatment, control, truth = sequential_runs(lift, seed=11 + int(lift * 100))
    result = compare(treatment, control, method="welch")
    variance = result["se_difference"] ** 2
    tau2 = mixing_variance(variance[:, -1:])
    radius = confidence_sequence_radius(variance, tau2=tau2)
    estimate = result["difference"]

    always = np.all((estimate - radius <= truth) & (truth <= estimate + radius), axis=1)
    peeking = np.all(
        (result["difference_low"] <= truth) & (truth <= result["difference_high"]), axis=1
    )

    assert always.mean() >= 0.95, f"the sequence covered at every look in {always.mean():.3f}"
    # acting on the first daily fixed-horizon interval that excludes the truth errs far more often
    assert 1 - peeking.mean() > 0.10
    assert np.all(radius[:, -1] > result["difference_high"][:, -1] - estimate[:, -1])


def test_always_valid_p_values_keep_false_positives_at_alpha_under_continuous_monitoring():
    treatment, control, _ = sequential_runs(0.0, seed=21)
    result = compare(treatment, control, method="welch")
    variance = result["se_difference"] ** 2
    p = always_valid_p_values(
        result["difference"], variance, tau2=mixing_variance(variance[:, -1:])
    )

    assert np.all(np.diff(p, axis=1) <= 0)  # never increases
    assert np.mean(p[:, -1] < 0.05) <= 0.05  # stopping at the first p < 0.05 is safe
    assert np.mean(np.any(result["p_value"] < 0.05, axis=1)) > 0.10  # naive peeking is not
