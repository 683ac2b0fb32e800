"""Declared schemas of the store's tables, and the migrations between versions.

Every table the workbench reads or writes is declared here once: its columns
and DuckDB types, which columns an input must provide, which columns identify
a row (the dedup key), and which JSON column keeps the source columns a table
does not declare. Capture validates inputs against these declarations, so
adding a table here is all it takes to make it ingestable.

A fresh store is created at :data:`SCHEMA_VERSION` from the declarations; an
older store is brought forward by :data:`MIGRATIONS`, one version at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

#: Version of the layout described by :data:`TABLES`.
__all__ = [
    "CATALOG",
    "META_TABLE",
    "SCHEMA_VERSION",
    "TABLES",
    "TableSpec",
    "current_metric_name",
    "ingestable_tables",
]

SCHEMA_VERSION = 8

#: Catalog alias under which the store file is attached to the in-process engine.
CATALOG = "wb"

META_TABLE = "_workbench_meta"

#: Longest accepted identifier (ids, names, event types), in characters.
MAX_ID_LENGTH = 1024

#: Accepted range of event/observation times (UTC). Outside it a row is quarantined:
#: such times come from unit mix-ups (milliseconds read as seconds) or placeholders.
MIN_TIMESTAMP = "1970-01-01 00:00:00"
MAX_TIMESTAMP = "2100-01-01 00:00:00"


@dataclass(frozen=True)
class TableSpec:
    """The declaration of one store table.

    Attributes
    ----------
    name
        Table name in the store.
    columns
        Column name -> DuckDB type, in table order.
    required
        Columns every input row must provide (non-null).
    key
        Columns that identify a row; an input row whose key is already stored,
        or repeats an earlier row of the same input, is counted as a duplicate.
    extras_column
        JSON column that keeps the input columns this table does not declare.
    defaults
        Column -> how it is filled when the input has no such column at all:
        ``"now"`` (ingest time), ``"batch"`` (the batch id), ``"source"`` (the
        input's name), ``"content_hash"`` (a digest of the row's declared
        values, so identical rows dedup), ``"series_point"`` (``series_id@ts``, or
        ``series_id@ts/ts_end`` for a span).
    ingestable
        Whether ``workbench ingest --table NAME`` accepts it.
    """

    name: str
    columns: dict[str, str]
    required: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    extras_column: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    ingestable: bool = False
    description: str = ""

    def create_sql(self, catalog: str = CATALOG) -> str:
        """``CREATE TABLE`` statement for this declaration."""
        cols = ", ".join(f'"{name}" {sql_type}' for name, sql_type in self.columns.items())
        return f'CREATE TABLE IF NOT EXISTS {catalog}.main."{self.name}" ({cols})'

    def ibis_schema(self):
        """The declaration as an :class:`ibis.Schema`."""
        import ibis

        return ibis.schema({name: _IBIS_TYPES[t] for name, t in self.columns.items()})


_IBIS_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "DOUBLE": "float64",
    "BIGINT": "int64",
    "INTEGER": "int32",
    "TINYINT": "int8",
    "BOOLEAN": "boolean",
    "JSON": "json",
}

_BATCH = {"batch_id": "VARCHAR"}

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            META_TABLE,
            {"key": "VARCHAR", "value": "VARCHAR"},
            description="Schema version and other facts about the store itself.",
        ),
        TableSpec(
            "events",
            {
                "event_id": "VARCHAR",
                "ts": "TIMESTAMP",
                "user_id": "VARCHAR",
                "item_id": "VARCHAR",
                "event_type": "VARCHAR",
                "value": "DOUBLE",
                "context": "JSON",
                "source": "VARCHAR",
                **_BATCH,
            },
            required=("event_id", "ts", "user_id", "event_type"),
            key=("event_id",),
            extras_column="context",
            defaults={"event_id": "content_hash", "source": "source", "batch_id": "batch"},
            ingestable=True,
            description="Feedback events: plays, clicks, ratings, purchases ...",
        ),
        TableSpec(
            "quarantine",
            {
                "batch_id": "VARCHAR",
                "table_name": "VARCHAR",
                "row_number": "BIGINT",
                "raw": "VARCHAR",
                "reason": "VARCHAR",
            },
            description="Input rows that were not accepted, with the original text and why.",
        ),
        TableSpec(
            "batches",
            {
                "batch_id": "VARCHAR",
                "table_name": "VARCHAR",
                "source": "VARCHAR",
                "format": "VARCHAR",
                "content_sha256": "VARCHAR",
                "options": "JSON",
                "rows_in": "BIGINT",
                "accepted": "BIGINT",
                "quarantined": "BIGINT",
                "duplicates": "BIGINT",
                "started_at": "TIMESTAMP",
                "finished_at": "TIMESTAMP",
                "status": "VARCHAR",
            },
            description="One row per ingest: where it came from and where every row went.",
        ),
        TableSpec(
            "items",
            {"item_id": "VARCHAR", "attributes": "JSON", "updated_at": "TIMESTAMP", **_BATCH},
            required=("item_id", "updated_at"),
            key=("item_id", "updated_at"),
            extras_column="attributes",
            defaults={"updated_at": "now", "batch_id": "batch"},
            ingestable=True,
            description="Catalog items and their attributes, versioned by updated_at.",
        ),
        TableSpec(
            "users",
            {"user_id": "VARCHAR", "attributes": "JSON", "updated_at": "TIMESTAMP", **_BATCH},
            required=("user_id", "updated_at"),
            key=("user_id", "updated_at"),
            extras_column="attributes",
            defaults={"updated_at": "now", "batch_id": "batch"},
            ingestable=True,
            description="Users and their attributes, versioned by updated_at.",
        ),
        TableSpec(
            "observations",
            {
                "series_id": "VARCHAR",
                "ts": "TIMESTAMP",
                "value": "DOUBLE",
                "context": "JSON",
                **_BATCH,
            },
            required=("series_id", "ts", "value"),
            key=("series_id", "ts"),
            extras_column="context",
            defaults={"batch_id": "batch"},
            ingestable=True,
            description="Metric time series for anomaly detection.",
        ),
        TableSpec(
            "labels",
            {
                "target": "VARCHAR",
                "series_id": "VARCHAR",
                "ts": "TIMESTAMP",
                "label": "TINYINT",
                "source": "VARCHAR",
                "labeled_at": "TIMESTAMP",
                "context": "JSON",
                **_BATCH,
                # Last: version 8 added it to stores that had the rest.
                "ts_end": "TIMESTAMP",
            },
            required=("target", "label", "source", "labeled_at"),
            key=("target", "source", "labeled_at"),
            extras_column="context",
            defaults={
                "target": "series_point",
                "source": "source",
                "labeled_at": "now",
                "batch_id": "batch",
            },
            ingestable=True,
            description=(
                "Judgements: 1 anomalous / 0 normal, for an event id, a series point, or a "
                "span of a series (ts to ts_end, both included)."
            ),
        ),
        TableSpec(
            "assignments",
            {
                "experiment": "VARCHAR",
                "unit_id": "VARCHAR",
                "variant": "VARCHAR",
                "assigned_at": "TIMESTAMP",
                "context": "JSON",
                **_BATCH,
            },
            required=("experiment", "unit_id", "variant", "assigned_at"),
            key=("experiment", "unit_id"),
            extras_column="context",
            defaults={"batch_id": "batch"},
            ingestable=True,
            description="Which variant of which experiment each unit was assigned to.",
        ),
        TableSpec(
            "deliveries",
            {
                "delivery_id": "VARCHAR",
                "ts": "TIMESTAMP",
                "user_id": "VARCHAR",
                "context": "JSON",
                "item_id": "VARCHAR",
                "position": "INTEGER",
                "policy": "VARCHAR",
                "propensity": "DOUBLE",
                "model": "VARCHAR",
                "version": "INTEGER",
                "experiment": "VARCHAR",
                "variant": "VARCHAR",
                "reward": "DOUBLE",
                **_BATCH,
            },
            required=("delivery_id", "ts", "user_id", "item_id"),
            key=("delivery_id",),
            extras_column="context",
            defaults={"delivery_id": "content_hash", "batch_id": "batch"},
            ingestable=True,
            description="Every item shown to a user, with its propensity and model version.",
        ),
        TableSpec(
            "model_versions",
            {
                "name": "VARCHAR",
                "version": "INTEGER",
                "created_at": "TIMESTAMP",
                "params": "JSON",
                "metrics": "JSON",
                "training_digest": "VARCHAR",
                "code_version": "VARCHAR",
                "feature_set": "VARCHAR",
                "signature": "JSON",
                "artifact_path": "VARCHAR",
                "artifact_sha256": "VARCHAR",
            },
            key=("name", "version"),
            description="Immutable registered model versions.",
        ),
        TableSpec(
            "model_aliases",
            {
                "name": "VARCHAR",
                "alias": "VARCHAR",
                "version": "INTEGER",
                "updated_at": "TIMESTAMP",
            },
            key=("name", "alias"),
            description="Movable aliases (champion, challenger) pointing at versions.",
        ),
        TableSpec(
            "model_alias_log",
            {
                "seq": "BIGINT",
                "name": "VARCHAR",
                "alias": "VARCHAR",
                "action": "VARCHAR",
                "version": "INTEGER",
                "previous_version": "INTEGER",
                "metric": "VARCHAR",
                "candidate_value": "DOUBLE",
                "champion_value": "DOUBLE",
                "holdout": "VARCHAR",
                "override_reason": "VARCHAR",
                "actor": "VARCHAR",
                "at": "TIMESTAMP",
            },
            key=("seq",),
            description="Every move of a model alias: promotions (with the gate's figures and any "
            "override reason), rollbacks, who and when.",
        ),
        TableSpec(
            "model_measurements",
            {
                "name": "VARCHAR",
                "version": "INTEGER",
                "holdout": "VARCHAR",
                "metrics": "JSON",
                "measured_at": "TIMESTAMP",
            },
            key=("name", "version", "holdout"),
            description="A registered version measured again on another holdout (a champion "
            "scored on a candidate's test rows), so the gate can compare them on the same data.",
        ),
        TableSpec(
            "recommendations",
            {
                "model": "VARCHAR",
                "version": "INTEGER",
                "user_id": "VARCHAR",
                "rank": "INTEGER",
                "item_id": "VARCHAR",
                "score": "DOUBLE",
                "computed_at": "TIMESTAMP",
            },
            key=("model", "version", "user_id", "rank"),
            description="Precomputed top-k lists per user (delivery A).",
        ),
        TableSpec(
            "online_states",
            {
                "state": "VARCHAR",
                "event_types": "JSON",
                "created_at": "TIMESTAMP",
                "updated_at": "TIMESTAMP",
                "events_applied": "BIGINT",
            },
            key=("state",),
            description="Incremental model states: which events they count, how many so far.",
        ),
        TableSpec(
            "online_batches",
            {
                "state": "VARCHAR",
                "batch_id": "VARCHAR",
                "events": "BIGINT",
                "applied_at": "TIMESTAMP",
            },
            key=("state", "batch_id"),
            description="The watermark of each incremental state: the event batches it applied.",
        ),
        TableSpec(
            "online_user_items",
            {
                "state": "VARCHAR",
                "user_id": "VARCHAR",
                "item_id": "VARCHAR",
                "first_ts": "TIMESTAMP",
            },
            key=("state", "user_id", "item_id"),
            description="Each user's distinct items, as counted by an incremental state.",
        ),
        TableSpec(
            "online_item_counts",
            {
                "state": "VARCHAR",
                "item_id": "VARCHAR",
                "events": "BIGINT",
                "users": "BIGINT",
                "last_ts": "TIMESTAMP",
            },
            key=("state", "item_id"),
            description="Incremental popularity: events and distinct users per item.",
        ),
        TableSpec(
            "online_cooccurrence",
            {
                "state": "VARCHAR",
                "item_a": "VARCHAR",
                "item_b": "VARCHAR",
                "users": "BIGINT",
            },
            key=("state", "item_a", "item_b"),
            description="Incremental co-occurrence: users who interacted with both items (a < b).",
        ),
        TableSpec(
            "alerts",
            {
                "alert_id": "VARCHAR",
                "scan_id": "VARCHAR",
                "detector": "VARCHAR",
                "series_id": "VARCHAR",
                "ts": "TIMESTAMP",
                "window_start": "TIMESTAMP",
                "window_end": "TIMESTAMP",
                "value": "DOUBLE",
                "expected": "DOUBLE",
                "score": "DOUBLE",
                "threshold": "DOUBLE",
                "reason": "VARCHAR",
                "created_at": "TIMESTAMP",
            },
            key=("detector", "series_id", "ts"),
            description="Points a scan flagged: score, threshold, the window scored, and why.",
        ),
        TableSpec(
            "scans",
            {
                "scan_id": "VARCHAR",
                "detector": "VARCHAR",
                "params": "JSON",
                "since": "TIMESTAMP",
                "until": "TIMESTAMP",
                "series_total": "BIGINT",
                "series_scanned": "BIGINT",
                "series_skipped": "JSON",
                "points": "BIGINT",
                "alerts": "BIGINT",
                "started_at": "TIMESTAMP",
                "finished_at": "TIMESTAMP",
                "status": "VARCHAR",
            },
            key=("scan_id",),
            description="Broad anomaly scans: what they covered, what the time budget left out.",
        ),
        TableSpec(
            "runs",
            {
                "run_id": "VARCHAR",
                "job": "VARCHAR",
                "notebook": "VARCHAR",
                "params": "JSON",
                "status": "VARCHAR",
                "started_at": "TIMESTAMP",
                "finished_at": "TIMESTAMP",
                "output_path": "VARCHAR",
                "report_path": "VARCHAR",
                "error": "VARCHAR",
                "results": "JSON",
                "notebook_sha256": "VARCHAR",
                "inputs_digest": "VARCHAR",
                "trigger": "VARCHAR",
                "code_digest": "VARCHAR",
            },
            key=("run_id",),
            description="Notebook runs: parameters, status, outputs and recorded results.",
        ),
    ]
}


def ingestable_tables() -> list[str]:
    """Names of the tables ``ingest`` accepts."""
    return [name for name, spec in TABLES.items() if spec.ingestable]


# --- migrations -------------------------------------------------------------------------

#: The layout of version 1, kept verbatim so old stores can be recognised and tested.
#: Version 1 captured events only: batches and quarantine did not say which table a
#: batch was for, and the other tables did not exist yet.
V1_DDL = [
    f"CREATE TABLE {CATALOG}.main.{META_TABLE} (key VARCHAR, value VARCHAR)",
    f"CREATE TABLE {CATALOG}.main.events (event_id VARCHAR, ts TIMESTAMP, user_id VARCHAR, "
    "item_id VARCHAR, event_type VARCHAR, value DOUBLE, context JSON, source VARCHAR, "
    "batch_id VARCHAR)",
    f"CREATE TABLE {CATALOG}.main.quarantine (batch_id VARCHAR, row_number BIGINT, "
    "raw VARCHAR, reason VARCHAR)",
    f"CREATE TABLE {CATALOG}.main.batches (batch_id VARCHAR, source VARCHAR, "
    "content_sha256 VARCHAR, rows_in BIGINT, accepted BIGINT, quarantined BIGINT, "
    "duplicates BIGINT, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR)",
    f"INSERT INTO {CATALOG}.main.{META_TABLE} VALUES ('schema_version', '1')",
]


def _migrate_1_to_2(con: duckdb.DuckDBPyConnection) -> None:
    """Version 2 ingests every table through one path: batches say which table, how it was read."""
    c = f"{CATALOG}.main"
    con.execute(f"ALTER TABLE {c}.batches ADD COLUMN table_name VARCHAR DEFAULT 'events'")
    con.execute(f"ALTER TABLE {c}.batches ADD COLUMN format VARCHAR")
    # How the bytes were read (format, mapping, encoding, epoch unit): the same file read
    # another way is another batch. Version 1 batches read events with the defaults.
    con.execute(f"ALTER TABLE {c}.batches ADD COLUMN options JSON")
    con.execute(f"UPDATE {c}.batches SET table_name = 'events' WHERE table_name IS NULL")
    con.execute(f"ALTER TABLE {c}.quarantine ADD COLUMN table_name VARCHAR DEFAULT 'events'")
    con.execute(f"UPDATE {c}.quarantine SET table_name = 'events' WHERE table_name IS NULL")
    for spec in TABLES.values():
        con.execute(spec.create_sql())


def _migrate_2_to_3(con: duckdb.DuckDBPyConnection) -> None:
    """Version 3 keeps what each run depended on, every alias move, and incremental state."""
    # The notebook and input digests let an unchanged rerun be skipped; the trigger says
    # whether a person, a schedule or the demo started it.
    # (A version 1 store reaches here with runs created at the latest layout already.)
    for column in ("notebook_sha256", "data_digest", "trigger"):
        con.execute(f"ALTER TABLE {CATALOG}.main.runs ADD COLUMN IF NOT EXISTS {column} VARCHAR")
    for spec in TABLES.values():
        con.execute(spec.create_sql())


def _migrate_3_to_4(con: duckdb.DuckDBPyConnection) -> None:
    """Version 4 adds anomaly scans and the alerts they raise, and the code a run ran."""
    # Runs recorded before have no code digest, so they never count as up to date: each
    # job runs once more on the upgraded workbench.
    con.execute(f"ALTER TABLE {CATALOG}.main.runs ADD COLUMN IF NOT EXISTS code_digest VARCHAR")
    for spec in TABLES.values():
        con.execute(spec.create_sql())


def _migrate_4_to_5(con: duckdb.DuckDBPyConnection) -> None:
    """Version 5 keeps versions measured again on other holdouts (``model_measurements``)."""
    for spec in TABLES.values():
        con.execute(spec.create_sql())


def _migrate_5_to_6(con: duckdb.DuckDBPyConnection) -> None:
    """Version 6 names each digest for what it covers: a model's rows, a run's inputs."""
    # Both were "data_digest": the rows that trained a model, and the state of the
    # store tables a run read. Different things; now different names.
    _rename_column(con, "model_versions", "data_digest", "training_digest")
    _rename_column(con, "runs", "data_digest", "inputs_digest")


def _migrate_6_to_7(con: duckdb.DuckDBPyConnection) -> None:
    """Version 7 spells each metric one way: ``ndcg@10`` is now ``ndcg_at_10_score``."""
    c = f"{CATALOG}.main"
    keys = {
        "model_versions": ("name", "version"),
        "model_measurements": ("name", "version", "holdout"),
    }
    for table, key in keys.items():
        rows = con.execute(f"SELECT {', '.join(key)}, metrics FROM {c}.{table}").fetchall()
        for *where, text in rows:
            stored = json.loads(text) if text else None
            if not isinstance(stored, dict):
                continue
            # A version keeps {"values": {...}, "holdout": ...}; a measurement the values.
            values = stored.get("values", stored)
            renamed = {current_metric_name(name): value for name, value in values.items()}
            stored = {**stored, "values": renamed} if "values" in stored else renamed
            condition = " AND ".join(f"{column} = ?" for column in key)
            con.execute(
                f"UPDATE {c}.{table} SET metrics = ? WHERE {condition}",
                [json.dumps(stored), *where],
            )
    for (metric,) in con.execute(
        f"SELECT DISTINCT metric FROM {c}.model_alias_log WHERE metric IS NOT NULL"
    ).fetchall():
        if current_metric_name(metric) != metric:
            con.execute(
                f"UPDATE {c}.model_alias_log SET metric = ? WHERE metric = ?",
                [current_metric_name(metric), metric],
            )


# Metric names of workbench versions before schema 7: ndcg@10, ndcg@10_low, map, ...
_OLD_METRIC = re.compile(
    r"^(precision|recall|ndcg|map|catalog_coverage|novelty)@(\d+)(_low|_high)?$"
)
_OLD_MAP = re.compile(r"^map(_low|_high)?$")


def current_metric_name(name: str) -> str:
    """The name a metric recorded by an earlier workbench has now; other names unchanged.

    >>> current_metric_name("ndcg@10"), current_metric_name("map_low")
    ('ndcg_at_10_score', 'mean_average_precision_score_low')
    >>> current_metric_name("ndcg_at_10_score")
    'ndcg_at_10_score'
    """
    old = _OLD_METRIC.match(name)
    if old:
        return f"{old[1]}_at_{old[2]}_score{old[3] or ''}"
    bare = _OLD_MAP.match(name)
    if bare:
        return f"mean_average_precision_score{bare[1] or ''}"
    return name


def _rename_column(con: duckdb.DuckDBPyConnection, table: str, old: str, new: str) -> None:
    """Rename ``old`` to ``new``; drop ``old`` when ``new`` already exists.

    A store that started at version 1 got its later tables created at the latest
    layout (so with ``new``) before an older step added ``old``, always empty, to them.
    """
    columns = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
            "AND schema_name = 'main' AND table_name = ?",
            [CATALOG, table],
        ).fetchall()
    }
    if old not in columns:
        return
    if new in columns:
        con.execute(f"ALTER TABLE {CATALOG}.main.{table} DROP COLUMN {old}")
    else:
        con.execute(f"ALTER TABLE {CATALOG}.main.{table} RENAME COLUMN {old} TO {new}")


def _migrate_7_to_8(con: duckdb.DuckDBPyConnection) -> None:
    """Version 8 lets a label cover a span of a series: ``labels.ts_end``."""
    con.execute(f"ALTER TABLE {CATALOG}.main.labels ADD COLUMN IF NOT EXISTS ts_end TIMESTAMP")


#: from_version -> function that brings a store from that version to the next.
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: _migrate_1_to_2,
    2: _migrate_2_to_3,
    3: _migrate_3_to_4,
    4: _migrate_4_to_5,
    5: _migrate_5_to_6,
    6: _migrate_6_to_7,
    7: _migrate_7_to_8,
}
