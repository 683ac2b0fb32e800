"""Staging: every input becomes one relation with a row number, and broken rows stay rows.

Text inputs (CSV, TSV, MovieLens ``u.data``, JSON lines) are parsed here in Python
so that a malformed line, a line in another encoding, or binary junk becomes a row
carrying a parse error (later quarantined with its original text) instead of an
exception that loses the file. Typed inputs (Parquet, Arrow, DataFrames) are handed
to DuckDB as they are.

Staged relations carry internal columns beside the input's own: the row number,
and for text inputs the original text and any parse error.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import IngestError
from workbench.sql import literal

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

FORMATS = ("csv", "tsv", "parquet", "jsonl", "movielens")
#: Formats read as text, for which the encoding matters.
TEXT_FORMATS = ("csv", "tsv", "jsonl", "movielens")
MOVIELENS_COLUMNS = ("user_id", "item_id", "value", "ts")

# Internal column names carried beside the input's own columns while a batch is staged.
ROW = "__wb_row"
RAW = "__wb_raw"
PARSE_ERROR = "__wb_parse_error"
EXTRAS = "__wb_extras"
INTERNAL_COLUMNS = (ROW, RAW, PARSE_ERROR, EXTRAS)
STAGE = "__wb_stage"
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass
class Staged:
    """An input ready for SQL: an Arrow table or a Parquet file, plus its name and digest."""

    name: str
    format: str
    sha256: str
    rows: int
    arrow: pa.Table | None = None
    parquet_path: Path | None = None

    def register(self, raw: duckdb.DuckDBPyConnection) -> None:
        """Expose the input to DuckDB as the view ``STAGE``."""
        if self.arrow is not None:
            raw.register("__wb_arrow", self.arrow)
            raw.execute(f"CREATE TEMP VIEW {STAGE} AS SELECT * FROM __wb_arrow")
        else:
            raw.execute(
                f"CREATE TEMP VIEW {STAGE} AS SELECT * EXCLUDE (file_row_number), "
                f"file_row_number + 1 AS {ROW} "
                f"FROM read_parquet({literal(str(self.parquet_path))}, file_row_number = true)"
            )

    def unregister(self, raw: duckdb.DuckDBPyConnection) -> None:
        """Remove what :meth:`register` created."""
        raw.execute(f"DROP VIEW IF EXISTS {STAGE}")
        if self.arrow is not None:
            raw.unregister("__wb_arrow")


def stage_input(source: Any, *, format: str | None, encoding: str, progress: bool) -> Staged:
    """Stage a file path, pandas DataFrame or pyarrow Table for validation."""
    if isinstance(source, (str, os.PathLike)):
        return _stage_file(Path(source), format=format, encoding=encoding, progress=progress)
    return _stage_in_memory(source)


def _stage_in_memory(source: Any) -> Staged:
    import pyarrow as pa

    if isinstance(source, pa.RecordBatchReader):
        source = source.read_all()
    if not isinstance(source, pa.Table):
        if type(source).__module__.split(".")[0] == "pandas":
            source = _arrow_from_pandas(source)
        else:
            raise IngestError(
                f"Cannot ingest a {type(source).__name__}: give a file path, a pandas "
                "DataFrame or a pyarrow Table."
            )
    check_column_names(source.column_names, "the table")
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, source.schema) as writer:
        writer.write_table(source)
    digest = hashlib.sha256(sink.getvalue()).hexdigest()
    rows = pa.array(range(1, source.num_rows + 1), pa.int64())
    return Staged(
        name="dataframe",
        format="arrow",
        sha256=digest,
        rows=source.num_rows,
        arrow=source.append_column(ROW, rows),
    )


def _arrow_from_pandas(frame) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # A column mixing types (say ints and strings), or holding ints beyond 64 bits, has
        # no Arrow type: carry its values as text and let validation judge each one.
        columns = {}
        for name in frame.columns:
            column = frame[name]
            try:
                columns[str(name)] = pa.array(column, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                columns[str(name)] = pa.array([_as_text(v, pd) for v in column], pa.string())
        return pa.table(columns)


def _as_text(value: Any, pd) -> str | None:
    """A value of a mixed-type column as the text validation will judge."""
    if _is_missing(value, pd):
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


def _is_missing(value: Any, pd) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _infer_format(path: Path) -> str:
    name = path.name.lower()
    if name == "u.data" or name.endswith(".data"):
        return "movielens"
    for suffix, fmt in _SUFFIX_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise IngestError(
        f"Cannot tell the format of {path} from its name: pass --format with one of "
        f"{', '.join(FORMATS)}."
    )


def resolve_format(path: Path, format: str | None) -> str:
    """Check that ``path`` is a file that can be read, and return its format."""
    if not path.exists():
        raise IngestError(f"No such file: {path}. Check the path (relative to {Path.cwd()}).")
    if path.is_dir():
        raise IngestError(
            f"{path} is a directory; give one file. To ingest every file in it, run "
            f'`workbench ingest` once per file (e.g. for f in {path}/*; do workbench ingest "$f"; done).'
        )
    fmt = format or _infer_format(path)
    if fmt not in FORMATS:
        raise IngestError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    return fmt


def _stage_file(path: Path, *, format: str | None, encoding: str, progress: bool) -> Staged:
    fmt = resolve_format(path, format)
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if fmt == "parquet":
        return _stage_parquet(path, digest)
    data = path.read_bytes()
    if fmt == "jsonl":
        arrow = _parse_jsonl(data, path=path, encoding=encoding, progress=progress)
    else:
        header = MOVIELENS_COLUMNS if fmt == "movielens" else None
        delimiter = "," if fmt == "csv" else "\t"
        arrow = _parse_delimited(
            data,
            path=path,
            delimiter=delimiter,
            header=header,
            encoding=encoding,
            progress=progress,
        )
        if fmt == "movielens":
            import pyarrow as pa

            arrow = arrow.append_column(
                "event_type", pa.array(["rating"] * arrow.num_rows, pa.string())
            )
    return Staged(name=path.name, format=fmt, sha256=digest, rows=arrow.num_rows, arrow=arrow)


def _stage_parquet(path: Path, digest: str) -> Staged:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
        # Top-level columns: ParquetSchema.names lists nested leaves (two structs with a
        # field "a" each would look like two columns named "a").
        names = metadata.schema.to_arrow_schema().names
    except (OSError, ValueError) as error:
        raise IngestError(
            f"{path} is not a readable Parquet file ({error}). If it is text, pass "
            "--format csv or --format jsonl."
        ) from error
    check_column_names(names, str(path))
    if "file_row_number" in names:
        # DuckDB numbers Parquet rows in a column of that name and refuses files that
        # already have one: read this file into memory instead.
        import pyarrow as pa

        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as error:
            raise IngestError(
                f"{path} could not be read ({error}). If the file is damaged, re-export it."
            ) from error
        rows = pa.array(range(1, table.num_rows + 1), pa.int64())
        return Staged(
            name=path.name,
            format="parquet",
            sha256=digest,
            rows=table.num_rows,
            arrow=table.append_column(ROW, rows),
        )
    return Staged(
        name=path.name, format="parquet", sha256=digest, rows=metadata.num_rows, parquet_path=path
    )


#: Most columns (or top-level JSON keys) one input may have, unless ``[capture]
#: max_columns`` in workbench.toml says otherwise. Far above any real event log, it bounds
#: the work one input can cause: each column is a column of the staged table and a key
#: read from every row, so 20,000 of them held the store for minutes.
MAX_COLUMNS = 1_000


def max_columns() -> int:
    """``[capture] max_columns`` of workbench.toml, else :data:`MAX_COLUMNS`."""
    from workbench.config import find_config

    found = find_config()
    stamp = (str(found), found.stat().st_mtime_ns) if found is not None else None
    return _max_columns(stamp)


@functools.lru_cache(maxsize=4)
def _max_columns(stamp: tuple[str, int] | None) -> int:
    from workbench.config import load_config

    if stamp is None:
        return MAX_COLUMNS
    section = load_config(stamp[0]).get("capture", {})
    value = section.get("max_columns", MAX_COLUMNS) if isinstance(section, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise IngestError(f"[capture] max_columns must be a whole number >= 1, got {value!r}.")
    return value


def check_column_names(names: list[str], where: str, *, limit: int | None = None) -> None:
    """Refuse names the store cannot hold apart, and more than ``limit`` of them.

    ``limit`` defaults to :func:`max_columns`; a caller checking many inputs (the
    service, once per event) reads it once and passes it.
    """
    limit = max_columns() if limit is None else limit
    if len(names) > limit:
        raise IngestError(
            f"{where} has {len(names):,} columns (or keys); at most {limit:,} are accepted "
            "([capture] max_columns in workbench.toml). Keep the keys an event needs, or nest "
            "the rest in one JSON column such as context."
        )
    clashes = [n for n in names if n.startswith("__wb_")]
    if clashes:
        raise IngestError(
            f"{where} has columns named {clashes}; names starting with __wb_ are reserved."
        )
    # DuckDB cuts a name at a NUL character, so such a column would collide with another.
    nul = [n for n in names if "\x00" in n]
    if nul:
        raise IngestError(
            f"{where} has column names holding a NUL character ({nul!r}); rename them."
        )
    seen: dict[str, str] = {}
    for name in names:
        if name in seen.values():
            raise IngestError(f"{where} has two columns named {name!r}; rename one.")
        # Column names are case-insensitive in SQL: these two would be one column.
        if name.casefold() in seen:
            raise IngestError(
                f"{where} has columns {seen[name.casefold()]!r} and {name!r}, which differ only "
                "in case; column names are case-insensitive here, so rename one."
            )
        seen[name.casefold()] = name


# --- text parsers: a broken line becomes a row with a parse error, never an exception -------


class _Lines:
    """Physical lines with a cursor, so parsing can back up after a runaway quote."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.position = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        line = self.lines[self.position]
        self.position += 1
        return line


def _keep_bytes(error: UnicodeError) -> tuple[str, int]:
    """A decode error handler: each undecodable byte becomes the stand-in ``U+DCxx``.

    As ``surrogateescape``, but for every byte value (that one refuses bytes below
    0x80, which a truncated or broken UTF-16/UTF-32 file has), so the lines holding
    them are quarantined one by one with their original bytes.
    """
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(chr(0xDC00 + byte) for byte in error.object[error.start : error.end]), error.end


codecs.register_error("workbench-keep-bytes", _keep_bytes)


def _decode(data: bytes, encoding: str, path: Path) -> str:
    if encoding.replace("-", "").lower() in ("utf8", "utf8sig"):
        encoding = "utf-8-sig"  # a byte-order mark is not part of the first column name
    try:
        return data.decode(encoding, errors="workbench-keep-bytes")
    except LookupError as error:
        raise IngestError(
            f"Unknown encoding {encoding!r} for {path}; try utf-8 or latin-1."
        ) from error
    except (UnicodeError, TypeError) as error:  # idna, punycode: not encodings of text files
        raise IngestError(
            f"--encoding {encoding} cannot read {path}: it is not an encoding of text files "
            f"({error}). Use the file's text encoding, e.g. utf-8, utf-16 or latin-1."
        ) from error


def _physical_lines(text: str) -> list[str]:
    """Lines ended by \\n, \\r\\n or \\r only, with their endings.

    Not ``str.splitlines``: it also breaks at U+2028, NEL (latin-1 byte 0x85), form
    feeds and other characters that are ordinary text inside a CSV field or JSON string.
    """
    return io.StringIO(text, newline="").readlines()


# NUL bytes (binary data) and the stand-ins _keep_bytes leaves for undecodable bytes.
_BINARY_OR_UNDECODABLE = re.compile("[\x00\udc00-\udcff]")
_UNDECODABLE = re.compile("[\udc00-\udcff]")


def _has_undecodable(text: str) -> bool:
    return _UNDECODABLE.search(text) is not None


def _printable(text: str) -> str:
    """Text safe to store: undecodable bytes shown as \\xNN escapes."""
    if not _has_undecodable(text):
        return text
    return _UNDECODABLE.sub(lambda found: f"\\x{ord(found.group()) - 0xDC00:02x}", text)


def _text_problem(text: str, line_number: int, encoding: str) -> str | None:
    if "\x00" in text:
        return f"line {line_number} holds binary data (NUL bytes); it is not text"
    if _has_undecodable(text):
        return (
            f"line {line_number} is not valid {encoding} text (mixed encodings?); re-save the "
            "file in one encoding, or pass --encoding (e.g. latin-1) if the whole file uses another"
        )
    return None


def _progress_bar(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import Progress

    return Progress(transient=True)


def _parse_delimited(
    data: bytes,
    *,
    path: Path,
    delimiter: str,
    header: tuple[str, ...] | None,
    encoding: str,
    progress: bool,
) -> pa.Table:
    import pyarrow as pa

    lines = _Lines(_physical_lines(_decode(data, encoding, path)))
    csv.field_size_limit(2**31 - 1)  # long fields are judged by validation, not cut by the parser
    columns = _read_header(lines, path, delimiter, encoding) if header is None else list(header)
    values: list[list[str | None]] = [[] for _ in columns]
    raws: list[str] = []
    errors: list[str | None] = []
    width = len(columns)
    # Most files are clean text throughout: check once, and look line by line only if not.
    clean_text = not _BINARY_OR_UNDECODABLE.search("".join(lines.lines[lines.position :]))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    with _progress_bar(progress) as bar:
        task = bar.add_task(f"Parsing {path.name}", total=len(lines.lines)) if bar else None
        while lines.position < len(lines.lines):
            start = lines.position
            try:
                fields = next(reader)
                error = None
            except csv.Error as exc:
                fields, error = None, f"line {start + 1} is not valid CSV ({exc})"
                # The parser may have run to the end of the file looking for a closing
                # quote: keep only the first line as the broken row and read on after it.
                lines.position = start + 1
                reader = csv.reader(lines, delimiter=delimiter, strict=True)
            except StopIteration:
                break
            end = lines.position
            if fields == [] and error is None:
                continue  # a blank line holds no row
            text = lines.lines[start] if end - start == 1 else "".join(lines.lines[start:end])
            if error is None and not clean_text:
                error = _text_problem(text, start + 1, encoding)
            if error is None and len(fields) != width:
                if end - start > 1:
                    # A stray quote swallowed the lines after it: keep only the first line
                    # as the broken row and read on from the next one.
                    lines.position = start + 1
                    text = lines.lines[start]
                error = (
                    f"line {start + 1} has {len(fields)} fields but the header has {width}; "
                    "check for unquoted delimiters or stray quotes"
                )
            raws.append(text.rstrip("\r\n") if clean_text else _printable(text.rstrip("\r\n")))
            errors.append(error)
            if error is None:
                for column, value in zip(values, fields, strict=True):
                    column.append(value or None)
            else:
                for column in values:
                    column.append(None)
            if bar is not None and len(raws) % 10_000 == 0:
                bar.update(task, completed=lines.position)
    arrays = {
        name: pa.array(column, pa.string()) for name, column in zip(columns, values, strict=True)
    }
    arrays[ROW] = pa.array(range(1, len(raws) + 1), pa.int64())
    arrays[RAW] = pa.array(raws, pa.string())
    arrays[PARSE_ERROR] = pa.array(errors, pa.string())
    return pa.table(arrays)


def _read_header(lines: _Lines, path: Path, delimiter: str, encoding: str) -> list[str]:
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    start, header = 0, []
    try:
        while header == []:  # blank lines before the header hold nothing
            start = lines.position
            header = next(reader, None)
    except csv.Error as error:
        raise IngestError(f"{path}: the header line is not valid CSV ({error}).") from error
    if header is None:
        return []
    line = lines.lines[start]
    if _text_problem(line, 1, encoding) or not any(h.strip() for h in header):
        raise IngestError(
            f"{path} does not start with a header of column names (its first line is "
            f"{_printable(line[:60])!r}). Is it binary, or Parquet? Pass --format, or add a header."
        )
    names = [h.strip() or f"unnamed_{i}" for i, h in enumerate(header)]
    check_column_names(names, str(path))
    return names


def _parse_jsonl(data: bytes, *, path: Path, encoding: str, progress: bool) -> pa.Table:
    import pyarrow as pa

    records: list[dict | None] = []
    raws: list[str] = []
    errors: list[str | None] = []
    limit = max_columns()
    for number, line in enumerate(_physical_lines(_decode(data, encoding, path)), start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        error = _text_problem(line, number, encoding)
        record = None
        if error is None:
            try:
                record = json.loads(
                    line, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys
                )
            except _NotJson as exc:
                error = f"line {number} {exc}"
            except json.JSONDecodeError as exc:
                error = f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})"
            except RecursionError:
                error = f"line {number} nests JSON arrays or objects too deeply to read; flatten it"
            else:
                if not isinstance(record, dict):
                    error = f"line {number} is a JSON {type(record).__name__}, not an object"
                    record = None
                elif len(record) > limit:
                    error = (
                        f"line {number} has {len(record):,} keys; at most {limit:,} are "
                        "accepted ([capture] max_columns)"
                    )
                    record = None
        records.append(record)
        raws.append(_printable(line))
        errors.append(error)
    # Every key once, in order of first appearance (a dict, so linear in the keys).
    names = list(dict.fromkeys(key for record in records for key in record or ()))
    check_column_names(names, str(path), limit=limit)
    # Declared columns are read from text like CSV; the JSON types of the other keys are
    # kept exactly in the extras object.
    columns = {
        name: pa.array([_json_text(r.get(name)) if r else None for r in records], pa.string())
        for name in names
    }
    columns[EXTRAS] = pa.array([json.dumps(r, ensure_ascii=False) if r else None for r in records])
    columns[ROW] = pa.array(range(1, len(records) + 1), pa.int64())
    columns[RAW] = pa.array(raws, pa.string())
    columns[PARSE_ERROR] = pa.array(errors, pa.string())
    return pa.table(columns)


class _NotJson(ValueError):
    """What Python's json module accepts but JSON does not (NaN) or leaves ambiguous."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"holds {name}, which is not JSON (JSON has no NaN or infinity); write null")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _NotJson(f"gives the key {twice!r} twice; which value is meant is unknown")
    return record


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
