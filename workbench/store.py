"""The store: one embedded DuckDB file behind an Ibis connection, shared safely by processes.

DuckDB lets one process hold a file read-write and then locks every other process
out, readers included. Scientists keep notebook kernels open for hours while
scheduled runs and ingests need the same file, so a :class:`Store` never holds the
file while idle. It keeps an in-memory DuckDB engine (bound to Ibis) and attaches
the file only for one unit of work: a query, an ingest, a migration. Units of work
are serialized across processes by an advisory lock file beside the store (shared
for reads, exclusive for writes); a busy store is waited for with backoff up to a
timeout, and then the error names who holds it.

Ibis expressions built from :meth:`Store.table` stay valid across these short
attachments: they name the file's tables through a fixed catalog alias, and every
way of executing them (``expr.execute()``, ``to_pyarrow``, ``store.execute``...)
attaches the file first.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import resolve_lock_timeout, resolve_store_url
from workbench.exceptions import (
    ConfigError,
    SchemaVersionError,
    StoreError,
    StoreLocked,
    TableNotFound,
)
from workbench.faults import process_alive
from workbench.schema import CATALOG, META_TABLE, MIGRATIONS, SCHEMA_VERSION, TABLES
from workbench.sql import identifier, literal

if TYPE_CHECKING:
    import duckdb
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "MEMORY",
    "Store",
    "parse_store_url",
]

MEMORY = ":memory:"
_DUCKDB_LOCK_MESSAGE = re.compile(
    r"Conflicting lock is held in (?P<command>.*?) \(PID (?P<pid>\d+)\)"
)


def parse_store_url(url: str) -> str:
    """Return the DuckDB database path of a ``duckdb://`` URL (or ``:memory:``).

    >>> parse_store_url("duckdb://:memory:")
    ':memory:'
    >>> parse_store_url("duckdb://data/workbench.duckdb")
    'data/workbench.duckdb'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        # A bare path is what people type most; treat it as an embedded file.
        scheme, rest = "duckdb", url
    if scheme != "duckdb":
        raise ConfigError(
            f"Store URL {url!r} uses {scheme!r}; the store is an embedded DuckDB file, "
            "so use duckdb://PATH (or duckdb://:memory:). To run features on Spark, "
            "pass an Ibis PySpark connection to the feature functions instead."
        )
    if not rest:
        raise ConfigError(
            f"Store URL {url!r} names no file; use e.g. duckdb://data/workbench.duckdb"
        )
    return rest


class _LockFile:
    """Advisory cross-process lock beside the store file, with named holders.

    ``flock`` serializes units of work (shared for reads, exclusive for writes).
    A second lock, the gate, keeps writers from starving: a waiting writer holds
    the gate, so readers that arrive after it queue behind it instead of
    overlapping each other forever. Each holder also leaves a small JSON note
    (pid, command, since) in a folder beside the lock, so a process that waits too
    long can say who is in the way.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self.gate_path = db_path.with_name(db_path.name + ".gate")
        self.holders_dir = db_path.with_name(db_path.name + ".holders")

    def acquire(self, *, exclusive: bool, deadline: float) -> tuple[int, Path]:
        """Take the lock (waiting until ``deadline``); returns what :meth:`release` needs."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        gate = os.open(self.gate_path, os.O_RDWR | os.O_CREAT, 0o666)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            self._wait_for(gate, mode, deadline)
            try:
                self._wait_for(fd, mode, deadline)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
        except BaseException:
            os.close(fd)
            raise
        finally:
            os.close(gate)
        return fd, self._write_note(exclusive)

    def _wait_for(self, fd: int, mode: int, deadline: float) -> None:
        delay, started, notice = 0.005, time.monotonic(), None
        try:
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    return
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                now = time.monotonic()
                if now >= deadline:
                    raise self._locked_error()
                if notice is None and WAIT_NOTICE is not None and now - started >= 1.0:
                    # Waiting is normal; waiting in silence is not: say who holds the store.
                    notice = WAIT_NOTICE(
                        f"Waiting for the store (up to {deadline - started:.0f} s): held by "
                        f"{_holder_text(self.holders())}"
                    )
                    notice.__enter__()
                time.sleep(delay)
                # Short waits even after long ones: a waiter that sleeps longer than a unit
                # of work takes lets the others pass it again and again.
                delay = min(delay * 1.6, 0.05)
        finally:
            if notice is not None:
                notice.__exit__(None, None, None)

    def release(self, fd: int, note: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            note.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def _write_note(self, exclusive: bool) -> Path:
        self.holders_dir.mkdir(parents=True, exist_ok=True)
        note = self.holders_dir / f"{os.getpid()}-{threading.get_ident()}.json"
        note.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "command": " ".join(sys.argv) or sys.executable,
                    "since": datetime.now(UTC).isoformat(timespec="seconds"),
                    "mode": "write" if exclusive else "read",
                }
            )
        )
        return note

    def holders(self) -> list[dict]:
        """Notes of the processes holding the lock now; notes of dead processes are removed."""
        found = []
        for note in sorted(self.holders_dir.glob("*.json")) if self.holders_dir.exists() else []:
            with contextlib.suppress(OSError, ValueError, KeyError):
                info = json.loads(note.read_text())
                if process_alive(int(info["pid"])):
                    found.append(info)
                else:
                    # Left by a process that was killed while it held the lock.
                    note.unlink()
        return found

    def _locked_error(self) -> StoreLocked:
        holders = self.holders()
        return StoreLocked(_describe_lock(self.path.with_suffix(""), holders), holders=holders)


def _process_info(pid: int) -> dict:
    """What this machine says about a process: its command line and start time."""
    info: dict[str, Any] = {"pid": pid, "command": "unknown", "since": "unknown"}
    proc = Path(f"/proc/{pid}")
    with contextlib.suppress(OSError):
        info["command"] = (
            proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        )
        info["since"] = datetime.fromtimestamp(proc.stat().st_mtime, UTC).isoformat(
            timespec="seconds"
        )
    return info


#: Called with a line saying who holds the store when a wait lasts over a second; returns
#: a context manager held until the wait ends (the command line shows a spinner). None: quiet.
WAIT_NOTICE: Callable[[str], contextlib.AbstractContextManager] | None = None


def _holder_text(holders: list[dict]) -> str:
    return (
        "; ".join(
            f"pid {h.get('pid')} ({h.get('command')}) since {h.get('since')}" for h in holders
        )
        or "a process that left no note"
    )


def _describe_lock(db_path: Path, holders: list[dict]) -> str:
    who = _holder_text(holders)
    return (
        f"The store {db_path} is busy: held by {who}. Wait for it to finish, stop it, "
        f"or wait longer: WORKBENCH_LOCK_TIMEOUT=SECONDS, [store] lock_timeout in "
        f"workbench.toml, or Store.open(..., lock_timeout=SECONDS)."
    )


@functools.cache
def _store_backend_class():
    """An Ibis DuckDB backend whose every execution runs inside a store session.

    Built lazily so ``import workbench`` does not import Ibis.
    """
    from ibis.backends.duckdb import Backend as DuckDBBackend

    def in_session(method_name: str, *, write: bool):
        base = getattr(DuckDBBackend, method_name)

        @functools.wraps(base)
        def wrapper(self, *args, **kwargs):
            with self._workbench_store._session(write=write):
                return base(self, *args, **kwargs)

        return wrapper

    def to_pyarrow_batches(self, expr, /, *, chunk_size: int = 1_000_000, **kwargs):
        # DuckDB's batch reader reads lazily from the file; the file is detached once
        # the session ends, so the result is read inside the session and then streamed.
        table = self.to_pyarrow(expr, **kwargs)
        return table.to_reader(max_chunksize=chunk_size)

    namespace = {name: in_session(name, write=False) for name in _READING_METHODS}
    namespace.update({name: in_session(name, write=True) for name in _WRITING_METHODS})
    namespace["to_pyarrow_batches"] = to_pyarrow_batches
    return type("StoreBackend", (DuckDBBackend,), namespace)


_READING_METHODS = (
    "execute",
    "to_pyarrow",
    "to_torch",
    "to_parquet",
    "to_csv",
    "to_json",
    "table",
    "get_schema",
    "list_tables",
    "sql",
    "raw_sql",
)
_WRITING_METHODS = (
    "create_table",
    "create_view",
    "insert",
    "drop_table",
    "drop_view",
    "truncate_table",
)


class Store:
    """The workbench's store: an embedded DuckDB file reached through Ibis.

    Open it with :meth:`Store.open`. The object is cheap to keep (a notebook
    kernel can hold one for hours): it holds the file only while it executes.

    Examples
    --------
    >>> store = Store.open("duckdb://:memory:")
    >>> store.table("events").count().execute()
    0
    >>> store.schema_version() == SCHEMA_VERSION
    True
    """

    def __init__(self, url: str, *, lock_timeout: float) -> None:
        self.url = url
        database = parse_store_url(url)
        self.in_memory = database == MEMORY
        self.path: Path | None = None if self.in_memory else Path(database).expanduser().resolve()
        self.lock_timeout = lock_timeout
        self._lock_file = None if self.path is None else _LockFile(self.path)
        # One session at a time per Store; re-entrant so library calls can nest.
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._session_writes = False
        import duckdb

        # A plain DuckDB connection; the Ibis backend over it is built on first use, so
        # the commands that only run SQL (status, runs list) never import Ibis or pandas.
        self._raw = duckdb.connect(MEMORY)
        self._raw.execute("SET TimeZone = 'UTC'")
        # As Ibis sets it: SQL never reads Python variables as tables by accident.
        self._raw.execute("SET python_enable_replacements = false")
        self._ibis = None
        # What readers keep between calls (stored-list snapshots, loaded models), owned by
        # this object: dropped with it, cleared by forget(), never keyed by id(store).
        self._memos: dict[str, dict] = {}
        # Write sessions ended: what tells a reader of an in-memory store that it changed
        # (a file's state tells it for a file, whoever wrote).
        self.writes = 0
        if self.in_memory:
            # Nothing to share with other processes: attach once, for good.
            self._raw.execute(f"ATTACH '{MEMORY}' AS {CATALOG}")
            self._raw.execute(f"USE {CATALOG}")

    @classmethod
    def open(
        cls, url: str | None = None, *, lock_timeout: float | None = None, create: bool = True
    ) -> Store:
        """Open (creating or migrating if needed) the store at ``url``.

        Parameters
        ----------
        url
            ``duckdb://PATH`` or ``duckdb://:memory:``. When omitted: the
            ``WORKBENCH_STORE`` environment variable, then ``[store] url`` in
            ``workbench.toml``, then ``duckdb://data/workbench.duckdb``.
        lock_timeout
            Seconds to wait for another process to finish with the file before
            failing with :class:`~workbench.exceptions.StoreLocked`.
        create
            Create the file when it does not exist. With False (the commands that only
            read), a missing file is a :class:`~workbench.exceptions.StoreError` naming
            the path: a mistyped ``--store`` must not answer "nothing here" from a new,
            empty store.
        """
        store = cls(resolve_store_url(url), lock_timeout=resolve_lock_timeout(lock_timeout))
        if not create and store.path is not None and not store.path.exists():
            raise StoreError(
                f"No store at {store.path}. Create it with `workbench init` (or `workbench "
                "ingest` / `workbench generate`), or point --store, WORKBENCH_STORE or "
                "[store] url of workbench.toml at an existing one."
            )
        store._ensure_schema()
        return store

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def memo(self, name: str) -> dict:
        """The dict this Store keeps under ``name``: a cache of something read from it.

        Each cache checks its own validity (a snapshot compares the file's state);
        :meth:`forget` drops them all.
        """
        with self._thread_lock:
            return self._memos.setdefault(name, {})

    def forget(self) -> None:
        """Drop every cache kept by :meth:`memo` (the next read loads afresh)."""
        with self._thread_lock:
            self._memos.clear()

    @property
    def location(self) -> str:
        """Where the data lives: a file path, or ``:memory:``."""
        return MEMORY if self.path is None else str(self.path)

    # --- sessions --------------------------------------------------------------------

    @property
    def con(self):
        """The Ibis backend. Expressions built on it execute inside store sessions."""
        return self._backend

    @property
    def _backend(self):
        with self._thread_lock:
            if self._ibis is None:
                backend = _store_backend_class().from_connection(self._raw)
                backend._workbench_store = self
                self._ibis = backend
            return self._ibis

    @contextlib.contextmanager
    def _session(self, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """Attach the store file for one unit of work, then let go of it."""
        with self._thread_lock:
            if self._depth:
                if write and not self._session_writes:
                    raise StoreError(
                        "A write was started inside a read of the store. Finish reading "
                        "(collect the result) before writing."
                    )
                self._depth += 1
                try:
                    yield self._raw
                finally:
                    self._depth -= 1
                return
            if self.in_memory:
                self._depth, self._session_writes = 1, write
                try:
                    yield self._raw
                finally:
                    self._depth = 0
                    self.writes += write
                return
            fd, note = self._attach(write)
            self._depth, self._session_writes = 1, write
            try:
                yield self._raw
            finally:
                self._depth = 0
                try:
                    self._detach(write)
                finally:
                    # Even if detaching fails, never keep other processes out of the store.
                    self._lock_file.release(fd, note)

    def _attach(self, write: bool) -> tuple[int, Path]:
        import duckdb

        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            fd, note = self._lock_file.acquire(exclusive=write, deadline=deadline)
            try:
                mode = "" if write else " (READ_ONLY)"
                self._raw.execute(f"ATTACH {literal(str(self.path))} AS {CATALOG}{mode}")
                self._raw.execute(f"USE {CATALOG}")
                return fd, note
            except duckdb.IOException as error:
                self._lock_file.release(fd, note)
                match = _DUCKDB_LOCK_MESSAGE.search(str(error))
                if match is None:
                    raise StoreError(f"Cannot open the store {self.path}: {error}") from error
                # A process outside the workbench (the duckdb CLI, another tool) holds
                # the file with DuckDB's own lock: wait for it like for our own.
                if time.monotonic() >= deadline:
                    holder = _process_info(int(match["pid"]))
                    raise StoreLocked(
                        _describe_lock(self.path, [holder]), holders=[holder]
                    ) from error
                time.sleep(delay)
                # Short waits even after long ones: a waiter that sleeps longer than a unit
                # of work takes lets the others pass it again and again.
                delay = min(delay * 1.6, 0.05)
            except BaseException:
                self._lock_file.release(fd, note)
                raise

    def _detach(self, write: bool) -> None:
        import duckdb

        raw = self._raw
        # A transaction the unit of work left open (an explicit BEGIN, then an error) would
        # make CHECKPOINT and DETACH fail; drop it, as closing a DuckDB connection does.
        with contextlib.suppress(duckdb.TransactionException):
            raw.execute("ROLLBACK")
        raw.execute("USE memory")
        if write:
            # Fold the write-ahead log into the file so read-only attaches see a clean file.
            raw.execute(f"CHECKPOINT {CATALOG}")
        raw.execute(f"DETACH {CATALOG}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run writes all-or-nothing; yields the DuckDB connection with the store attached.

        Tables are reachable as ``wb.main.<name>`` (or unqualified). Any exception
        rolls the whole transaction back.
        """
        with self._session(write=True) as raw:
            raw.execute("BEGIN TRANSACTION")
            try:
                yield raw
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")

    @contextlib.contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Hold the store exclusively for several steps, without one transaction around them.

        No other process reads or writes while the block runs; use
        :meth:`transaction` inside it for the steps that must be all-or-nothing.
        """
        with self._session(write=True) as raw:
            yield raw

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Hold the store for several reads that must see the same state."""
        with self._session(write=False) as raw:
            yield raw

    @contextlib.contextmanager
    def scratch(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The store's own DuckDB connection, without holding the store file.

        For work that reads nothing stored, such as validating an input before it is
        appended: other processes keep the store meanwhile. Temporary tables and views
        made here are still there in the next :meth:`writing` block.
        """
        with self._thread_lock:
            yield self._raw

    # --- schema ---------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        if not self.in_memory and self.path.exists():
            with self._session(write=False):
                if self._read_version() == SCHEMA_VERSION:
                    self._check_declared_columns()
                    return
        with self.transaction() as raw:
            version = self._read_version()
            if version is None:
                for spec in TABLES.values():
                    raw.execute(spec.create_sql())
                raw.execute(
                    f"INSERT INTO {CATALOG}.main.{META_TABLE} VALUES ('schema_version', ?)",
                    [str(SCHEMA_VERSION)],
                )
                return
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"The store {self.location} has schema version {version}, newer than this "
                    f"workbench understands ({SCHEMA_VERSION}). Upgrade the workbench package."
                )
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](raw)
                version += 1
            raw.execute(
                f"UPDATE {CATALOG}.main.{META_TABLE} SET value = ? WHERE key = 'schema_version'",
                [str(SCHEMA_VERSION)],
            )

    def _check_declared_columns(self) -> None:
        """Refuse a store whose tables lack declared columns although its version matches.

        That happens only to stores written by an unreleased build; failing here with
        advice beats a binder error in the middle of an ingest.
        """
        found: dict[str, set[str]] = {}
        for table, column in self._raw.execute(
            # Literal, not a parameter: DuckDB imports pandas for any parameterised query,
            # which would cost every command half a second.
            f"SELECT table_name, column_name FROM duckdb_columns() "
            f"WHERE database_name = '{CATALOG}'"
        ).fetchall():
            found.setdefault(table, set()).add(column)
        missing = {
            name: sorted(set(spec.columns) - found.get(name, set()))
            for name, spec in TABLES.items()
            if set(spec.columns) - found.get(name, set())
        }
        if missing:
            detail = "; ".join(f"{table}: {', '.join(cols)}" for table, cols in missing.items())
            raise SchemaVersionError(
                f"The store {self.location} says schema version {SCHEMA_VERSION} but lacks "
                f"declared columns ({detail}); it was written by a development build. Move it "
                "aside and re-ingest its sources into a new store."
            )

    def _read_version(self) -> int | None:
        exists = self._raw.execute(
            f"SELECT count(*) FROM duckdb_tables() "
            f"WHERE database_name = '{CATALOG}' AND table_name = '{META_TABLE}'"
        ).fetchone()[0]
        if not exists:
            return None
        row = self._raw.execute(
            f"SELECT value FROM {CATALOG}.main.{META_TABLE} WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else None

    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        with self._session(write=False):
            return self._read_version()

    # --- reading --------------------------------------------------------------------

    def tables(self) -> list[str]:
        """Names of the tables in the store (the internal meta table excluded)."""
        with self._session(write=False) as raw:
            rows = raw.execute(
                f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{CATALOG}' "
                "ORDER BY table_name"
            ).fetchall()
        return [name for (name,) in rows if name != META_TABLE]

    def table(self, name: str) -> ir.Table:
        """An Ibis expression over a store table; nothing is read until it executes."""
        import ibis.common.exceptions as ibis_errors

        try:
            return self._backend.table(name, database=(CATALOG, "main"))
        except ibis_errors.TableNotFound as error:
            raise TableNotFound(
                f"No table {name!r} in {self.location}. Tables: {', '.join(self.tables())}. "
                "Run `workbench ingest FILE` or `workbench generate KIND` first."
            ) from error

    def execute(self, expr: ir.Expr, **kwargs: Any) -> pd.DataFrame | Any:
        """Execute an Ibis expression to pandas (or a scalar)."""
        return expr.execute(**kwargs)

    def to_pyarrow(self, expr: ir.Expr, **kwargs: Any) -> pa.Table:
        """Execute an Ibis expression to a :class:`pyarrow.Table`."""
        return expr.to_pyarrow(**kwargs)

    def sql(self, query: str, params: list | None = None) -> pa.Table:
        """Run one SQL query against the store and return an Arrow table.

        Store tables are reachable unqualified (``SELECT * FROM events``).
        """
        with self._session(write=False) as raw:
            return raw.execute(query, params or []).to_arrow_table()

    def count_rows(self) -> dict[str, int]:
        """Row count of every table, in one consistent read."""
        with self._session(write=False) as raw:
            return {
                name: raw.execute(
                    f"SELECT count(*) FROM {CATALOG}.main.{identifier(name)}"
                ).fetchone()[0]
                for name in self.tables()
            }
