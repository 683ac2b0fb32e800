"""Point-in-time training sets: each label sees only features from before its time.

The join follows Feast's historical retrieval: a label row at time ``t`` gets
the feature row of its entity with the latest ``feature_ts <= t`` (and, with a
TTL, ``feature_ts >= t - ttl``). Since a feature row only uses input rows with
``ts < feature_ts``, the label sees only what happened strictly before ``t``.

On DuckDB the engine's ASOF join does this directly. PySpark cannot compile an
ASOF join, so there the latest eligible row is found portably: labels and
feature rows are stacked per entity and ordered by time (feature rows first on
ties), and a running maximum of ``feature_ts`` gives, at each label, the latest
feature row at or before it. Both plans give the same rows (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from workbench.exceptions import InvalidArgument
from workbench.features.helpers import (
    Duration,
    as_duration,
    as_keys,
    interval,
    require_columns,
    require_timestamp,
)

__all__ = ["training_set"]

_TIME, _KIND, _FEATURE_TS, _LATEST, _MATCH = (
    "_wb_time",
    "_wb_kind",
    "_wb_feature_ts",
    "_wb_latest",
    "_wb_match",
)


def training_set(
    labels: ir.Table,
    features: ir.Table,
    *,
    ttl: Duration | None = None,
    entity: str | Sequence[str] = "user_id",
    label_time: str = "ts",
    method: str = "auto",
) -> ir.Table:
    """Attach to each label the latest feature row computed strictly before its time.

    Parameters
    ----------
    labels : ibis.Table
        One row per training example: the ``entity`` column(s), a timestamp
        ``label_time`` and any other columns (targets, weights...). Every row
        is kept exactly once, duplicates included.
    features : ibis.Table
        A feature table: the ``entity`` column(s), ``feature_ts`` and feature
        columns, each row computed only from data with ``ts < feature_ts``
        (what the helpers in :mod:`workbench.features` return). It must have at
        most one row per (entity, ``feature_ts``); this is not checked, since
        checking would execute the query.
    ttl : int or timedelta, optional
        Ignore feature rows older than this at the label's time (an integer is
        a number of days). By default any earlier row qualifies.
    entity : str or sequence of str
        Column(s) that identify the entity in both tables.
    label_time : str
        The labels' timestamp column.
    method : {"auto", "asof", "portable"}
        ``"asof"`` uses the engine's ASOF join (DuckDB); ``"portable"`` the
        stack-and-running-max plan every engine compiles (PySpark has no ASOF
        join). ``"auto"`` picks ``"asof"`` for tables bound to DuckDB, else
        ``"portable"``. Both give the same rows.

    Returns
    -------
    ibis.Table
        The label columns, then ``feature_ts`` (which feature row was used) and
        the feature columns. A label with no eligible feature row keeps NULLs.

    Raises
    ------
    InvalidArgument
        If a column is missing, ``ttl`` is not positive, or a feature column
        has the same name as a label column.

    Examples
    --------
    >>> labels = ibis.table({"user_id": "string", "ts": "timestamp", "clicked": "int8"})
    >>> features = ibis.table(
    ...     {"user_id": "string", "feature_ts": "timestamp", "events_7d": "int64"}
    ... )
    >>> training_set(labels, features, ttl=30).columns
    ('user_id', 'ts', 'clicked', 'feature_ts', 'events_7d')
    """
    keys = as_keys(entity)
    window = None if ttl is None else interval(as_duration("ttl", ttl))
    _check_inputs(labels, features, keys=keys, label_time=label_time)
    if method not in ("auto", "asof", "portable"):
        raise InvalidArgument(f"method must be 'auto', 'asof' or 'portable', not {method!r}.")
    if method == "asof" or (method == "auto" and _backend_name(labels) == "duckdb"):
        return _asof_training_set(labels, features, keys=keys, label_time=label_time, window=window)
    time_type = features.feature_ts.type()

    stacked = _label_rows(labels, label_time, time_type).union(
        _feature_rows(features, labels, keys, time_type)
    )
    # Features first on ties: a row with feature_ts == label time is eligible.
    running = ibis.cumulative_window(group_by=keys, order_by=[stacked[_TIME], stacked[_KIND]])
    stacked = stacked.mutate(**{_LATEST: stacked[_FEATURE_TS].max().over(running)})
    found = stacked.filter(stacked[_KIND] == 1)
    # The comparison to the label time also rules out labels whose time is NULL,
    # which engines order differently (first on Spark, last on DuckDB).
    eligible = found[_LATEST] <= found[_TIME]
    if window is not None:
        eligible &= found[_LATEST] >= found[_TIME] - window
    found = found.mutate(**{_MATCH: ibis.ifelse(eligible, found[_LATEST], ibis.null(time_type))})

    values = features.rename({f"_wb_{key}": key for key in keys})
    joined = found.left_join(
        values,
        [found[key] == values[f"_wb_{key}"] for key in keys] + [found[_MATCH] == values.feature_ts],
    )
    feature_columns = [name for name in features.columns if name not in keys]
    return joined.select(*labels.columns, *feature_columns)


def _backend_name(table: ir.Table) -> str | None:
    """The engine a table is bound to, or None for unbound tables and memtables."""
    import ibis.common.exceptions as ibis_errors

    try:
        return table._find_backend(use_default=False).name
    except ibis_errors.IbisError:
        return None


def _asof_training_set(
    labels: ir.Table, features: ir.Table, *, keys: list[str], label_time: str, window
) -> ir.Table:
    """The same join through the engine's ASOF join, with the TTL applied afterwards.

    Ibis's ``tolerance=`` compiles to a wrong plan on DuckDB (ibis 12), so stale
    matches are blanked out here instead, as a hand-written ASOF query would.
    """
    time_type = features.feature_ts.type()
    labelled = labels.mutate(_wb_time=labels[label_time].cast(time_type))
    values = features.rename({f"_wb_{key}": key for key in keys})
    joined = labelled.asof_join(
        values,
        on=labelled._wb_time >= values.feature_ts,
        predicates=[labelled[key] == values[f"_wb_{key}"] for key in keys],
    )
    eligible = joined.feature_ts.notnull()
    if window is not None:
        eligible &= joined.feature_ts >= joined._wb_time - window
    feature_columns = [name for name in features.columns if name not in keys]
    return joined.select(
        *labels.columns,
        **{
            name: ibis.ifelse(eligible, joined[name], ibis.null(joined[name].type()))
            for name in feature_columns
        },
    )


def _check_inputs(
    labels: ir.Table, features: ir.Table, *, keys: list[str], label_time: str
) -> None:
    require_columns(labels, [*keys, label_time], argument="labels")
    require_columns(features, [*keys, "feature_ts"], argument="features")
    require_timestamp(labels, label_time, argument="labels")
    require_timestamp(features, "feature_ts", argument="features")
    clashes = sorted((set(labels.columns) - set(keys)) & set(features.columns))
    if clashes:
        raise InvalidArgument(
            f"labels and features both have the column(s) {', '.join(clashes)}; rename them "
            "in one of the tables, e.g. labels.rename(label_value='value')."
        )
    internal = [name for name in labels.columns if name.startswith("_wb_")]
    if internal:
        raise InvalidArgument(f"labels columns {internal} use the reserved prefix _wb_.")


def _label_rows(labels: ir.Table, label_time: str, time_type) -> ir.Table:
    return labels.mutate(
        **{
            _TIME: labels[label_time].cast(time_type),
            _KIND: ibis.literal(1, "int8"),
            _FEATURE_TS: ibis.null(time_type),
        }
    )


def _feature_rows(features: ir.Table, labels: ir.Table, keys: list[str], time_type) -> ir.Table:
    """Feature keys shaped like the label rows, so the two stack into one table."""
    schema = labels.schema()
    columns = {
        name: features[name].cast(dtype) if name in keys else ibis.null(dtype)
        for name, dtype in schema.items()
    }
    return features.select(
        **columns,
        **{
            _TIME: features.feature_ts,
            _KIND: ibis.literal(0, "int8"),
            _FEATURE_TS: features.feature_ts,
        },
    )
