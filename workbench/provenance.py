"""Provenance: what a model was trained on, what a run read, which code did it.

Two questions, two digests, one module:

- **Which rows?** (:func:`rows_digest`, :func:`summarize_data`) A model version records
  the digest of exactly the rows that trained it (``training_digest``) and of its
  holdout. Each row is serialized canonically (columns sorted by name, times in UTC)
  and hashed with MD5 in DuckDB; the digest is the SHA-256 of the row count, the
  column types and the sums of the row hashes. Two tables have the same digest
  exactly when they hold the same rows (up to a hash collision), in any order.
- **Which state of the store?** (:func:`input_snapshot`) A run records the digest of the
  store tables its job declares as ``inputs`` (``inputs_digest``), so an unchanged rerun
  is skipped. An ingested table is identified by its committed batches that added rows
  (batch id and content hash), so re-ingesting a file that is already stored changes
  nothing. A table written by the workbench itself (model aliases, recommendations) is
  identified by a digest of its rows. A job that declares no inputs depends on every
  ingested batch. A job that reads a scope (its notebook's ``scope`` parameter) depends
  only on the batches of events and observations that hold rows in that scope, and on
  the scope's definition; one that reads the feedback semantics on their definition too.

And the code: :func:`notebook_sha256` covers a notebook's cells (type and source, not
outputs: re-saving in JupyterLab does not make a run due); :func:`code_digest` covers
the workbench package's Python sources (after an upgrade the same notebook on the same
data runs again); :func:`code_version` names the checkout or release a model was
registered from.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument, WorkbenchError
from workbench.feedback import Feedback
from workbench.schema import CATALOG, TABLES
from workbench.scope import Scope
from workbench.sql import identifier, literal

if TYPE_CHECKING:
    import pyarrow as pa

    from workbench.store import Store

__all__ = [
    "DataSummary",
    "InputSnapshot",
    "code_digest",
    "code_version",
    "input_snapshot",
    "notebook_sha256",
    "rows_digest",
    "summarize_data",
]

# -- which rows: the digest of a table's rows ---------------------------------------------

# Types whose text form depends on the session's time zone: read as UTC wall time.
_ZONED = "TIMESTAMP WITH TIME ZONE"


@dataclass(frozen=True)
class DataSummary:
    """The identity of a table of rows: digest, size, columns and the batches behind it.

    Attributes
    ----------
    digest : str
        ``"sha256:<hex>"``, order-independent (see the module docstring).
    rows : int
        Number of rows.
    columns : dict
        Column name -> DuckDB type.
    batches : list of str
        Ingest batches the rows came from (from their ``batch_id``, or by
        looking up their ``event_id`` in the store's events); empty when the
        rows carry neither.
    batch_source : str
        How ``batches`` was found: ``"batch_id"``, ``"event_id"`` or ``"none"``.
    """

    digest: str
    rows: int
    columns: dict[str, str]
    batches: list[str]
    batch_source: str


def as_arrow(data: Any, *, name: str) -> pa.Table:
    """``data`` (an Ibis table, pyarrow table or pandas DataFrame) as a pyarrow Table.

    An Ibis table is executed to pandas first, as the recommenders read it.
    Nested values (JSON columns parsed to dicts and lists) become JSON text
    with sorted keys, so rows whose JSON differs in shape still make a table.
    """
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "to_pandas") and hasattr(data, "schema") and callable(data.schema):
        # An Ibis table, executed once here, the way models read it (JSON columns as
        # dicts): the same rows then digest the same whether given as a table or a frame.
        from workbench.tables import to_frame

        data = to_frame(data, name=name)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        frame = data.copy(deep=False)
        for column in frame.columns:
            values = frame[column]
            # Text columns (ids) are told apart in C; only mixed ones are looked at per value.
            if (
                values.dtype == object
                and pd.api.types.infer_dtype(values, skipna=True) not in _FLAT
                and values.map(_is_nested).any()
            ):
                frame[column] = _canonical_column(values)
        try:
            return pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise InvalidArgument(
                f"{name} cannot be read as a table of rows: {error}. Give each column one "
                "type (convert mixed columns with .astype(str), say)."
            ) from error
    raise InvalidArgument(
        f"{name} must be an Ibis table, a pyarrow Table or a pandas DataFrame of the rows; "
        f"got {type(data).__name__}."
    )


# What pandas infers for object columns that hold no dict or list.
_FLAT = frozenset({"string", "bytes", "empty", "integer", "floating", "boolean", "datetime"})


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict | list)


def _canonical_column(values: Any) -> Any:
    """:func:`_canonical_json` of each value, written once per distinct object: rows
    loaded together share their parsed JSON (see :func:`workbench.tables.to_frame`)."""
    written: dict[int, Any] = {}

    def canonical(value: Any) -> Any:
        if not _is_nested(value):
            return value
        text = written.get(id(value))
        if text is None:
            text = written[id(value)] = _canonical_json(value)
        return text

    return values.map(canonical)


def _canonical_json(value: Any) -> Any:
    """Dicts and lists (parsed JSON columns) as JSON text with sorted keys; the rest as is."""
    if not _is_nested(value):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def rows_digest(data: Any) -> str:
    """The order-independent digest of a table's rows.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["x", "y"]})
    >>> rows_digest(a) == rows_digest(a.iloc[::-1])
    True
    >>> rows_digest(a) == rows_digest(a.head(1))
    False
    """
    return _digest(as_arrow(data, name="data"))[0]


def summarize_data(data: Any, *, store: Store | None = None, name: str = "data") -> DataSummary:
    """Digest, size, columns and ingest batches of ``data``.

    Parameters
    ----------
    data
        The rows: Ibis table, pyarrow Table or pandas DataFrame.
    store
        Where to look up ``event_id`` values when the rows carry no ``batch_id``.
    name
        What to call ``data`` in error messages.
    """
    table = as_arrow(data, name=name)
    if table.num_rows == 0:
        raise InvalidArgument(f"{name} has no rows; a model is trained on at least one row.")
    digest, columns = _digest(table)
    batches, source = _batches(table, store)
    return DataSummary(digest, table.num_rows, columns, batches, source)


def _digest(table: pa.Table) -> tuple[str, dict[str, str]]:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("rows_to_digest", table)
        described = con.execute("DESCRIBE rows_to_digest").fetchall()
        columns = {row[0]: row[1] for row in described}
        fields = []
        for column in sorted(columns):
            quoted = identifier(column)
            value = f"CAST({quoted} AS TIMESTAMP)" if columns[column] == _ZONED else quoted
            fields.append(f"{literal(column)}, {value}")
        row_text = f"to_json(json_object({', '.join(fields)}))"
        count, upper, lower = con.execute(
            f"SELECT count(*), coalesce(sum(md5_number_upper({row_text})::HUGEINT), 0), "
            f"coalesce(sum(md5_number_lower({row_text})::HUGEINT), 0) FROM rows_to_digest"
        ).fetchone()
    finally:
        con.close()
    types = {name: ("TIMESTAMP" if kind == _ZONED else kind) for name, kind in columns.items()}
    text = f"{count}|{sorted(types.items())}|{upper % 2**64}|{lower % 2**64}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest(), types


def _batches(table: pa.Table, store: Store | None) -> tuple[list[str], str]:
    """The ingest batches behind the rows, and how they were found."""
    import pyarrow.compute as pc

    names = set(table.column_names)
    if "batch_id" in names:
        found = pc.unique(table["batch_id"].drop_null()).to_pylist()
        return sorted(str(batch) for batch in found), "batch_id"
    if "event_id" in names and store is not None:
        import pyarrow as pa

        ids = pa.table({"event_id": pc.unique(table["event_id"].drop_null()).cast(pa.string())})
        with store.reading() as raw:
            raw.register("training_event_ids", ids)
            try:
                rows = raw.execute(
                    "SELECT DISTINCT e.batch_id FROM events AS e "
                    "JOIN training_event_ids AS t USING (event_id) ORDER BY 1"
                ).fetchall()
            finally:
                raw.unregister("training_event_ids")
        return [str(batch) for (batch,) in rows if batch is not None], "event_id"
    return [], "none"


@functools.cache
def code_version() -> str:
    """The workbench code that is running: ``git:<sha>`` (``+dirty`` when edited) or its version.

    Read once per process from the git checkout the package lives in, when
    there is one; an installed package gives ``workbench==<version>``.
    """
    from workbench.version import __version__

    where = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"workbench=={__version__}"
    if not sha:
        return f"workbench=={__version__}"
    return f"git:{sha}" + ("+dirty" if changes else "")


# -- which state of the store: what a run read -----------------------------------------


@dataclass(frozen=True)
class InputSnapshot:
    """The state of the store a run read.

    Attributes
    ----------
    digest
        sha256 over everything below; equal digests mean the same input data.
    tables
        The tables it covers (``["*"]``: every ingested table).
    batches
        How many committed batches that added rows it covers.
    latest_batch
        The newest of those batches, or None.
    latest_batch_at
        When that batch finished (UTC, ISO 8601), or None.
    scope
        The scope the job read, described (``"everything"`` when it read all).
    """

    digest: str
    tables: list[str]
    batches: int
    latest_batch: str | None
    latest_batch_at: str | None
    scope: str = "everything"

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as plain JSON data."""
        return asdict(self)

    def describe(self) -> str:
        """One line for a report header."""
        tables = "all ingested tables" if self.tables == ["*"] else ", ".join(self.tables)
        latest = (
            f"; latest batch {self.latest_batch} (ingested {self.latest_batch_at} UTC)"
            if self.latest_batch
            else ""
        )
        scope = "" if self.scope == "everything" else f" in scope {self.scope}"
        return f"{tables}{scope}: {self.batches} batches{latest}; digest {self.digest[:12]}"


def notebook_sha256(path: str | os.PathLike[str]) -> str:
    """A digest of a notebook's cells (type and source), ignoring outputs and metadata."""
    notebook_path = Path(path)
    try:
        notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
        content = [[cell["cell_type"], _source(cell["source"])] for cell in cells]
    except FileNotFoundError as error:
        raise WorkbenchError(f"No notebook at {notebook_path}.") from error
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise WorkbenchError(
            f"{notebook_path} is not a Jupyter notebook ({error}); run an .ipynb file."
        ) from error
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


@functools.cache
def code_digest() -> str:
    """A digest of the workbench package's Python sources (read once per process).

    Unlike a git sha it does not need a checkout, and it ignores edits outside the
    package (tests, docs) that cannot change what a notebook computes.
    """
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _source(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def input_snapshot(
    store: Store,
    inputs: tuple[str, ...] | list[str] = (),
    *,
    scope: Scope | None = None,
    feedback: Feedback | None = None,
) -> InputSnapshot:
    """The digest of the data a job with these ``inputs`` (and scope) reads, in one read."""
    ingested = [name for name in inputs if TABLES[name].ingestable]
    derived = [name for name in inputs if not TABLES[name].ingestable]
    scope = scope or Scope()
    parts: dict[str, Any] = {}
    with store.reading() as raw:
        where = "status = 'committed' AND accepted > 0"
        params: list[Any] = []
        if inputs:
            where += " AND list_contains(?, table_name)"
            params.append(ingested)
        if not scope.is_everything:
            # Batches of events and observations count only when they hold rows in scope.
            where += (
                " AND (table_name NOT IN ('events', 'observations') OR batch_id IN ("
                f"SELECT batch_id FROM {CATALOG}.main.events WHERE {scope.events_sql()} "
                f"UNION SELECT batch_id FROM {CATALOG}.main.observations "
                f"WHERE {scope.observations_sql()}))"
            )
            parts["scope"] = scope.to_dict()
        if feedback is not None:
            parts["feedback"] = feedback.to_dict()
        batches = raw.execute(
            "SELECT batch_id, table_name, content_sha256, accepted, "
            "strftime(finished_at, '%Y-%m-%dT%H:%M:%S') "
            f"FROM {CATALOG}.main.batches WHERE {where} ORDER BY finished_at, batch_id",
            params,
        ).fetchall()
        parts["batches"] = [list(row[:4]) for row in batches]
        for name in derived:
            # Order-independent: the same rows in any order give the same figures.
            count, xor, total = raw.execute(
                f'SELECT count(*), bit_xor(hash(t)), sum(hash(t)::HUGEINT) FROM {CATALOG}.main."{name}" t'
            ).fetchone()
            parts[name] = [count, str(xor), str(total)]
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    latest = batches[-1] if batches else None
    return InputSnapshot(
        digest=digest,
        tables=sorted(inputs) if inputs else ["*"],
        batches=len(batches),
        latest_batch=latest[0] if latest else None,
        latest_batch_at=latest[4] if latest else None,
        scope=scope.describe(),
    )
