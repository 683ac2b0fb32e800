"""Feature drift: which feature tables to compare, and PSI/KS per numeric feature."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.exceptions import InvalidArgument
from workbench.health.checks import HealthThresholds, _Windows
from workbench.health.statistics import (
    _content_ordered,
    _deterministic_sample,
    compare_distributions,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from workbench.store import Store

__all__ = ["DERIVED_FEATURES", "FEATURE_TS"]

#: Time column every feature table carries; drift windows are cut on it.
FEATURE_TS = "feature_ts"
#: Name of the per-user daily aggregates used for drift when the store has no features.
DERIVED_FEATURES = "user_day"
_MAX_EVENT_TYPES = 8


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
    t = _content_ordered(table, FEATURE_TS)
    reference = _deterministic_sample(t, columns, w.start, w.recent_start, sample_size)
    recent = _deterministic_sample(t, columns, w.recent_start, w.end, sample_size)
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


def _finite_values(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def _round(value: float) -> float:
    # p-values can be tiny: keep significant digits, not decimals.
    return float(f"{value:.6g}")
