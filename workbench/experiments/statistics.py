"""Sufficient statistics of an experiment, computed in the store through Ibis.

A metric is measured per assigned unit from the ``events`` after the unit's
assignment; a unit with no events counts as zero (it is in the denominator).
Per variant the store returns only sums: the number of units ``n`` and the sums
of ``y``, ``y^2``, ``d``, ``d^2``, ``y*d``, ``x``, ``x^2`` and ``x*y``, where ``y``
is the metric (the numerator of a ratio), ``d`` a ratio's denominator and ``x``
the pre-period covariate used by CUPED. Every statistic of
:mod:`workbench.experiments.analysis` follows from these sums, so the same code
runs on any Ibis backend and never moves unit-level rows into Python.

Metric specifications (text, as the readout notebook takes them):

``click``
    Conversion: 1 if the unit had at least one ``click`` event after assignment.
``count:click``
    Number of ``click`` events per unit after assignment.
``sum:purchase``
    Sum of ``value`` of the unit's ``purchase`` events after assignment.
``ratio:click/impression``
    Sum of ``value`` of ``click`` over sum of ``value`` of ``impression``, per
    variant (a ratio metric, analysed with the delta method).

The covariate ``x`` is, by default, the same measurement before assignment: the
count of the metric's events (conversion, count), the sum of their values (sum).
Another pre-period measurement can be named instead (``covariate="count:impression"``:
any specification but a ratio). Ratio metrics have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from workbench.arguments import parse_time
from workbench.exceptions import ExperimentError, InvalidArgument
from workbench.scope import Scope

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from workbench.store import Store

__all__ = [
    "SUMS",
    "Metric",
    "parse_metric",
    "parse_metrics",
    "sequential_statistics",
    "sufficient_statistics",
    "unit_outcomes",
]

#: Columns of a sufficient-statistics table besides ``variant`` (and ``checkpoint``).
SUMS = ("n", "sum_y", "sum_yy", "sum_d", "sum_dd", "sum_yd", "sum_x", "sum_xx", "sum_xy")

_KINDS = ("conversion", "count", "sum", "ratio")


@dataclass(frozen=True)
class Metric:
    """A metric to read out, parsed from its specification.

    Attributes
    ----------
    name : str
        The specification as given, e.g. ``"sum:purchase"``.
    kind : {"conversion", "count", "sum", "ratio"}
    event_type : str
        The event type measured (a ratio's numerator).
    denominator : str or None
        A ratio's denominator event type.
    """

    name: str
    kind: str
    event_type: str
    denominator: str | None = None

    @property
    def event_types(self) -> list[str]:
        """Event types this metric reads."""
        return [self.event_type] + ([self.denominator] if self.denominator else [])

    @property
    def has_covariate(self) -> bool:
        """Whether a pre-period covariate (and so CUPED) applies."""
        return self.kind != "ratio"

    def describe(self) -> str:
        """What the metric measures, in words."""
        if self.kind == "conversion":
            return f"share of units with at least one {self.event_type} event"
        if self.kind == "count":
            return f"{self.event_type} events per unit"
        if self.kind == "sum":
            return f"sum of {self.event_type} values per unit"
        return f"{self.event_type} per {self.denominator} (sum of values)"


def parse_metric(spec: str) -> Metric:
    """Parse one metric specification (see the module docstring).

    Examples
    --------
    >>> parse_metric("click")
    Metric(name='click', kind='conversion', event_type='click', denominator=None)
    >>> parse_metric("ratio:click/impression").denominator
    'impression'
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgument(f"A metric must be a non-empty text, got {spec!r}.")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if not sep:
        kind, rest = "conversion", spec
    if kind not in _KINDS[1:] and sep:
        raise InvalidArgument(
            f"Metric {spec!r}: unknown kind {kind!r}. Use EVENT_TYPE (conversion), "
            "count:EVENT_TYPE, sum:EVENT_TYPE or ratio:NUMERATOR/DENOMINATOR."
        )
    if kind == "ratio":
        numerator, slash, denominator = rest.partition("/")
        if not slash or not numerator.strip() or not denominator.strip():
            raise InvalidArgument(
                f"Metric {spec!r}: a ratio is ratio:NUMERATOR/DENOMINATOR, "
                "e.g. ratio:click/impression."
            )
        return Metric(spec, kind, numerator.strip(), denominator.strip())
    if not rest.strip():
        raise InvalidArgument(f"Metric {spec!r} names no event type.")
    return Metric(spec, kind, rest.strip())


def parse_metrics(specs: str | list[str]) -> list[Metric]:
    """Parse comma-separated text (or a list) of metric specifications, refusing repeats."""
    items = specs.split(",") if isinstance(specs, str) else list(specs)
    metrics = [parse_metric(item) for item in items]
    names = [m.name for m in metrics]
    if not metrics:
        raise InvalidArgument("Name at least one metric, e.g. 'click' or 'sum:purchase'.")
    if len(set(names)) != len(names):
        raise InvalidArgument(f"Metrics are repeated: {names}.")
    return metrics


def unit_outcomes(
    store: Store,
    experiment: str,
    metric: Metric | str,
    *,
    until: datetime | None = None,
    pre_days: int | None = None,
    covariate: Metric | str | None = None,
    exposure: str | None = None,
    scope: Scope | str | None = None,
) -> ir.Table:
    """One row per assigned unit: ``unit_id, variant, assigned_at, y, d, x, missing``.

    ``y`` is the metric after assignment (before ``until`` when given), ``d`` a
    ratio's denominator (0 otherwise), ``x`` the covariate before assignment
    (within ``pre_days`` days of it when given; the ``covariate`` measurement, a
    metric specification, when given, else the metric itself), ``missing`` the number of the
    unit's events whose ``value`` a sum or ratio needed but is null. Nothing is
    executed.

    With ``exposure`` (an event type, or ``"deliveries"``) only units exposed
    after assignment are kept, and ``assigned_at`` is their first exposure: the
    metric counts from it, the covariate before it (a triggered analysis; see
    :func:`~workbench.experiments.assignment.exposures`).

    With ``scope`` only the events of that scope count (a :class:`~workbench.scope.Scope`
    or its name), so another product's events of a unit id never enter.
    """
    units, post, pre = _unit_parts(
        store, experiment, _as_metric(metric), until, pre_days, covariate, exposure, scope=scope
    )
    joined = units.left_join(post, units.unit_id == post.unit_id).left_join(
        pre, units.unit_id == pre.unit_id
    )
    y = post.y.fill_null(0.0)
    if _as_metric(metric).kind == "conversion":
        y = (y > 0).cast("float64")
    return joined.select(
        unit_id=units.unit_id,
        variant=units.variant,
        assigned_at=units.assigned_at,
        y=y,
        d=post.d.fill_null(0.0),
        x=pre.x.fill_null(0.0),
        missing=post.missing.fill_null(0) + pre.missing.fill_null(0),
    )


def sufficient_statistics(
    store: Store,
    experiment: str,
    metric: Metric | str,
    *,
    until: datetime | None = None,
    pre_days: int | None = None,
    covariate: Metric | str | None = None,
    exposure: str | None = None,
    scope: Scope | str | None = None,
) -> pd.DataFrame:
    """Per-variant sums (:data:`SUMS`) of ``metric``, computed in the store.

    ``until``, ``pre_days``, ``covariate``, ``exposure`` and ``scope`` are as in
    :func:`unit_outcomes`.

    Returns
    -------
    pandas.DataFrame
        One row per variant, columns ``variant`` and :data:`SUMS`, sorted by variant.

    Raises
    ------
    ExperimentError
        If the experiment has no assignments, or a sum or ratio metric meets
        events whose ``value`` is null (use ``count:`` or fill the values).
    """
    metric = _as_metric(metric)
    per_unit = unit_outcomes(
        store,
        experiment,
        metric,
        until=until,
        pre_days=pre_days,
        covariate=covariate,
        exposure=exposure,
        scope=scope,
    )
    stats = _aggregate(per_unit, ["variant"]).order_by("variant").execute()
    _check(stats, experiment, metric)
    return stats.drop(columns="missing").reset_index(drop=True)


def sequential_statistics(
    store: Store,
    experiment: str,
    metric: Metric | str,
    *,
    checkpoints: list[datetime] | None = None,
    max_looks: int = 30,
    until: datetime | None = None,
    pre_days: int | None = None,
    covariate: Metric | str | None = None,
    exposure: str | None = None,
    scope: Scope | str | None = None,
) -> pd.DataFrame:
    """Per-variant sums at successive looks: what a monitor would have seen each day.

    At a checkpoint ``c`` (a UTC midnight) the units are those assigned before
    ``c`` and their metric counts events before ``c``; the covariate is the
    same as in :func:`sufficient_statistics`.

    Parameters
    ----------
    checkpoints : list of datetime, optional
        UTC midnights (naive or aware). By default every midnight from the day
        after the first assignment to the day after the last event of the
        metric, thinned evenly to at most ``max_looks`` (the last always kept).
    max_looks : int
        Most checkpoints chosen by default.
    until : datetime, optional
        Default checkpoints stop at the last midnight before it.
    pre_days, covariate, exposure, scope
        As in :func:`unit_outcomes`; with ``exposure`` a unit enters the looks
        after its first exposure.

    Returns
    -------
    pandas.DataFrame
        Columns ``checkpoint`` (naive UTC), ``variant`` and :data:`SUMS`.
    """
    import ibis

    metric = _as_metric(metric)
    if checkpoints is None:
        checkpoints = _default_checkpoints(store, experiment, metric, max_looks, until, scope)
    checkpoints = sorted({_naive_midnight(c) for c in checkpoints})
    if not checkpoints:
        raise ExperimentError(f"Experiment {experiment!r} has no assignments to look at.")
    units, post, pre = _unit_parts(
        store, experiment, metric, until, pre_days, covariate, exposure, daily=True, scope=scope
    )
    looks = ibis.memtable({"checkpoint": checkpoints}, schema={"checkpoint": "timestamp"})
    grid = units.cross_join(looks).filter(units.assigned_at < looks.checkpoint)
    # Each unit's daily increments before the checkpoint; day < checkpoint is ts < checkpoint
    # because checkpoints are midnights.
    reached = grid.left_join(
        post, (grid.unit_id == post.unit_id) & (post.day < grid.checkpoint)
    ).select(
        checkpoint=grid.checkpoint,
        unit_id=grid.unit_id,
        variant=grid.variant,
        y=post.y.fill_null(0.0),
        d=post.d.fill_null(0.0),
        missing=post.missing.fill_null(0),
    )
    per_look = reached.group_by(["checkpoint", "unit_id", "variant"]).agg(
        y=reached.y.sum(), d=reached.d.sum(), missing=reached.missing.sum()
    )
    y = (per_look.y > 0).cast("float64") if metric.kind == "conversion" else per_look.y
    with_x = per_look.left_join(pre, per_look.unit_id == pre.unit_id).select(
        checkpoint=per_look.checkpoint,
        variant=per_look.variant,
        y=y,
        d=per_look.d,
        x=pre.x.fill_null(0.0),
        missing=per_look.missing + pre.missing.fill_null(0),
    )
    stats = _aggregate(with_x, ["checkpoint", "variant"]).order_by(["checkpoint", "variant"])
    frame = stats.execute()
    _check(frame, experiment, metric)
    return frame.drop(columns="missing").reset_index(drop=True)


# --------------------------------------------------------------------------- internals


def _as_metric(metric: Metric | str) -> Metric:
    return metric if isinstance(metric, Metric) else parse_metric(metric)


def _unit_parts(
    store,
    experiment,
    metric,
    until,
    pre_days,
    covariate=None,
    exposure=None,
    *,
    daily=False,
    scope=None,
):
    """Units, their post-assignment sums (per day if ``daily``) and pre-assignment sums."""
    import ibis

    covariate = _covariate_of(metric, covariate)
    if exposure is None:
        assignments = store.table("assignments")
        units = assignments.filter(assignments.experiment == experiment).select(
            "unit_id", "variant", "assigned_at"
        )
    else:
        units = _exposed_units(store, experiment, exposure)
    events = Scope.resolve(scope).events(store.table("events"))
    read = metric.event_types + (covariate.event_types if covariate else [])
    events = events.filter(events.event_type.isin(sorted(set(read))))
    if until is not None:
        # As of ``until``: units assigned later did not exist yet, events after it neither.
        units = units.filter(units.assigned_at < _naive(until))
        events = events.filter(events.ts < _naive(until))
    joined = units.join(events, units.unit_id == events.user_id).select(
        unit_id=units.unit_id,
        assigned_at=units.assigned_at,
        ts=events.ts,
        event_type=events.event_type,
        value=events.value,
    )

    def sums(rows: ir.Table, measure: Metric) -> dict:
        uses_value = measure.kind in ("sum", "ratio")
        value = rows.value if uses_value else ibis.literal(1.0)
        measured = {"y": ibis.ifelse(rows.event_type == measure.event_type, value, 0.0).sum()}
        if measure.denominator:
            measured["d"] = ibis.ifelse(rows.event_type == measure.denominator, value, 0.0).sum()
        # A null value would drop out of the sum silently: count it, so it can be refused.
        needed = rows.event_type.isin(measure.event_types) & rows.value.isnull()
        measured["missing"] = needed.cast("int64").sum() if uses_value else ibis.literal(0, "int64")
        return measured

    after = joined.filter(joined.ts >= joined.assigned_at)
    keys = {"unit_id": after.unit_id}
    if daily:
        keys["day"] = after.ts.truncate("D")
    post = after.group_by(**keys).agg(**sums(after, metric))
    if not metric.denominator:
        post = post.mutate(d=ibis.literal(0.0))

    before = joined.filter(joined.ts < joined.assigned_at)
    if pre_days is not None:
        if isinstance(pre_days, bool) or not isinstance(pre_days, int) or pre_days < 1:
            raise InvalidArgument(
                f"pre_days must be a whole number of days >= 1, got {pre_days!r}."
            )
        before = before.filter(before.ts >= before.assigned_at - ibis.interval(days=pre_days))
    if covariate is not None:
        measured = sums(before, covariate)
        pre = before.group_by("unit_id").agg(x=measured["y"], missing=measured["missing"])
        if covariate.kind == "conversion":
            pre = pre.mutate(x=(pre.x > 0).cast("float64"))
    else:
        pre = before.group_by("unit_id").agg(x=ibis.literal(0.0), missing=ibis.literal(0, "int64"))
    return units, post, pre


def _exposed_units(store, experiment: str, exposure: str) -> ir.Table:
    """Units exposed after assignment, with their first exposure as the time they entered."""
    from workbench.experiments.assignment import exposures

    if not isinstance(exposure, str) or not exposure.strip():
        raise InvalidArgument(f"exposure must be an event type or 'deliveries', got {exposure!r}.")
    if exposure == "deliveries":
        seen = exposures(store, experiment, source="deliveries")
    else:
        seen = exposures(store, experiment, event_type=exposure)
    seen = seen.filter(seen.first_exposure_at.notnull())
    return seen.select("unit_id", "variant", assigned_at=seen.first_exposure_at)


def _covariate_of(metric: Metric, covariate: Metric | str | None) -> Metric | None:
    """The pre-period measurement behind ``x``: the metric itself unless another is named."""
    if not metric.has_covariate:
        return None
    if covariate is None:
        # How often the unit did it before says more than whether it did.
        if metric.kind == "conversion":
            return Metric(f"count:{metric.event_type}", "count", metric.event_type)
        return metric
    covariate = _as_metric(covariate)
    if covariate.kind == "ratio":
        raise InvalidArgument(
            f"Covariate {covariate.name!r}: a covariate is one pre-period measurement per unit "
            "(EVENT_TYPE, count:EVENT_TYPE or sum:EVENT_TYPE), not a ratio."
        )
    return covariate


def _aggregate(per_unit: ir.Table, keys: list[str]) -> ir.Table:
    t = per_unit
    return t.group_by(keys).agg(
        n=t.count(),
        sum_y=t.y.sum(),
        sum_yy=(t.y * t.y).sum(),
        sum_d=t.d.sum(),
        sum_dd=(t.d * t.d).sum(),
        sum_yd=(t.y * t.d).sum(),
        sum_x=t.x.sum(),
        sum_xx=(t.x * t.x).sum(),
        sum_xy=(t.x * t.y).sum(),
        missing=t.missing.sum(),
    )


def _check(stats: pd.DataFrame, experiment: str, metric: Metric) -> None:
    if stats.empty:
        raise ExperimentError(
            f"Experiment {experiment!r} has no assignments. Assign units first, or check the name "
            "(workbench experiments list)."
        )
    missing = int(stats["missing"].sum())
    if missing:
        raise ExperimentError(
            f"Metric {metric.name!r} sums event values, but {missing:,} of the "
            f"{'/'.join(metric.event_types)} events of experiment {experiment!r} units have no "
            f"value. Use count:{metric.event_type} to count them, or fill their values."
        )


def _naive(when: datetime) -> datetime:
    """UTC as the store keeps it: naive."""
    return parse_time(when, name="time")


def _naive_midnight(when: datetime) -> datetime:
    when = _naive(when)
    if when != datetime(when.year, when.month, when.day):
        raise InvalidArgument(
            f"Checkpoints must be UTC midnights (the sequential view counts whole days), got {when}."
        )
    return when


def _default_checkpoints(store, experiment, metric, max_looks, until, scope=None) -> list[datetime]:
    in_scope = Scope.resolve(scope).events_sql("e.")
    bounds = store.sql(
        "SELECT (SELECT min(assigned_at) FROM assignments WHERE experiment = ?) AS first, "
        "(SELECT max(e.ts) FROM events e JOIN assignments a ON e.user_id = a.unit_id "
        "AND a.experiment = ? AND e.ts >= a.assigned_at "
        f"WHERE list_contains(?, e.event_type) AND {in_scope}) AS last",
        [experiment, experiment, metric.event_types],
    ).to_pylist()[0]
    if bounds["first"] is None:
        return []
    first = _naive(bounds["first"])
    last = _naive(bounds["last"]) if bounds["last"] is not None else first
    start = datetime(first.year, first.month, first.day) + timedelta(days=1)
    end = datetime(last.year, last.month, last.day) + timedelta(days=1)
    if until is not None:
        end = min(end, _naive(until))
    days = [start + timedelta(days=k) for k in range(max(0, (end - start).days) + 1)]
    if len(days) > max_looks:
        import numpy as np

        keep = np.unique(np.round(np.linspace(0, len(days) - 1, max_looks)).astype(int))
        days = [days[i] for i in keep]
    return days
