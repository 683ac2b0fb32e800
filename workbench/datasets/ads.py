"""A/B(/n) tests on ad creatives with a known lift, assigned as the workbench assigns units."""

from __future__ import annotations

import datetime as dt
import numbers

import numpy as np
import pyarrow as pa

from workbench.datasets._common import (
    DAY_US,
    SyntheticDataset,
    check_int,
    check_range,
    events_table,
    ids,
    start_us,
    timestamps,
)
from workbench.exceptions import InvalidArgument
from workbench.experiments.assignment import assign_units

__all__ = ["make_ads"]


def make_ads(
    *,
    users: int = 5000,
    creatives: int = 2,
    days: int = 14,
    seed: int = 0,
    base_ctr: float = 0.05,
    lift: float = 0.10,
    experiment: str = "ads_creative",
    start: str | dt.date = "2026-01-01",
    srm: float = 0.0,
) -> SyntheticDataset:
    """Generate an A/B(/n) test on ad creatives with a known lift.

    Units are split evenly by :func:`assign_variant`. Each unit sees a Poisson
    number of impressions of its variant's creative (``creative_0`` for control,
    ``creative_k`` for the k-th treatment) during ``days`` days from ``start``,
    and clicks with probability ``ctr[variant] * propensity[unit]``, where
    control's CTR is ``base_ctr``, every treatment's is ``base_ctr * (1 + lift)``,
    and the propensity has mean 1. In the ``days`` days before ``start`` every
    unit also sees ``creative_0`` (context ``{"period": "pre"}``) with the same
    activity and propensity, so pre-period behaviour predicts post-period
    behaviour and CUPED-style adjustment reduces variance.

    Parameters
    ----------
    users : int
        Number of units, >= 1.
    creatives : int
        Number of variants including control, >= 2.
    days : int
        Length of the experiment, and of the pre-period, in days, >= 1.
    seed : int
        Seed for ``numpy.random.default_rng``.
    base_ctr : float
        Control click-through rate, in (0, 1].
    lift : float
        Relative CTR lift of every treatment, >= -1 and with
        ``base_ctr * (1 + lift) <= 1``.
    experiment : str
        Experiment name (salts the assignment hash).
    start : str or datetime.date
        First UTC day of the experiment.
    srm : float
        Share of treatment units whose assignment row is lost, in [0, 1): a
        planted sample ratio mismatch, as a logging bug would cause. Their
        events stay in ``events``; the rest of the data is the same as with 0.

    Returns
    -------
    SyntheticDataset
        Tables ``assignments`` (``assigned_at`` = first exposure, or ``start``
        for a unit never exposed) and ``events`` (``impression`` and ``click``,
        ``value`` 1.0; post-period contexts name experiment and variant).
        Truth keys: ``experiment``, ``variants``, ``true_ctr``,
        ``true_lift``, ``units_per_variant`` (rows of ``assignments``), ``srm``
        and ``lost_units`` (assignments lost per variant).

    Raises
    ------
    InvalidArgument
        If an argument is outside its range.

    Examples
    --------
    >>> ads = make_ads(users=100, creatives=3, days=2)
    >>> ads.truth["variants"]
    ['control', 'treatment_1', 'treatment_2']
    >>> sum(ads.truth["units_per_variant"].values())
    100
    """
    users = check_int("users", users, 1)
    creatives = check_int("creatives", creatives, 2)
    days = check_int("days", days, 1)
    base_ctr = check_range("base_ctr", base_ctr, 0.0, 1.0, open_low=True)
    lift = check_range("lift", lift, -1.0, 1.0 / base_ctr - 1.0, open_low=False)
    if isinstance(srm, bool) or not isinstance(srm, numbers.Real) or not 0.0 <= srm < 1.0:
        raise InvalidArgument(f"srm must be a number in [0.0, 1.0), got {srm!r}")
    srm = float(srm)
    origin = start_us(start)
    rng = np.random.default_rng(seed)

    variants = (
        ["control", "treatment"]
        if creatives == 2
        else (["control"] + [f"treatment_{k}" for k in range(1, creatives)])
    )
    ctr = np.array([base_ctr] + [base_ctr * (1.0 + lift)] * (creatives - 1))
    user_ids = ids("user_", users)
    # The workbench's own assignment, per unit (not per event): re-assigning the units
    # with `workbench experiments assign` gives the same variants.
    assigned = assign_units(user_ids.to_pylist(), experiment=experiment, variants=variants)
    position = {name: index for index, name in enumerate(variants)}
    variant_of = np.array([position[name] for name in assigned])

    # The propensity is bounded so ctr * propensity never exceeds 1: clipping
    # would pull the realized CTR below the planted one.
    spread = min(0.8, 1.0 / ctr.max() - 1.0)
    propensity = 1.0 + spread * (2.0 * rng.beta(2.0, 2.0, users) - 1.0)
    activity = rng.gamma(2.0, 0.3, users)  # impressions per day, mean 0.6, shared by both periods

    def period(begin: int, creative_of_unit: np.ndarray) -> tuple[np.ndarray, ...]:
        unit = np.repeat(np.arange(users), rng.poisson(activity * days))
        ts = begin + rng.integers(0, days * DAY_US, unit.size)
        shown = creative_of_unit[unit]
        clicked = rng.random(unit.size) < ctr[shown] * propensity[unit]
        # A click follows its impression within a minute, without crossing the period's end.
        click_ts = np.minimum(
            ts[clicked] + rng.integers(1_000_000, 60_000_000, clicked.sum()),
            begin + days * DAY_US - 1,
        )
        return unit, ts, shown, clicked, click_ts

    # Before the experiment everyone saw the control creative.
    pre = period(origin - days * DAY_US, np.zeros(users, dtype=np.int64))
    post = period(origin, variant_of)
    first_seen = np.full(users, np.iinfo(np.int64).max)
    np.minimum.at(first_seen, post[0], post[1])
    assigned_at = np.where(first_seen == np.iinfo(np.int64).max, origin, first_seen)

    units, stamps, types, creative, context = [], [], [], [], []
    for in_post, (unit, ts, shown, clicked, click_ts) in enumerate([pre, post]):
        units += [unit, unit[clicked]]
        stamps += [ts, click_ts]
        types += [np.zeros(unit.size, dtype=np.int64), np.ones(clicked.sum(), dtype=np.int64)]
        creative += [shown, shown[clicked]]
        # context 0 is the pre-period; 1 + k is the post-period in variant k
        context += [in_post * (1 + shown), in_post * (1 + shown[clicked])]
    creatives_used = np.concatenate(creative)
    events = events_table(
        "ads",
        np.concatenate(stamps),
        user_ids,
        np.concatenate(units),
        ids("creative_", creatives, width=1),
        creatives_used,
        ("impression", "click"),
        np.concatenate(types),
        np.ones(creatives_used.size),
        [{"period": "pre"}]
        + [{"experiment": experiment, "period": "post", "variant": v} for v in variants],
        np.concatenate(context),
    )
    assignments = pa.table(
        {
            "experiment": pa.repeat(pa.scalar(experiment, pa.string()), users),
            "unit_id": user_ids,
            "variant": pa.array(variants, pa.string()).take(pa.array(variant_of)),
            "assigned_at": timestamps(assigned_at),
        }
    )
    kept = np.ones(users, dtype=bool)
    if srm > 0:
        # A stream of its own, so the planted loss leaves every other draw unchanged.
        lose = np.random.default_rng([seed, 1]).random(users) < srm
        kept = ~(lose & (variant_of > 0))
        assignments = assignments.filter(pa.array(kept))
    counts = np.bincount(variant_of[kept], minlength=creatives)
    lost = np.bincount(variant_of[~kept], minlength=creatives)
    truth = {
        "experiment": experiment,
        "variants": variants,
        "true_ctr": dict(zip(variants, ctr.tolist(), strict=True)),
        "true_lift": lift,
        "units_per_variant": dict(zip(variants, counts.tolist(), strict=True)),
        "srm": srm,
        "lost_units": dict(zip(variants, lost.tolist(), strict=True)),
    }
    return SyntheticDataset("ads", {"assignments": assignments, "events": events}, truth)
