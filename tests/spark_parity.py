"""Parity harness: run one Ibis expression on DuckDB and on PySpark, compare the rows.

Feature code is written with Ibis so that it runs on any backend; this module
proves it gives the same rows on PySpark (local mode) as on DuckDB::

    def test_sessions(spark):  # the session-scoped fixture in conftest.py
        assert_same_rows(
            lambda t: t["events"].group_by("user_id").agg(n=_.count()),
            {"events": events},
            spark=spark,
        )

Inputs are loaded the way the store holds them: timestamps with a time zone
become naive UTC at microsecond precision. On Spark the session time zone is
UTC and ``spark.sql.timestampType`` stays ``TIMESTAMP_LTZ``: Ibis maps both
Spark timestamp types to its naive ``timestamp`` and creates ``TIMESTAMP``
(LTZ) columns itself, so with a UTC session an LTZ value reads back as the
naive UTC wall clock it was loaded as, whatever the machine's local zone.

Importing this module needs neither pyspark nor Java; only starting a session does.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from ibis.backends.pyspark import Backend as SparkBackend
    from pyspark.sql import SparkSession

MINIMUM_JAVA = 17
SYNC_HINT = '`uv sync --frozen --extra spark` (or `make test SYNC_FLAGS="--extra spark"`)'

SPARK_CONFIG = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_LTZ",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Same effect as SPARK_LOCAL_IP=127.0.0.1, without depending on the caller's
    # environment: a host whose name does not resolve cannot break the driver.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # The session time zone covers SQL, the JVM default zone everything else. A short-lived
    # JVM on a small machine warms up faster on the C1 compiler alone (a test module went
    # from ~35 s to ~20 s on 2 cores); the results are the same.
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    # Python UDFs (Ibis uses some, e.g. for JSON) run in this interpreter, not whatever
    # `python3` is on PATH.
    "spark.pyspark.python": sys.executable,
}

TableInput = pa.Table | pd.DataFrame
BuildExpression = Callable[[Mapping[str, ir.Table]], ir.Expr]


def missing_spark_requirements() -> list[str]:
    """Say what stops a local Spark session from starting here; empty when nothing does."""
    missing = []
    if find_spec("pyspark") is None:
        missing.append(f"pyspark is not installed: run {SYNC_HINT}")
    java_problem = _java_problem()
    if java_problem:
        missing.append(java_problem)
    return missing


@functools.cache
def _java_problem() -> str | None:
    # Spark's launcher prefers $JAVA_HOME/bin/java over the java on PATH: check that one.
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    install = "install Java 17+, e.g. `apt-get install -y default-jre-headless`"
    if not java or not os.path.exists(java):
        where = f"JAVA_HOME={java_home}" if java_home else "`java` on PATH"
        return f"Java is not installed (no {where}): {install}"
    try:
        completed = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as error:
        return f"{java} does not run ({error}): {install}"
    match = re.search(r'version "(\d+)(?:\.(\d+))?', completed.stderr + completed.stdout)
    if match is None:
        return f"cannot tell the version of {java}: {install}"
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" is Java 8
        major = int(match.group(2))
    if major < MINIMUM_JAVA:
        return f"{java} is Java {major}, PySpark 4 needs {MINIMUM_JAVA}+: {install}"
    return None


def start_spark_session(*, app_name: str = "workbench-parity") -> SparkSession:
    """Start (or reuse) a local-mode SparkSession configured for parity tests."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName(app_name)
    for key, value in SPARK_CONFIG.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def connect_spark(session: SparkSession) -> SparkBackend:
    """An Ibis PySpark connection over ``session``."""
    return ibis.pyspark.connect(session)


def as_store_table(table: TableInput) -> pa.Table:
    """Arrow table with every timestamp as the store keeps it: naive UTC, microseconds.

    A lossy conversion (nanoseconds below a microsecond) raises instead of truncating.
    """
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            column = table.column(index)
            if field.type.tz is not None:
                column = pc.cast(column, pa.timestamp(field.type.unit, tz="UTC"))
            column = pc.cast(column, pa.timestamp("us"))
            table = table.set_column(index, field.name, column)
    return table


def assert_same_rows(
    build: BuildExpression,
    tables: Mapping[str, TableInput],
    *,
    spark: SparkBackend,
    sort_by: Sequence[str] | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Assert that ``build`` gives the same rows on DuckDB and on PySpark.

    Parameters
    ----------
    build : callable
        Takes ``{name: ibis.Table}`` on one backend and returns an Ibis
        expression (table, column or scalar); it is called once per backend.
    tables : mapping of str to pyarrow.Table or pandas.DataFrame
        Inputs, loaded under these names into a fresh in-memory DuckDB and
        as temporary views into the Spark session.
    spark : ibis PySpark backend
        The ``spark`` fixture.
    sort_by : sequence of str, optional
        Columns that order the rows before comparing; by default every
        column, exact ones (ids, times, integers) before floating point ones.
    rtol, atol : float
        Tolerance for floats; integers compare exactly, an integer column
        with a float one as float64.
    allow_empty : bool
        Accept an empty result; by default it fails, since empty proves nothing.

    Returns
    -------
    pandas.DataFrame
        DuckDB's rows, normalized and sorted, for further assertions.
    """
    store_tables = {name: as_store_table(table) for name, table in tables.items()}
    expected = normalize_rows(_run_on_duckdb(build, store_tables), sort_by=sort_by)
    actual = normalize_rows(_run_on_spark(build, store_tables, spark), sort_by=sort_by)
    if not allow_empty and expected.empty and actual.empty:
        raise AssertionError("Both backends returned no rows: the comparison proves nothing.")
    problems = compare_rows(expected, actual, rtol=rtol, atol=atol, keys=sort_by)
    if problems:
        raise AssertionError("DuckDB and PySpark disagree.\n" + problems)
    return expected


def _run_on_duckdb(build: BuildExpression, tables: Mapping[str, pa.Table]) -> pa.Table:
    con = ibis.duckdb.connect()
    try:
        con.raw_sql("SET TimeZone = 'UTC'")
        # Through a memtable: ibis 12 with sqlglot 30 fails on create_table(name, pa.Table)
        # (it emits "DROP VIEW IF EXISTS" without a name for the temporary view).
        on_duckdb = {
            name: con.create_table(name, ibis.memtable(table)) for name, table in tables.items()
        }
        return build(on_duckdb).as_table().to_pyarrow()
    finally:
        con.disconnect()


def _run_on_spark(
    build: BuildExpression, tables: Mapping[str, pa.Table], spark: SparkBackend
) -> pa.Table:
    session = spark._session
    try:
        for name, table in tables.items():
            # PySpark 4 takes Arrow directly; types map as a Parquet read would map them.
            session.createDataFrame(table).createOrReplaceTempView(name)
        on_spark = {name: spark.table(name) for name in tables}
        with warnings.catch_warnings():
            # PySpark 4.0's toPandas passes copy=False, which pandas 3 deprecates.
            warnings.filterwarnings("ignore", message="The copy keyword", module="pyspark")
            return build(on_spark).as_table().to_pyarrow()
    finally:
        for name in tables:
            session.catalog.dropTempView(name)


def normalize_rows(table: pa.Table, *, sort_by: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows in a form two backends can agree on.

    Integers become pandas ``Int64``, floats and decimals float64 with NaN
    for missing (an integer column compares with a float one as float64);
    booleans pandas ``boolean``; timestamps naive UTC ``datetime64[us]``;
    dates ``datetime64[us]`` at midnight; durations ``timedelta64[us]``;
    strings and anything else Python objects with None for missing. Columns
    are sorted by name and rows by ``sort_by`` (default: every column, exact
    types first, floats last), missing values last.
    """
    columns = {field.name: _normalize_column(table.column(field.name)) for field in table.schema}
    frame = pd.DataFrame({name: columns[name] for name in sorted(columns)})
    if frame.empty:
        return frame.reset_index(drop=True)
    keys = list(sort_by) if sort_by is not None else _default_sort_keys(frame)
    unknown = [key for key in keys if key not in frame.columns]
    if unknown:
        raise KeyError(f"sort_by names {unknown}, not in the result columns {list(frame.columns)}")
    sort_frame = pd.DataFrame({key: _sortable(frame[key]) for key in keys})
    order = sort_frame.sort_values(keys, na_position="last", kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)


def _normalize_column(column: pa.ChunkedArray) -> pd.Series:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = kind.value_type
    if pa.types.is_integer(kind):
        # Kept exact: ids and hashes above 2**53 would collide as floats.
        return pd.Series(column.to_pylist(), dtype="Int64")
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pd.Series(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype="float64")
    if pa.types.is_boolean(kind):
        return pd.Series(column.to_pylist(), dtype="boolean")
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
        values = column.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
        return pd.Series(values.astype("datetime64[us]"))
    if pa.types.is_date(kind):
        values = column.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
        return pd.Series(values.astype("datetime64[us]"))
    if pa.types.is_duration(kind):
        values = column.cast(pa.duration("us")).to_numpy(zero_copy_only=False)
        return pd.Series(values.astype("timedelta64[us]"))
    return pd.Series(column.to_pylist(), dtype=object)


def _default_sort_keys(frame: pd.DataFrame) -> list[str]:
    # Floats last: sums computed in another order may differ in the last bits,
    # which must not reorder rows that the exact columns already tell apart.
    exact = [name for name in frame.columns if frame[name].dtype != "float64"]
    return exact + [name for name in frame.columns if frame[name].dtype == "float64"]


def _sortable(series: pd.Series) -> pd.Series:
    if series.dtype == object:
        # Lists, dicts and mixed types do not order; their text does, the same on both sides.
        return series.map(lambda value: None if value is None else repr(value))
    return series


def compare_rows(
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    keys: Iterable[str] | None = None,
    names: tuple[str, str] = ("duckdb", "spark"),
    show: int = 10,
) -> str:
    """Describe how two normalized frames differ; an empty string when they agree."""
    left, right = names
    if list(expected.columns) != list(actual.columns):
        only_left = sorted(set(expected.columns) - set(actual.columns))
        only_right = sorted(set(actual.columns) - set(expected.columns))
        return f"Columns differ: only in {left} {only_left}, only in {right} {only_right}."
    if len(expected) != len(actual):
        return (
            f"Row counts differ: {left} {len(expected)}, {right} {len(actual)}.\n"
            f"{left} (first {show}):\n{expected.head(show).to_string()}\n"
            f"{right} (first {show}):\n{actual.head(show).to_string()}"
        )
    differs = {
        name: ~_same_values(expected[name], actual[name], rtol=rtol, atol=atol)
        for name in expected.columns
    }
    bad_columns = [name for name, mask in differs.items() if mask.any()]
    if not bad_columns:
        return ""
    bad_rows = np.logical_or.reduce([differs[name] for name in bad_columns])
    context = [name for name in (keys or []) if name not in bad_columns]
    if not context:
        context = [name for name in expected.columns if name not in bad_columns][:3]
    report = expected.loc[bad_rows, context].copy()
    for name in bad_columns:
        report[f"{name} [{left}]"] = expected.loc[bad_rows, name]
        report[f"{name} [{right}]"] = actual.loc[bad_rows, name]
    counts = ", ".join(f"{name!r}: {int(differs[name].sum())}" for name in bad_columns)
    return (
        f"{int(bad_rows.sum())} of {len(expected)} rows differ (rows per column: {counts}); "
        f"first {min(show, int(bad_rows.sum()))} after sorting:\n"
        f"{report.head(show).to_string()}"
    )


def _same_values(left: pd.Series, right: pd.Series, *, rtol: float, atol: float) -> np.ndarray:
    numbers = {"float64", "Int64"}
    if {str(left.dtype), str(right.dtype)} == {"Int64"}:
        return ((left == right).fillna(False) | (left.isna() & right.isna())).to_numpy(dtype=bool)
    if str(left.dtype) in numbers and str(right.dtype) in numbers:
        return np.isclose(
            left.astype("float64").to_numpy(dtype="float64", na_value=np.nan),
            right.astype("float64").to_numpy(dtype="float64", na_value=np.nan),
            rtol=rtol,
            atol=atol,
            equal_nan=True,
        )
    both_missing = _is_missing(left) & _is_missing(right)
    equal = np.array(
        [_equal(a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True)], dtype=bool
    )
    return both_missing | equal


def _is_missing(series: pd.Series) -> np.ndarray:
    if series.dtype == object:
        return np.array([value is None for value in series.tolist()], dtype=bool)
    return series.isna().to_numpy(dtype=bool)


def _equal(left: Any, right: Any) -> bool:
    if left is None or right is None or left is pd.NA or right is pd.NA:
        return False
    try:
        return bool(left == right)
    except (TypeError, ValueError):  # arrays compare element-wise
        return repr(left) == repr(right)
