"""What identifies a model's data and code: row digests, batch lineage, the code version.

A data digest names a multiset of rows, whatever their order: each row is
serialized canonically (columns sorted by name, times in UTC) and hashed with
MD5 in DuckDB, and the digest is the SHA-256 of the row count, the column
types and the sums of the row hashes. Two tables have the same digest exactly
when they hold the same rows (up to a hash collision), in any order.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument
from workbench.sql import identifier, literal

if TYPE_CHECKING:
    import pyarrow as pa

    from workbench.store import Store

__all__ = ["DataSummary", "code_version", "data_digest", "summarize_data"]

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
        data = data.to_pandas()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        frame = data.copy(deep=False)
        for column in frame.columns:
            if frame[column].dtype == object and frame[column].map(_is_nested).any():
                frame[column] = frame[column].map(_canonical_json)
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


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict | list)


def _canonical_json(value: Any) -> Any:
    """Dicts and lists (parsed JSON columns) as JSON text with sorted keys; the rest as is."""
    if not _is_nested(value):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def data_digest(data: Any) -> str:
    """The order-independent digest of a table's rows.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["x", "y"]})
    >>> data_digest(a) == data_digest(a.iloc[::-1])
    True
    >>> data_digest(a) == data_digest(a.head(1))
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
