"""Materialization: feature tables written to the store, and an online table kept fresh.

A :class:`FeatureSet` names a recipe (events in, feature table out).
:func:`materialize` writes its rows up to ``as_of`` to ``features_<name>`` and the
latest row per entity to ``online_<name>``. The first run computes everything;
later runs are incremental: only entities with events newer than the watermark
(the previous ``as_of``) are recomputed, from the events their features can read,
and their rows replace the old ones. The result equals a full recompute (tested),
as long as events arrive in time order: an event stamped before the watermark but
ingested after it is only picked up by ``materialize(..., full=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from workbench.arguments import parse_time
from workbench.exceptions import InvalidArgument
from workbench.schema import CATALOG, META_TABLE, TABLES

if TYPE_CHECKING:
    import duckdb
    import ibis.expr.types as ir

    from workbench.store import Store


@dataclass(frozen=True)
class FeatureSet:
    """A named feature recipe: ``build(events) -> feature table``.

    Attributes
    ----------
    name
        Tables are ``features_<name>`` and ``online_<name>``.
    build
        Takes an events table expression, returns a feature table keyed by
        ``entity`` plus ``feature_ts`` whose values come only from events before
        ``feature_ts`` (the contract of :mod:`workbench.features`).
    entity
        Entity key columns, in the events and in the feature table.
    lookback
        How far before a feature row's ``feature_ts`` its values read (the longest
        window, and recency). ``None``: the whole history of an entity, always exact.
    settle
        How long after an event a feature row summarizing it can appear (the
        snapshot grid, one day for the daily helpers).
    source
        The store table ``build`` reads.
    """

    name: str
    build: Callable[[ir.Table], ir.Table]
    entity: tuple[str, ...] = ("user_id",)
    lookback: timedelta | None = None
    settle: timedelta = timedelta(days=1)
    source: str = "events"


@dataclass
class MaterializeReport:
    """What one :func:`materialize` call did."""

    name: str
    mode: str  # "full" or "incremental"
    as_of: str
    previous_watermark: str | None
    entities_recomputed: int | None = None  # None for a full run
    feature_rows: int = 0  # rows in features_<name> afterwards
    online_rows: int = 0  # rows in online_<name> afterwards
    rows_written: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return asdict(self)


def materialize(
    store: Store,
    feature_set: FeatureSet,
    *,
    as_of: datetime | str | None = None,
    full: bool = False,
) -> MaterializeReport:
    """Write ``features_<name>`` and ``online_<name>`` as of ``as_of``.

    Parameters
    ----------
    store
        The store holding the events and receiving the tables.
    feature_set
        The recipe to materialize.
    as_of
        Events strictly before this time are used and feature rows up to it are
        kept (UTC; default now). Must not go back before the previous run.
    full
        Recompute everything instead of updating incrementally.
    """
    import ibis

    cutoff = _as_naive_utc(as_of)
    _check_name(feature_set.name)
    key = f"watermark:features_{feature_set.name}"
    watermark = _read_meta(store, key)
    if watermark is not None and cutoff < watermark and not full:
        raise InvalidArgument(
            f"as_of {cutoff} is before the last materialization of {feature_set.name!r} "
            f"({watermark}); pass full=True to rebuild it as of an earlier time."
        )
    incremental = watermark is not None and not full
    report = MaterializeReport(
        name=feature_set.name,
        mode="incremental" if incremental else "full",
        as_of=cutoff.isoformat(),
        previous_watermark=watermark.isoformat() if watermark else None,
    )
    events = store.table(feature_set.source)
    upto = ibis.literal(cutoff)
    if incremental:
        touched = (
            events.filter(
                events.ts >= ibis.literal(watermark - feature_set.settle), events.ts < upto
            )
            .select(*feature_set.entity)
            .distinct()
        )
        history = events.filter(events.ts < upto).semi_join(touched, list(feature_set.entity))
        if feature_set.lookback is not None:
            oldest = watermark - feature_set.settle - feature_set.lookback
            history = history.filter(history.ts >= ibis.literal(oldest))
        rows = feature_set.build(history)
        rows = rows.filter(rows.feature_ts > ibis.literal(watermark), rows.feature_ts <= upto)
        report.entities_recomputed = int(touched.count().execute())
    else:
        rows = feature_set.build(events.filter(events.ts < upto))
        rows = rows.filter(rows.feature_ts <= upto)
    new_rows = rows.to_pyarrow()
    _write(store, feature_set, new_rows, incremental=incremental, watermark_key=key, cutoff=cutoff)
    report.rows_written = new_rows.num_rows
    report.feature_rows = store.table(f"features_{feature_set.name}").count().execute()
    report.online_rows = store.table(f"online_{feature_set.name}").count().execute()
    return report


def _write(
    store: Store,
    feature_set: FeatureSet,
    rows,
    *,
    incremental: bool,
    watermark_key: str,
    cutoff: datetime,
) -> None:
    """Replace or update both tables and move the watermark, all in one transaction."""
    features = f"{CATALOG}.main.features_{feature_set.name}"
    online = f"{CATALOG}.main.online_{feature_set.name}"
    entity = ", ".join(f'"{c}"' for c in feature_set.entity)
    same_entity = " AND ".join(f't."{c}" = n."{c}"' for c in feature_set.entity)
    with store.transaction() as raw:
        raw.register("__wb_feature_rows", rows)
        try:
            if not incremental or not _exists(raw, f"features_{feature_set.name}"):
                raw.execute(
                    f"CREATE OR REPLACE TABLE {features} AS SELECT * FROM __wb_feature_rows"
                )
            else:
                raw.execute(
                    f"DELETE FROM {features} t WHERE EXISTS (SELECT 1 FROM __wb_feature_rows n "
                    f"WHERE {same_entity} AND t.feature_ts >= n.feature_ts)"
                )
                raw.execute(f"INSERT INTO {features} BY NAME SELECT * FROM __wb_feature_rows")
            latest = (
                f"SELECT * FROM {features} QUALIFY row_number() OVER "
                f"(PARTITION BY {entity} ORDER BY feature_ts DESC) = 1"
            )
            raw.execute(f"CREATE OR REPLACE TABLE {online} AS {latest}")
            _write_meta(raw, watermark_key, cutoff.isoformat())
        finally:
            raw.unregister("__wb_feature_rows")


def _exists(raw: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        raw.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
            [CATALOG, table],
        ).fetchone()[0]
    )


def _read_meta(store: Store, key: str) -> datetime | None:
    with store.reading() as raw:
        row = raw.execute(
            f"SELECT value FROM {CATALOG}.main.{META_TABLE} WHERE key = ?", [key]
        ).fetchone()
    return datetime.fromisoformat(row[0]) if row else None


def _write_meta(raw: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    raw.execute(f"DELETE FROM {CATALOG}.main.{META_TABLE} WHERE key = ?", [key])
    raw.execute(f"INSERT INTO {CATALOG}.main.{META_TABLE} VALUES (?, ?)", [key, value])


def _as_naive_utc(value: datetime | str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return parse_time(value, name="as_of")


def _check_name(name: str) -> None:
    if not name or not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise InvalidArgument(
            f"Feature set name {name!r} must start with a letter and hold only letters, "
            "digits and underscores (it names the tables features_<name> and online_<name>)."
        )
    taken = sorted({f"features_{name}", f"online_{name}"} & set(TABLES))
    if taken:
        raise InvalidArgument(
            f"Feature set name {name!r} would write {', '.join(taken)}, a table the workbench "
            "declares for itself: choose another name."
        )
