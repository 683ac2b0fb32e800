"""Data health checks of events and batches: volume, freshness, null rates, quarantine.

:class:`HealthThresholds` says when a check fails; ``_Windows`` holds the reference
and recent windows the checks compare. Each ``_check_*`` aggregates in the store,
returns the per-source, per-day table behind it and the checks it judged.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.exceptions import InvalidArgument, TableNotFound
from workbench.health.statistics import _check_int

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from workbench.store import Store

__all__ = ["HealthThresholds"]

DAY = timedelta(days=1)


@dataclass(frozen=True)
class HealthThresholds:
    """When a check fails. The defaults are starting points; tune them to your feeds.

    Attributes
    ----------
    min_volume_ratio, max_volume_ratio : float
        A recent day fails when its events fall below ``min_volume_ratio`` or rise
        above ``max_volume_ratio`` times the source's median day in the reference
        window. 0.5 catches a feed that lost half its rows; 3.0 leaves room for
        weekly peaks (weekends run 1.3-1.8x on the demo data) and still catches
        replays and backfills.
    max_staleness_hours : float
        A source fails when its latest event is older than this at ``as_of``. 36 h
        tolerates a daily batch feed's normal lag (up to ~26 h) and flags a missed
        delivery within the day.
    max_null_rate, max_null_rate_increase : float
        A column fails when its recent null rate exceeds
        ``max(max_null_rate, reference null rate + max_null_rate_increase)``:
        5% nulls in a column that had none is a broken producer, while a column
        that is sparse by design only fails when it gets sparser.
    max_quarantine_rate : float
        A source fails when ``quarantined / rows_in`` of its batches on a recent day
        exceeds this. A few stray bad rows are normal; 5% is a producer bug.
    max_psi, min_ks_pvalue : float
        A feature drifted when its PSI exceeds ``max_psi`` *and* the KS p-value is
        below ``min_ks_pvalue``. PSI > 0.2 is the usual "significant shift" line
        (0.1-0.2 moderate); the KS test keeps small, noisy samples from failing on
        PSI alone, and the PSI keeps huge samples from failing on shifts too small
        to matter. Set ``min_ks_pvalue=1.0`` to judge on PSI alone, ``max_psi=0.0``
        to judge on KS alone.
    psi_bins : int
        Number of reference quantile bins of the PSI (deciles by default).
    min_drift_samples : int
        A feature with fewer values than this in either window cannot be judged and
        fails, so a feature that disappeared is noticed.
    """

    min_volume_ratio: float = 0.5
    max_volume_ratio: float = 3.0
    max_staleness_hours: float = 36.0
    max_null_rate: float = 0.05
    max_null_rate_increase: float = 0.05
    max_quarantine_rate: float = 0.05
    max_psi: float = 0.2
    min_ks_pvalue: float = 0.01
    psi_bins: int = 10
    min_drift_samples: int = 50

    def __post_init__(self) -> None:
        ranges = {
            "min_volume_ratio": (0.0, 1.0),
            "max_volume_ratio": (1.0, math.inf),
            "max_staleness_hours": (0.0, math.inf),
            "max_null_rate": (0.0, 1.0),
            "max_null_rate_increase": (0.0, 1.0),
            "max_quarantine_rate": (0.0, 1.0),
            "max_psi": (0.0, math.inf),
            "min_ks_pvalue": (0.0, 1.0),
        }
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if not _is_number(value) or not low <= value <= high or math.isnan(value):
                raise InvalidArgument(
                    f"HealthThresholds.{name} must be a number in [{low}, {high}], got {value!r}."
                )
        _check_int("HealthThresholds.psi_bins", self.psi_bins, 2)
        _check_int("HealthThresholds.min_drift_samples", self.min_drift_samples, 2)


@dataclass(frozen=True)
class _Windows:
    as_of: datetime
    start: datetime
    recent_start: datetime
    end: datetime

    @classmethod
    def ending(cls, as_of: datetime, end: datetime, *, reference: int, recent: int) -> _Windows:
        recent_start = end - recent * DAY
        return cls(as_of, recent_start - reference * DAY, recent_start, end)


def _event_windows(
    store: Store, events: ir.Table, as_of: datetime, reference: int, recent: int
) -> _Windows:
    """The windows: whole UTC days before the day of ``as_of``."""
    if int(events.count().execute()) == 0:
        raise TableNotFound(
            f"The store {store.location} has no events to check (in this scope), so there is "
            "nothing to judge. Run `workbench ingest FILE` or `workbench generate music` first, "
            "or check the scope."
        )
    return _Windows.ending(as_of, _midnight(as_of), reference=reference, recent=recent)


def _check_volume(
    events: ir.Table, w: _Windows, thresholds: HealthThresholds
) -> tuple[pd.DataFrame, dict[str, dict]]:
    t = events.filter((events.ts >= w.start) & (events.ts < w.end))
    counts = _per_day(
        t.group_by(source=t.source.fill_null("(none)"), day=t.ts.truncate("D")).agg(
            events=t.count()
        )
    )
    days = pd.date_range(w.start, w.end - DAY, freq="D").as_unit("us")
    grid = pd.MultiIndex.from_product([sorted(counts["source"].unique()), days])
    volume = (
        counts.set_index(["source", "day"])
        .reindex(grid.set_names(["source", "day"]), fill_value=0)
        .reset_index()
    )
    volume["window"] = np.where(volume["day"] >= w.recent_start, "recent", "reference")
    in_reference = volume[volume["window"] == "reference"]
    medians = in_reference.groupby("source")["events"].median()
    volume["reference_median"] = volume["source"].map(medians).astype(float)
    judged = volume["reference_median"] > 0
    volume["ratio"] = (volume["events"] / volume["reference_median"]).where(judged)
    low, high = thresholds.min_volume_ratio, thresholds.max_volume_ratio
    outside = (volume["ratio"] < low) | (volume["ratio"] > high)
    volume["flagged"] = (volume["window"] == "recent") & judged & outside

    checks = {}
    for source, rows in volume[volume["window"] == "recent"].groupby("source"):
        median = float(medians.get(source, 0.0))
        check = {"passed": True, "value": None, "threshold": [low, high]}
        if median == 0:
            check["detail"] = (
                "no events on most reference days (new or sparse source): volume not judged"
            )
        else:
            distance = np.abs(np.log(rows["ratio"].clip(lower=1e-9)))
            worst = float(rows["ratio"].iloc[int(np.argmax(distance.to_numpy()))])
            flagged = rows[rows["flagged"]]
            check["passed"], check["value"] = flagged.empty, round(worst, 4)
            if flagged.empty:
                check["detail"] = (
                    f"recent days {rows['ratio'].min():.2f}x-{rows['ratio'].max():.2f}x the "
                    f"reference median of {median:,.0f} events/day"
                )
            else:
                days_out = ", ".join(
                    f"{day:%Y-%m-%d} ({ratio:.2f}x)"
                    for day, ratio in zip(flagged["day"], flagged["ratio"], strict=True)
                )
                check["detail"] = (
                    f"{len(flagged)} recent day(s) outside {low:g}x-{high:g}x the reference "
                    f"median of {median:,.0f} events/day: {days_out}. Look for lost or "
                    "replayed deliveries of this source on those days."
                )
        checks[f"volume:{source}"] = check
    return volume, checks


def _check_freshness(
    events: ir.Table, w: _Windows, thresholds: HealthThresholds, volume: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Each source's latest event (event time) against ``as_of``: a silent source fails."""
    t = events.filter(events.ts <= w.as_of)
    latest = t.group_by(source=t.source.fill_null("(none)")).agg(latest=t.ts.max()).execute()
    latest["latest"] = pd.to_datetime(latest["latest"])
    latest = latest.sort_values("source")
    store_latest = latest["latest"].max() if len(latest) else pd.NaT
    rows = [*latest.itertuples(index=False), ("store", store_latest)]
    limit = thresholds.max_staleness_hours
    active = set(volume["source"])
    checks, records = {}, []
    for source, moment in rows:
        if pd.isna(moment):
            hours, detail = None, f"no events up to as_of ({_day_time(w.as_of)} UTC)"
        else:
            hours = round((w.as_of - moment.to_pydatetime()) / timedelta(hours=1), 2)
            detail = (
                f"latest event (event time) {_day_time(moment)} UTC, {_age(hours)} before "
                f"as_of {_day_time(w.as_of)} UTC"
            )
        passed = hours is not None and hours <= limit
        if not passed:
            if source == "store":
                detail += f"; no source has sent events within {limit:g} h"
            elif source not in active:
                detail += f"; silent through both windows: has {source} stopped sending?"
            else:
                detail += f"; has this source stopped sending? (limit {limit:g} h)"
        checks[f"freshness:{source}"] = {
            "passed": passed,
            "value": hours,
            "threshold": limit,
            "detail": detail,
        }
        records.append({"source": source, "latest": moment, "hours_stale": hours, "passed": passed})
    return pd.DataFrame(records, columns=["source", "latest", "hours_stale", "passed"]), checks


def _age(hours: float) -> str:
    """Hours in the unit a reader takes in at a glance."""
    if hours < 48:
        return f"{hours:,.1f} h"
    return f"{hours / 24:,.1f} days"


def _null_rates(
    table: ir.Table, time: ir.Value, w: _Windows, *, name: str, columns: list[str]
) -> pd.DataFrame:
    t = table.mutate(_wb_time=time)
    t = t.filter((t["_wb_time"] >= w.start) & (t["_wb_time"] < w.end))
    # Positional aliases: column names may not be valid or unique as aggregate names.
    nulls = {f"n{i}": t[column].isnull().sum() for i, column in enumerate(columns)}
    per_day = _per_day(t.group_by(day=t["_wb_time"].truncate("D")).agg(rows=t.count(), **nulls))
    long = per_day.melt(id_vars=["day", "rows"], var_name="column", value_name="nulls")
    long["column"] = long["column"].map({f"n{i}": c for i, c in enumerate(columns)})
    long.insert(0, "table", name)
    long["window"] = np.where(long["day"] >= w.recent_start, "recent", "reference")
    long["null_rate"] = long["nulls"] / long["rows"]
    long = long.sort_values(["column", "day"], ignore_index=True)
    return long[["table", "column", "day", "window", "rows", "nulls", "null_rate"]]


def _check_nulls(null_rates: pd.DataFrame, thresholds: HealthThresholds) -> dict[str, dict]:
    totals = (
        null_rates.groupby(["table", "column", "window"], sort=False)[["rows", "nulls"]]
        .sum()
        .unstack("window")
    )
    checks = {}
    for (table, column), row in totals.iterrows():
        reference = _rate(row.get(("nulls", "reference")), row.get(("rows", "reference")))
        recent = _rate(row.get(("nulls", "recent")), row.get(("rows", "recent")))
        limit = thresholds.max_null_rate
        if reference is not None:
            limit = max(limit, reference + thresholds.max_null_rate_increase)
        limit = round(min(limit, 1.0), 6)
        before = "no reference rows" if reference is None else f"reference {reference:.1%}"
        if recent is None:
            check = {"passed": True, "value": None, "detail": "no rows in the recent window"}
        else:
            check = {
                "passed": recent <= limit,
                "value": round(recent, 6),
                "detail": f"recent {recent:.1%} null ({before}; limit {limit:.1%})",
            }
        checks[f"nulls:{table}.{column}"] = {**check, "threshold": limit}
    return checks


def _check_quarantine(
    batches: ir.Table, w: _Windows, thresholds: HealthThresholds
) -> tuple[pd.DataFrame, dict[str, dict]]:
    # By ingest time, up to as_of: a rate is a share, so today's part of a day counts too.
    b = batches.filter((batches.started_at >= w.start) & (batches.started_at <= w.as_of))
    rates = _per_day(
        b.group_by(source=b.source.fill_null("(none)"), day=b.started_at.truncate("D")).agg(
            batches=b.count(), rows_in=b.rows_in.sum(), quarantined=b.quarantined.sum()
        )
    ).sort_values(["source", "day"], ignore_index=True)
    rates["window"] = np.where(rates["day"] >= w.recent_start, "recent", "reference")
    rates["rate"] = (rates["quarantined"] / rates["rows_in"]).where(rates["rows_in"] > 0)
    limit = thresholds.max_quarantine_rate
    rates["flagged"] = (rates["window"] == "recent") & (rates["rate"] > limit)
    checks = {}
    for source, rows in rates[rates["window"] == "recent"].groupby("source"):
        judged = rows.dropna(subset=["rate"])
        if judged.empty:
            check = {"passed": True, "value": None, "detail": "only empty batches"}
        else:
            worst = judged.loc[judged["rate"].idxmax()]
            detail = (
                f"worst day {worst['day']:%Y-%m-%d}: {worst['rate']:.1%} quarantined "
                f"({int(worst['quarantined']):,} of {int(worst['rows_in']):,} rows)"
            )
            passed = not bool(rows["flagged"].any())
            if not passed:
                detail += f"; above {limit:.1%}: `workbench quarantine` shows the reasons"
            check = {"passed": passed, "value": round(float(worst["rate"]), 6), "detail": detail}
        checks[f"quarantine:{source}"] = {**check, "threshold": limit}
    return rates, checks


def _per_day(expr: ir.Table) -> pd.DataFrame:
    frame = expr.execute()
    frame["day"] = pd.to_datetime(frame["day"]).astype("datetime64[us]")
    return frame


def _midnight(moment: Any) -> datetime:
    return pd.Timestamp(moment).floor("D").to_pydatetime()


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _rate(part: Any, whole: Any) -> float | None:
    if whole is None or pd.isna(whole) or whole == 0:
        return None
    return float(part) / float(whole)


def _day_time(moment: Any) -> str:
    return f"{pd.Timestamp(moment):%Y-%m-%d %H:%M}"
