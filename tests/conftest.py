"""Shared fixtures: stores in memory and on disk, and tiny synthetic inputs."""

from __future__ import annotations

import pytest

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
