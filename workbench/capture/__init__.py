"""Capture: parse -> validate -> quarantine -> dedup -> append, losing nothing.

Every input row ends in exactly one place: accepted into its table, quarantined
with the original text and a reason a person can act on, or counted as a
duplicate (its key is already stored, or repeats an earlier row of the same
input). ``rows_in == accepted + quarantined + duplicates`` for every batch, and a
batch is all in or all out. Re-ingesting identical content changes nothing and
says so.

The work is split three ways: :mod:`~workbench.capture.staging` turns any input
into one relation (broken text lines become rows with a parse error),
:mod:`~workbench.capture.validation` builds the SQL that types and judges each
row from the table's declaration, and this module runs it in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench.capture.staging import FORMATS, ROW, STAGE, TEXT_FORMATS, Staged, stage_input
from workbench.capture.validation import EPOCH_UNITS, Plan, build_plan
from workbench.exceptions import IngestError
from workbench.faults import crash_point
from workbench.schema import CATALOG, TABLES, TableSpec, ingestable_tables
from workbench.sql import identifier, literal

if TYPE_CHECKING:
    import duckdb

    from workbench.store import Store

__all__ = ["EPOCH_UNITS", "FORMATS", "IngestReport", "ingest", "ingestable_spec"]

_CHECKED, _DUPLICATES = "__wb_checked", "__wb_duplicates"


@dataclass
class IngestReport:
    """Where every row of one input went.

    ``status`` is ``"committed"`` (a new batch was written), ``"already_ingested"``
    (identical content was ingested before as ``previous_batch_id``; nothing
    changed) or ``"empty"`` (the input held no rows; nothing written).
    ``reasons`` counts the quarantine reasons, with row-specific values folded.
    """

    batch_id: str
    table: str
    source: str
    format: str
    content_sha256: str
    options: dict[str, Any] = field(default_factory=dict)
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    status: str = "committed"
    started_at: str = ""
    finished_at: str = ""
    previous_batch_id: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        """Whether ``rows_in == accepted + quarantined + duplicates``."""
        return self.rows_in == self.accepted + self.quarantined + self.duplicates

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-serializable data."""
        return asdict(self)

    def summary(self) -> str:
        """One sentence about the batch, for people."""
        if self.status == "already_ingested":
            return (
                f"{self.source}: already ingested into {self.table} as batch "
                f"{self.previous_batch_id}; nothing changed."
            )
        if self.status == "empty":
            return f"{self.source}: no rows to ingest; nothing changed."
        return (
            f"{self.source} -> {self.table} (batch {self.batch_id}): {self.rows_in:,} rows in, "
            f"{self.accepted:,} accepted, {self.quarantined:,} quarantined, "
            f"{self.duplicates:,} duplicates."
        )


def ingest(
    store: Store,
    source: str | os.PathLike[str] | Any,
    *,
    table: str = "events",
    format: str | None = None,
    mapping: Mapping[str, str] | None = None,
    source_name: str | None = None,
    encoding: str = "utf-8",
    epoch_unit: str = "s",
    progress: bool = False,
) -> IngestReport:
    """Ingest a file or an in-memory table into ``table``, accounting for every row.

    Parameters
    ----------
    store
        The store to write to.
    source
        A path (CSV, TSV, Parquet, JSON lines, MovieLens ``u.data``), a pandas
        DataFrame, or a pyarrow Table.
    table
        Target table: one of :func:`workbench.schema.ingestable_tables`.
    format
        ``csv``, ``tsv``, ``parquet``, ``jsonl`` or ``movielens``; inferred from the
        file name when omitted.
    mapping
        ``{table_column: source_column}`` for inputs whose names differ.
        Source columns the table does not declare are kept in its JSON column
        (``context`` or ``attributes``), never dropped.
    source_name
        What ``batches.source`` (and ``events.source`` when the input has none)
        records; defaults to the file name, or ``dataframe``.
    encoding
        Text encoding of CSV/JSON inputs. Lines that do not decode are quarantined.
    epoch_unit
        Unit of numeric timestamps: ``s``, ``ms`` or ``us`` since 1970-01-01 UTC.
    progress
        Show progress on the terminal: a bar while text files are parsed, then a
        spinner while rows are checked and appended.

    Returns
    -------
    IngestReport
        Where every row went; ``report.reconciles`` is always true.

    Examples
    --------
    >>> import pandas as pd
    >>> from workbench.store import Store
    >>> store = Store.open("duckdb://:memory:")
    >>> rows = pd.DataFrame({"event_id": ["e1", "e2", "e1"], "ts": ["2026-01-01T10:00:00Z"] * 3,
    ...                      "user_id": ["u1", "", "u1"], "event_type": "play", "device": "tv"})
    >>> report = ingest(store, rows)
    >>> (report.rows_in, report.accepted, report.quarantined, report.duplicates)
    (3, 1, 1, 1)
    >>> ingest(store, rows).status
    'already_ingested'
    """
    spec = ingestable_spec(table)
    if epoch_unit not in EPOCH_UNITS:
        raise IngestError(f"epoch_unit {epoch_unit!r} is not one of {', '.join(EPOCH_UNITS)}.")
    started = datetime.now(UTC).replace(tzinfo=None)
    staged = stage_input(source, format=format, encoding=encoding, progress=progress)
    report = IngestReport(
        batch_id=f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        table=spec.name,
        source=source_name or staged.name,
        format=staged.format,
        content_sha256=staged.sha256,
        options=_reading_options(staged.format, mapping, encoding=encoding, epoch_unit=epoch_unit),
        started_at=started.isoformat(),
    )
    with _working(progress, f"Checking and appending {staged.rows:,} rows"):
        # One session on the store file per ingest (attaching it is not free): a repeat
        # of stored bytes is found below, where the store is held.
        if staged.rows == 0:
            report.status = "empty"
        else:
            try:
                # Typing and judging every row reads nothing stored: it runs without the
                # store, so other processes read and write meanwhile. Only finding the
                # duplicates and appending hold the store exclusively.
                with store.scratch() as raw:
                    staged.register(raw)
                    plan = build_plan(
                        raw,
                        spec,
                        mapping or {},
                        name=report.source,
                        batch_id=report.batch_id,
                        now=started,
                        epoch_unit=epoch_unit,
                    )
                    _judge_readable(raw, plan, report, staged)
                with store.writing() as raw:
                    # Looked up again while holding the store, so two processes ingesting
                    # the same file at once cannot both write it.
                    report.previous_batch_id = _previous_batch(raw, report)
                    if report.previous_batch_id is not None:
                        # Another process committed these bytes meanwhile: nothing is added.
                        report.status = "already_ingested"
                        report.rows_in = report.quarantined = 0
                    else:
                        _find_duplicates(raw, spec, plan, report)
                        with store.transaction():
                            _append(raw, spec, plan, report)
                            crash_point("ingest:appended")
                        crash_point("ingest:committed")
            finally:
                with store.scratch() as raw:
                    raw.execute(f"DROP TABLE IF EXISTS {_CHECKED}")
                    raw.execute(f"DROP TABLE IF EXISTS {_DUPLICATES}")
                    staged.unregister(raw)
    report.finished_at = datetime.now(UTC).replace(tzinfo=None).isoformat()
    return report


def _working(enabled: bool, message: str):
    """A spinner on stderr while ``message`` is being done (when ``enabled``)."""
    if not enabled:
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def ingestable_spec(table: str) -> TableSpec:
    """The declaration of ``table``, or an IngestError naming the tables that can be ingested."""
    if table not in TABLES or not TABLES[table].ingestable:
        raise IngestError(
            f"Cannot ingest into {table!r}: choose one of {', '.join(ingestable_tables())}."
        )
    return TABLES[table]


def _reading_options(
    format: str, mapping: Mapping[str, str] | None, *, encoding: str, epoch_unit: str
) -> dict[str, Any]:
    """The options that decide how an input's bytes become rows.

    The same bytes read with other options (say ``epoch_unit="ms"`` after a quarantine
    reason advised it) are a different batch, not "already ingested".
    """
    options: dict[str, Any] = {"format": format, "epoch_unit": epoch_unit}
    if mapping:
        options["mapping"] = dict(sorted(mapping.items()))
    if format in TEXT_FORMATS:
        options["encoding"] = encoding.lower().replace("_", "-")
    return options


def _previous_batch(raw: duckdb.DuckDBPyConnection, report: IngestReport) -> str | None:
    """The committed batch that read the same bytes, with the same options, into the same table."""
    row = raw.execute(
        f"SELECT batch_id FROM {CATALOG}.main.batches WHERE table_name = ? "
        "AND content_sha256 = ? AND options = CAST(? AS JSON) AND status = 'committed' "
        "ORDER BY started_at LIMIT 1",
        [report.table, report.content_sha256, json.dumps(report.options, sort_keys=True)],
    ).fetchone()
    return row[0] if row else None


def _judge(raw: duckdb.DuckDBPyConnection, plan: Plan, report: IngestReport) -> None:
    """Type and judge every staged row (no store needed).

    Runs before the write transaction: DuckDB scans temporary tables made inside a
    transaction several times slower.
    """
    raw.execute(f"CREATE TEMP TABLE {_CHECKED} AS {plan.select_sql}")
    report.rows_in, report.quarantined = raw.execute(
        f"SELECT count(*), count(__wb_reason) FROM {_CHECKED}"
    ).fetchone()


def _find_duplicates(
    raw: duckdb.DuckDBPyConnection, spec: TableSpec, plan: Plan, report: IngestReport
) -> None:
    """Later repeats of a key within the input, and keys already stored, in one pass.

    Only row numbers are kept, so this stays narrow for large batches.
    """
    target = f"{CATALOG}.main.{identifier(spec.name)}"
    key = ", ".join(identifier(k) for k in plan.key)
    same_key = " AND ".join(f"s.{identifier(k)} = v.{identifier(k)}" for k in plan.key)
    raw.execute(
        f"CREATE TEMP TABLE {_DUPLICATES} AS SELECT DISTINCT v.{ROW} FROM "
        f"(SELECT {ROW}, {key}, row_number() OVER (PARTITION BY {key} ORDER BY {ROW}) AS __wb_n "
        f"FROM {_CHECKED} WHERE __wb_reason IS NULL) v "
        f"LEFT JOIN (SELECT {key}, true AS __wb_stored FROM {target}) s ON {same_key} "
        f"WHERE v.__wb_n > 1 OR s.__wb_stored"
    )
    report.duplicates = raw.execute(f"SELECT count(*) FROM {_DUPLICATES}").fetchone()[0]


def _judge_readable(
    raw: duckdb.DuckDBPyConnection, plan: Plan, report: IngestReport, staged: Staged
) -> None:
    """:func:`_judge`, turning a Parquet file DuckDB cannot decode into an IngestError.

    A damaged Parquet file can have a readable footer (so staging accepts it) and
    broken data pages, which only fail once the rows are read here.
    """
    import duckdb

    try:
        _judge(raw, plan, report)
    except duckdb.Error as error:
        if staged.parquet_path is None:
            raise
        raise IngestError(
            f"{staged.parquet_path} could not be read ({error}). The file looks damaged: "
            "re-export or re-download it. Nothing was written."
        ) from error


def _append(
    raw: duckdb.DuckDBPyConnection, spec: TableSpec, plan: Plan, report: IngestReport
) -> None:
    """Append the accepted rows, quarantine the rest, and log the batch (one transaction)."""
    target = f"{CATALOG}.main.{identifier(spec.name)}"
    columns = ", ".join(identifier(c) for c in plan.columns)
    report.accepted = raw.execute(
        f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {_CHECKED} c "
        # NOT IN, not NOT EXISTS: DuckDB plans the latter as a delim join that runs the
        # whole insert on one thread, twice as slow (row numbers are never NULL).
        f"WHERE c.__wb_reason IS NULL AND c.{ROW} NOT IN (SELECT {ROW} FROM {_DUPLICATES})"
    ).fetchone()[0]
    if report.quarantined:
        raw.execute(
            f"INSERT INTO {CATALOG}.main.quarantine (batch_id, table_name, row_number, raw, reason) "
            f"SELECT {literal(report.batch_id)}, {literal(spec.name)}, st.{ROW}, {plan.raw_sql}, c.__wb_reason "
            f"FROM {STAGE} st JOIN {_CHECKED} c ON c.{ROW} = st.{ROW} "
            f"WHERE c.__wb_reason IS NOT NULL ORDER BY st.{ROW}"
        )
        report.reasons = _reason_summary(raw)
    if not report.reconciles:
        # Only a bug in the SQL above could get here: refuse to commit a batch that does
        # not add up rather than lose rows quietly (the transaction rolls back).
        raise IngestError(
            f"Batch {report.batch_id} does not reconcile ({report.to_dict()}); nothing was "
            "written. Please report this with the input file."
        )
    raw.execute(
        f"INSERT INTO {CATALOG}.main.batches (batch_id, table_name, source, format, content_sha256, "
        "options, rows_in, accepted, quarantined, duplicates, started_at, finished_at, status) "
        "VALUES (?, ?, ?, ?, ?, CAST(? AS JSON), ?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
        [
            report.batch_id,
            spec.name,
            report.source,
            report.format,
            report.content_sha256,
            json.dumps(report.options, sort_keys=True),
            report.rows_in,
            report.accepted,
            report.quarantined,
            report.duplicates,
            report.started_at,
            report.status,
        ],
    )


def _reason_summary(raw: duckdb.DuckDBPyConnection, limit: int = 10) -> dict[str, int]:
    """Most common reasons, with the row-specific parts (line numbers, values) folded."""
    rows = raw.execute(
        f"SELECT regexp_replace(regexp_replace(__wb_reason, '''[^'']*''', '''...''', 'g'), "
        f"'line [0-9]+', 'line N', 'g') AS reason, count(*) AS n FROM {_CHECKED} "
        f"WHERE __wb_reason IS NOT NULL GROUP BY 1 ORDER BY n DESC, reason LIMIT {limit}"
    ).fetchall()
    return dict(rows)
