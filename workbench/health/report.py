"""The data health report: :func:`data_health` runs every check into a :class:`HealthReport`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.arguments import parse_time
from workbench.exceptions import InvalidArgument
from workbench.health.checks import (
    DAY,
    HealthThresholds,
    _check_freshness,
    _check_nulls,
    _check_quarantine,
    _check_volume,
    _day_time,
    _event_windows,
    _null_rates,
)
from workbench.health.drift import FEATURE_TS, _drift, _feature_tables
from workbench.health.statistics import _check_int
from workbench.scope import Scope

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from workbench.headline import Headline
    from workbench.store import Store

__all__ = ["HealthReport", "data_health"]


@dataclass
class HealthReport:
    """What :func:`data_health` found.

    Attributes
    ----------
    as_of : datetime
        When the report is taken (naive UTC); freshness is measured to it.
    reference, recent : tuple of datetime
        ``[start, end)`` of the two windows (UTC days): of events by event time, of
        batches (quarantine rates) by ingest time.
    scope : str
        Which events were checked (``"everything"``, or a scope described).
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
    scope: str
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

    def headline(self) -> Headline:
        """Healthy or not in one sentence; the first figure counts the failed checks."""
        from workbench.headline import Figure, Headline

        failures = self.failures
        total = len(self.checks) + len(self.drift)
        figures = (
            Figure("failed checks", len(failures), "count"),
            Figure("checks", total, "count"),
        )
        if not failures:
            return Headline(
                f"The data is healthy: all {len(self.checks)} checks (volume, freshness, nulls, "
                f"quarantine) passed and none of {len(self.drift)} features drifted, as of "
                f"{_day_time(self.as_of)} UTC.",
                "ok",
                figures,
            )
        named = [_plain_check(name) for name in failures[:3]]
        more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
        return Headline(
            f"{len(failures)} of {total} data checks failed: {'; '.join(named)}{more}.",
            "act",
            figures,
        )

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
            f"As of {_day_time(self.as_of)} UTC, scope {self.scope}: reference "
            f"{_span(self.reference)}, recent {_span(self.recent)} (events by event time, "
            "batches by ingest time).",
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
            "scope": self.scope,
            "thresholds": asdict(self.thresholds),
            "checks": self.checks,
            "drift": self.drift,
            "tables": {
                name: json.loads(getattr(self, name).to_json(orient="records", date_format="iso"))
                for name in ("volume", "freshness", "null_rates", "quarantine_rates")
            },
            "notes": list(self.notes),
        }


def data_health(
    store: Store,
    *,
    as_of: datetime | str | None = None,
    reference_days: int = 28,
    recent_days: int = 7,
    features: Sequence[str | ir.Table] | None = None,
    thresholds: HealthThresholds | Mapping[str, Any] | None = None,
    sample_size: int = 20_000,
    scope: Scope | str | Mapping[str, Any] | None = None,
) -> HealthReport:
    """Check volume, freshness, null rates, quarantine rates and feature drift.

    Parameters
    ----------
    store
        The store to check; it must hold events.
    as_of
        When the report is taken (datetime or ISO text; naive means UTC). Default: now,
        so a source that stopped sending fails freshness. The windows are the whole
        UTC days before the day of ``as_of``; give a past ``as_of`` to look back.
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
    scope
        Check only these events (a :class:`~workbench.scope.Scope`, its name in
        ``workbench.toml``, or None for every source).

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
    >>> report = data_health(store, as_of="2026-02-05T06:00")
    >>> report.passed, report.recent[0].date().isoformat()
    (True, '2026-01-29')
    >>> data_health(store).checks["freshness:synthetic.music"]["passed"]  # today: long silent
    False
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
    as_of = (
        datetime.now(UTC).replace(tzinfo=None) if as_of is None else parse_time(as_of, name="as_of")
    )
    read_scope = Scope.resolve(scope)

    with store.reading():  # one consistent view of the store, attached once
        events = read_scope.events(store.table("events"))
        windows = _event_windows(store, events, as_of, reference_days, recent_days)
        volume, checks = _check_volume(events, windows, thresholds)
        freshness, freshness_checks = _check_freshness(events, windows, thresholds, volume)
        checks |= freshness_checks
        columns = list(events.columns)
        null_tables = [_null_rates(events, events.ts, windows, name="events", columns=columns)]
        quarantine, quarantine_checks = _check_quarantine(
            store.table("batches"), windows, thresholds
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
        scope=read_scope.describe(),
        thresholds=thresholds,
        checks=checks,
        drift=drift,
        volume=volume,
        freshness=freshness,
        null_rates=null_rates,
        quarantine_rates=quarantine,
        notes=notes,
    )


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


def _span(window: tuple[datetime, datetime]) -> str:
    start, end = window
    return f"{start:%Y-%m-%d} to {end - DAY:%Y-%m-%d}"


def _plain_check(name: str) -> str:
    """``freshness:synthetic.music`` as ``freshness of synthetic.music``."""
    kind, _, subject = name.partition(":")
    return f"{kind} of {subject}" if subject else kind
