"""Data health: is the store fit to train on and to report from?

:func:`data_health` checks the store the way a data steward would each morning,
comparing a *recent* window of whole UTC days with a *reference* window just
before it::

    [start ....... reference ....... recent_start) [recent_start .. recent .. end)  as_of

- **volume**: events per source per day; a recent day fails when it leaves a band
  around the source's median day in the reference window;
- **freshness**: hours from each source's latest event to ``as_of``;
- **null rates** of every column of ``events`` and of every feature table;
- **quarantine rates** per ingest source per day, from ``batches``;
- **drift** of every numeric feature between the two windows: population
  stability index (:func:`population_stability_index`) and a two-sample
  Kolmogorov-Smirnov test (:func:`compare_distributions`).

``as_of`` defaults to the midnight (UTC) after the latest event, so the same store
always gives the same report and its last day counts as complete. Pass
``as_of=datetime.now(UTC)`` to measure freshness against the clock: the windows
then end at the midnight before ``as_of`` (the day in progress is left out of
volume and drift). The ingest log has its own clock: without ``as_of``, quarantine
rates are judged over the ``recent_days`` days up to the latest batch.

Only sources that sent events during the two windows are checked; a source silent
for longer is taken as retired (``freshness:store`` still says when the newest
event of any source arrived). Aggregates run in the store; only per-day results
and capped, deterministic samples of the features reach pandas.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.exceptions import InvalidArgument, TableNotFound

if TYPE_CHECKING:
    import altair as alt
    import ibis.expr.types as ir

    from workbench.store import Store

__all__ = [
    "DERIVED_FEATURES",
    "FEATURE_TS",
    "HealthReport",
    "HealthThresholds",
    "compare_distributions",
    "data_health",
    "plot_drift",
    "plot_volume",
    "population_stability_index",
]

#: Time column every feature table carries; drift windows are cut on it.
FEATURE_TS = "feature_ts"
#: Name of the per-user daily aggregates used for drift when the store has no features.
DERIVED_FEATURES = "user_day"
DAY = timedelta(days=1)
# A bin empty in one window would make the PSI infinite; it counts as this share instead.
_MIN_SHARE = 1e-4
_MAX_EVENT_TYPES = 8


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


@dataclass
class HealthReport:
    """What :func:`data_health` found.

    Attributes
    ----------
    as_of : datetime
        When the report is taken (naive UTC); freshness is measured to it.
    reference, recent : tuple of datetime
        ``[start, end)`` of the two windows of events and features (UTC days).
    batches_recent : tuple of datetime
        ``[start, end)`` of the window whose batches are judged for quarantine rates.
    thresholds : HealthThresholds
    checks : dict
        ``"kind:subject"`` -> ``{"passed", "value", "threshold", "detail"}``, kinds
        ``volume``, ``freshness``, ``nulls`` and ``quarantine``.
    drift : dict
        ``"table.column"`` -> ``{"psi", "ks_statistic", "ks_pvalue", "reference_size",
        "recent_size", "passed", "detail"}``.
    volume, freshness, null_rates, quarantine_rates : pandas.DataFrame
        The per-source, per-day tables behind the checks, for charts.
    notes : list of str
        Things worth knowing that are not failures (e.g. feature tables skipped).
    """

    as_of: datetime
    reference: tuple[datetime, datetime]
    recent: tuple[datetime, datetime]
    batches_recent: tuple[datetime, datetime]
    thresholds: HealthThresholds
    checks: dict[str, dict[str, Any]]
    drift: dict[str, dict[str, Any]]
    volume: pd.DataFrame
    freshness: pd.DataFrame
    null_rates: pd.DataFrame
    quarantine_rates: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed and no feature drifted."""
        return not self.failures

    @property
    def failures(self) -> list[str]:
        """Names of the failed checks, then ``drift:<feature>`` for drifted features."""
        failed = [name for name, check in self.checks.items() if not check["passed"]]
        return failed + [f"drift:{name}" for name, d in self.drift.items() if not d["passed"]]

    def checks_frame(self) -> pd.DataFrame:
        """The checks as a table: kind, subject, passed, value, threshold, detail."""
        rows = [
            {"kind": name.partition(":")[0], "subject": name.partition(":")[2], **check}
            for name, check in self.checks.items()
        ]
        columns = ["kind", "subject", "passed", "value", "threshold", "detail"]
        return pd.DataFrame(rows, columns=columns)

    def drift_frame(self) -> pd.DataFrame:
        """The drift results as a table, one row per feature."""
        columns = ["feature", "psi", "ks_statistic", "ks_pvalue", "reference_size"]
        columns += ["recent_size", "passed", "detail"]
        rows = [{"feature": name, **result} for name, result in self.drift.items()]
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> str:
        """The verdict in Markdown: passed or failed, the windows, and what failed."""
        failures = self.failures
        drifted = sum(not d["passed"] for d in self.drift.values())
        passed_checks = sum(check["passed"] for check in self.checks.values())
        verdict = "passed" if not failures else "FAILED"
        lines = [
            f"**Data health: {verdict}.** {passed_checks} of "
            f"{len(self.checks)} checks passed; {drifted} of {len(self.drift)} features "
            "failed the drift check.",
            "",
            f"As of {_day_time(self.as_of)} UTC: reference {_span(self.reference)}, "
            f"recent {_span(self.recent)}; batches {_span(self.batches_recent)}.",
        ]
        if failures:
            lines += ["", "Failed:"]
            for name in failures:
                if name.startswith("drift:"):
                    detail = self.drift[name.removeprefix("drift:")]["detail"]
                else:
                    detail = self.checks[name]["detail"]
                lines.append(f"- `{name}`: {detail}")
        if self.notes:
            lines += ["", "Notes:", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-serializable data (tables as lists of records)."""
        return {
            "passed": self.passed,
            "failures": self.failures,
            "as_of": self.as_of.isoformat(),
            "reference": [moment.isoformat() for moment in self.reference],
            "recent": [moment.isoformat() for moment in self.recent],
            "batches_recent": [moment.isoformat() for moment in self.batches_recent],
            "thresholds": asdict(self.thresholds),
            "checks": self.checks,
            "drift": self.drift,
            "tables": {
                name: json.loads(getattr(self, name).to_json(orient="records", date_format="iso"))
                for name in ("volume", "freshness", "null_rates", "quarantine_rates")
            },
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- statistics


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


# --------------------------------------------------------------------------- the report


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


def data_health(
    store: Store,
    *,
    as_of: datetime | str | None = None,
    reference_days: int = 28,
    recent_days: int = 7,
    features: Sequence[str | ir.Table] | None = None,
    thresholds: HealthThresholds | Mapping[str, Any] | None = None,
    sample_size: int = 20_000,
) -> HealthReport:
    """Check volume, freshness, null rates, quarantine rates and feature drift.

    Parameters
    ----------
    store
        The store to check; it must hold events.
    as_of
        When the report is taken (datetime or ISO text; naive means UTC). Default:
        the midnight after the latest event, so a store always gives the same report.
    reference_days, recent_days
        Lengths of the two windows in whole UTC days; ``recent_days >= 1`` and
        ``reference_days >= recent_days``. Multiples of 7 keep weekly cycles alike.
    features
        Feature tables to check for drift and nulls: store table names or Ibis
        tables with a ``feature_ts`` column, entity keys, and numeric feature columns
        (numeric columns named ``id`` or ``*_id`` are keys). A dict names them
        (``{"listening": expr}``); in a list, an Ibis table is named after the store
        table it reads, when it reads one directly. Default: the store's
        ``features_*`` tables, else per-user daily aggregates of events
        (:data:`DERIVED_FEATURES`: events, and mean ``value`` per event type).
        ``[]`` skips drift.
    thresholds
        :class:`HealthThresholds`, or a mapping of the fields to override.
    sample_size
        At most this many rows per feature table and window are pulled for drift,
        chosen by a hash of each row's content (the same data, the same sample).

    Returns
    -------
    HealthReport

    Raises
    ------
    InvalidArgument
        If a window, threshold, ``as_of`` or feature table cannot be used.
    TableNotFound
        If the store holds no events yet, or a named feature table does not exist.

    Examples
    --------
    >>> from workbench import Store, ingest
    >>> from workbench.datasets import make_music
    >>> store = Store.open("duckdb://:memory:")
    >>> _ = ingest(store, make_music(users=50, items=40, days=35).tables["events"])
    >>> report = data_health(store)
    >>> report.passed, report.recent[0].date().isoformat()
    (True, '2026-01-29')
    >>> report.checks["volume:synthetic.music"]["passed"], sorted(report.drift)[0]
    (True, 'user_day.events')
    """
    reference_days = _check_int("reference_days", reference_days, 1)
    recent_days = _check_int("recent_days", recent_days, 1)
    if reference_days < recent_days:
        raise InvalidArgument(
            f"reference_days ({reference_days}) is shorter than recent_days ({recent_days}); "
            "the reference is the baseline the recent window is judged against, so make it "
            "at least as long, e.g. reference_days=28, recent_days=7."
        )
    thresholds = _resolve_thresholds(thresholds)
    sample_size = _check_int("sample_size", sample_size, thresholds.min_drift_samples)
    given_as_of = None if as_of is None else _to_utc(as_of)

    with store.reading():  # one consistent view of the store, attached once
        events = store.table("events")
        windows = _event_windows(store, events, given_as_of, reference_days, recent_days)
        volume, checks = _check_volume(events, windows, thresholds)
        freshness, freshness_checks = _check_freshness(events, windows, thresholds, volume)
        checks |= freshness_checks
        columns = list(events.columns)
        null_tables = [_null_rates(events, events.ts, windows, name="events", columns=columns)]
        batch_windows = _batch_windows(store.table("batches"), given_as_of, windows, recent_days)
        quarantine, quarantine_checks = _check_quarantine(
            store.table("batches"), batch_windows, thresholds
        )
        tables, notes = _feature_tables(store, events, features, windows)
        drift: dict[str, dict[str, Any]] = {}
        for name, (table, numeric, derived) in tables.items():
            # Derived features inherit their gaps from events, whose nulls are checked.
            if not derived:
                time = table[FEATURE_TS].cast("timestamp")
                null_tables.append(_null_rates(table, time, windows, name=name, columns=numeric))
            drift |= _drift(name, table, numeric, windows, thresholds, sample_size)
    null_rates = pd.concat(null_tables, ignore_index=True)
    checks |= _check_nulls(null_rates, thresholds)
    checks |= quarantine_checks
    return HealthReport(
        as_of=windows.as_of,
        reference=(windows.start, windows.recent_start),
        recent=(windows.recent_start, windows.end),
        batches_recent=(batch_windows.recent_start, batch_windows.end),
        thresholds=thresholds,
        checks=checks,
        drift=drift,
        volume=volume,
        freshness=freshness,
        null_rates=null_rates,
        quarantine_rates=quarantine,
        notes=notes,
    )


def _event_windows(
    store: Store, events: ir.Table, as_of: datetime | None, reference: int, recent: int
) -> _Windows:
    found = events.aggregate(rows=events.count(), latest=events.ts.max()).execute()
    if int(found["rows"].iloc[0]) == 0:
        raise TableNotFound(
            f"The store {store.location} has no events yet, so there is nothing to check. "
            "Run `workbench ingest FILE` or `workbench generate music` first."
        )
    if as_of is None:
        as_of = _midnight(found["latest"].iloc[0]) + DAY
    return _Windows.ending(as_of, _midnight(as_of), reference=reference, recent=recent)


def _batch_windows(
    batches: ir.Table, as_of: datetime | None, windows: _Windows, recent: int
) -> _Windows:
    if as_of is not None:
        return windows
    latest = batches.started_at.max().execute()
    if latest is None or pd.isna(latest):
        return windows
    end = _midnight(latest) + DAY
    reference = (windows.recent_start - windows.start) // DAY
    return _Windows.ending(end, end, reference=reference, recent=recent)


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
    t = events.filter(events.ts <= w.as_of)
    latest = t.group_by(source=t.source.fill_null("(none)")).agg(latest=t.ts.max()).execute()
    latest["latest"] = pd.to_datetime(latest["latest"])
    # Sources silent through both windows are retired, not stale.
    active = latest[latest["source"].isin(volume["source"].unique())].sort_values("source")
    store_latest = latest["latest"].max() if len(latest) else pd.NaT
    rows = [*active.itertuples(index=False), ("store", store_latest)]
    limit = thresholds.max_staleness_hours
    checks, records = {}, []
    for source, moment in rows:
        if pd.isna(moment):
            hours, detail = None, f"no events up to as_of ({_day_time(w.as_of)} UTC)"
        else:
            hours = round((w.as_of - moment.to_pydatetime()) / timedelta(hours=1), 2)
            detail = f"latest event {_day_time(moment)} UTC, {hours:,.1f} h before as_of"
        passed = hours is not None and hours <= limit
        if not passed:
            who = "any source" if source == "store" else "this source"
            detail += f"; has {who} stopped sending? (limit {limit:g} h)"
        checks[f"freshness:{source}"] = {
            "passed": passed,
            "value": hours,
            "threshold": limit,
            "detail": detail,
        }
        records.append({"source": source, "latest": moment, "hours_stale": hours, "passed": passed})
    return pd.DataFrame(records, columns=["source", "latest", "hours_stale", "passed"]), checks


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
    b = batches.filter((batches.started_at >= w.start) & (batches.started_at < w.end))
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


# --------------------------------------------------------------------------- features


def _feature_tables(
    store: Store, events: ir.Table, features: Any, w: _Windows
) -> tuple[dict[str, tuple[ir.Table, list[str], bool]], list[str]]:
    """Feature name -> (table, numeric feature columns, derived from events?)."""
    import ibis.expr.types as ir

    found, notes = {}, []
    if features is None:
        for name in (n for n in store.tables() if n.startswith("features_")):
            table = store.table(name)
            numeric = _numeric_columns(table)
            if FEATURE_TS not in table.columns or not numeric:
                notes.append(f"{name} skipped: it needs a {FEATURE_TS} column and numeric features")
                continue
            found[name] = (table, numeric, False)
        if not found:
            table = _daily_user_features(events, w)
            found[DERIVED_FEATURES] = (table, _numeric_columns(table), True)
        return found, notes
    if isinstance(features, Mapping):
        given = [(str(name), item) for name, item in features.items()]
    elif isinstance(features, Sequence) and not isinstance(features, (str, ir.Table)):
        given = [(None, item) for item in features]
    else:
        raise InvalidArgument(
            "features must be a list of store table names or Ibis tables (or a dict naming "
            f"them), got {features!r:.80}."
        )
    for position, (label, item) in enumerate(given):
        if isinstance(item, str):
            name, table = label or item, store.table(item)
        elif isinstance(item, ir.Table):
            name, table = label or _table_name(item, position), item
        else:
            raise InvalidArgument(
                f"features[{position}] is a {type(item).__name__}; give a store table name "
                "or an Ibis table."
            )
        numeric = _numeric_columns(table)
        if FEATURE_TS not in table.columns or not table[FEATURE_TS].type().is_temporal():
            raise InvalidArgument(
                f"Feature table {name} has no {FEATURE_TS} timestamp column (columns: "
                f"{', '.join(table.columns)}); drift windows are cut on it."
            )
        if not numeric:
            raise InvalidArgument(f"Feature table {name} has no numeric feature columns.")
        found[name] = (table, numeric, False)
    return found, notes


def _daily_user_features(events: ir.Table, w: _Windows) -> ir.Table:
    """Per user and day: events, and the mean ``value`` of each frequent event type."""
    t = events.filter((events.ts >= w.start) & (events.ts < w.end))
    top = (
        t.group_by("event_type")
        .agg(n=t.count())
        .order_by([t.count().desc(), "event_type"])
        .limit(_MAX_EVENT_TYPES)
    )
    types = sorted(top.execute()["event_type"].dropna())
    means, taken = {}, {"events"}
    for event_type in types:
        name = "mean_value_" + (re.sub(r"\W+", "_", event_type.lower()).strip("_") or "blank")
        while name in taken:
            name += "_"
        taken.add(name)
        means[name] = t.value.mean(where=t.event_type == event_type)
    return t.group_by(user_id=t.user_id, **{FEATURE_TS: t.ts.truncate("D")}).agg(
        events=t.count(), **means
    )


def _drift(
    name: str,
    table: ir.Table,
    columns: list[str],
    w: _Windows,
    thresholds: HealthThresholds,
    sample_size: int,
) -> dict[str, dict[str, Any]]:
    import ibis

    # A hash of every value orders the rows: a deterministic sample, not the first rows.
    content = [table[c].cast("string").fill_null("\N{EMPTY SET}") for c in table.columns]
    t = table.mutate(
        _wb_time=table[FEATURE_TS].cast("timestamp"),
        _wb_order=ibis.literal("|").join(content).hash(),
    )

    def sample(start: datetime, end: datetime) -> pd.DataFrame:
        window = t.filter((t["_wb_time"] >= start) & (t["_wb_time"] < end))
        return window.order_by("_wb_order").limit(sample_size).select(*columns).execute()

    reference, recent = sample(w.start, w.recent_start), sample(w.recent_start, w.end)
    results = {}
    for column in columns:
        before = _finite_values(reference[column])
        after = _finite_values(recent[column])
        result: dict[str, Any] = {
            "psi": None,
            "ks_statistic": None,
            "ks_pvalue": None,
            "reference_size": int(before.size),
            "recent_size": int(after.size),
        }
        need = thresholds.min_drift_samples
        if min(before.size, after.size) < need:
            result["passed"] = False
            result["detail"] = (
                f"too few values to judge: {before.size} in the reference window, "
                f"{after.size} in the recent window (need {need} in each)"
            )
        else:
            stats = compare_distributions(before, after, bins=thresholds.psi_bins)
            drifted = stats["psi"] > thresholds.max_psi and stats["ks_pvalue"] < (
                thresholds.min_ks_pvalue
            )
            result |= {key: _round(value) for key, value in stats.items()}
            result["passed"] = not drifted
            relation = ">" if stats["psi"] > thresholds.max_psi else "<="
            result["detail"] = (
                f"PSI {stats['psi']:.3f} {relation} {thresholds.max_psi:g}, "
                f"KS p {stats['ks_pvalue']:.2g} (drift needs p < {thresholds.min_ks_pvalue:g})"
            )
        results[f"{name}.{column}"] = result
    return results


def _numeric_columns(table: ir.Table) -> list[str]:
    return [
        column
        for column, dtype in table.schema().items()
        if dtype.is_numeric() and column != "id" and not column.endswith("_id")
    ]


def _table_name(table: ir.Table, position: int) -> str:
    import ibis.common.exceptions as ibis_errors

    try:
        return table.get_name()
    except (AttributeError, ibis_errors.IbisError):
        return f"features_{position}"


# --------------------------------------------------------------------------- charts


def plot_volume(report: HealthReport) -> alt.LayerChart:
    """Events per source per day; the recent window shaded, flagged days in red."""
    import altair as alt

    data = report.volume.assign(ratio=report.volume["ratio"].round(3))
    x = alt.X("day:T", title="day (UTC)")
    y = alt.Y("events:Q", title="events")
    tooltip = ["source:N", "day:T", "events:Q", "reference_median:Q", "ratio:Q"]
    recent = alt.Chart(pd.DataFrame({"start": [report.recent[0]], "end": [report.recent[1]]}))
    shade = recent.mark_rect(color="#888", opacity=0.12).encode(x="start:T", x2="end:T")
    lines = alt.Chart(data).mark_line(point=True).encode(x, y, color="source:N", tooltip=tooltip)
    flagged = (
        alt.Chart(data[data["flagged"]])
        .mark_point(shape="diamond", size=160, filled=True, color="firebrick")
        .encode(x, y, tooltip=tooltip)
    )
    title = "Events per source per day (recent window shaded, flagged days red)"
    return alt.layer(shade, lines, flagged).properties(title=title, width=640, height=260)


def plot_drift(report: HealthReport) -> alt.LayerChart:
    """PSI per feature, drifted features in red, with the PSI threshold as a line."""
    import altair as alt

    data = report.drift_frame().dropna(subset=["psi"])
    color = (
        alt.when(alt.datum.passed).then(alt.value("steelblue")).otherwise(alt.value("firebrick"))
    )
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("psi:Q", title="population stability index"),
            y=alt.Y("feature:N", sort="-x", title=None),
            color=color,
            tooltip=["feature:N", "psi:Q", "ks_pvalue:Q", "recent_size:Q", "passed:N"],
        )
    )
    limit = pd.DataFrame({"psi": [report.thresholds.max_psi]})
    rule = alt.Chart(limit).mark_rule(color="firebrick", strokeDash=[4, 4]).encode(x="psi:Q")
    title = f"Drift: PSI recent vs reference (threshold {report.thresholds.max_psi:g})"
    return alt.layer(bars, rule).properties(title=title, width=640)


# --------------------------------------------------------------------------- helpers


def _per_day(expr: ir.Table) -> pd.DataFrame:
    frame = expr.execute()
    frame["day"] = pd.to_datetime(frame["day"]).astype("datetime64[us]")
    return frame


def _resolve_thresholds(thresholds: Any) -> HealthThresholds:
    if thresholds is None:
        return HealthThresholds()
    if isinstance(thresholds, HealthThresholds):
        return thresholds
    if isinstance(thresholds, Mapping):
        known = {f.name for f in fields(HealthThresholds)}
        unknown = sorted(set(thresholds) - known)
        if unknown:
            raise InvalidArgument(
                f"Unknown thresholds {', '.join(map(str, unknown))}; known: {', '.join(sorted(known))}."
            )
        return HealthThresholds(**thresholds)
    raise InvalidArgument(
        f"thresholds must be a HealthThresholds or a dict of its fields, got {thresholds!r:.80}."
    )


def _to_utc(value: Any) -> datetime:
    try:
        moment = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(
            f"as_of {value!r} is not a time; give a datetime or ISO text like '2026-03-01'."
        ) from error
    if pd.isna(moment):
        raise InvalidArgument(f"as_of {value!r} is not a time; give a datetime or ISO text.")
    if moment.tzinfo is not None:
        moment = moment.tz_convert("UTC").tz_localize(None)
    return moment.to_pydatetime()


def _midnight(moment: Any) -> datetime:
    return pd.Timestamp(moment).floor("D").to_pydatetime()


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite_values(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def _rate(part: Any, whole: Any) -> float | None:
    if whole is None or pd.isna(whole) or whole == 0:
        return None
    return float(part) / float(whole)


def _round(value: float) -> float:
    # p-values can be tiny: keep significant digits, not decimals.
    return float(f"{value:.6g}")


def _day_time(moment: Any) -> str:
    return f"{pd.Timestamp(moment):%Y-%m-%d %H:%M}"


def _span(window: tuple[datetime, datetime]) -> str:
    start, end = window
    return f"{start:%Y-%m-%d} to {end - DAY:%Y-%m-%d}"
