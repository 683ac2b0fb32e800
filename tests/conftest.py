"""Shared fixtures: stores in memory and on disk, and tiny synthetic inputs."""

from __future__ import annotations

import os

import pytest
from spark_parity import connect_spark, missing_spark_requirements, start_spark_session

from workbench.store import Store


@pytest.fixture
def memory_store() -> Store:
    """A fresh in-memory store."""
    return Store.open("duckdb://:memory:")


@pytest.fixture
def file_store(tmp_path) -> Store:
    """A fresh store in a real DuckDB file under the test's temporary folder."""
    return Store.open(f"duckdb://{tmp_path / 'store.duckdb'}", lock_timeout=10)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    """Tests never read the developer's WORKBENCH_STORE or a workbench.toml by accident."""
    monkeypatch.delenv("WORKBENCH_STORE", raising=False)
    monkeypatch.delenv("WORKBENCH_LOCK_TIMEOUT", raising=False)
    monkeypatch.delenv("WORKBENCH_TOKEN", raising=False)


# --- PySpark parity (the optional `spark` extra) --------------------------------------


def _running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `spark` skip when pyspark or Java is missing, but fail under CI=true."""
    if item.get_closest_marker("spark") is None:
        return
    missing = missing_spark_requirements()
    if not missing:
        return
    reason = "PySpark parity tests cannot run: " + "; ".join(missing)
    if _running_in_ci():
        pytest.fail(reason + " (CI=true, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark():
    """An Ibis PySpark connection over one local SparkSession shared by the whole test run.

    Starting a session costs seconds, so it is started once, on first use, and
    stopped at the end. Use it with `spark_parity.assert_same_rows(..., spark=spark)`.
    """
    session = start_spark_session()
    try:
        yield connect_spark(session)
    finally:
        session.stop()
