"""The store: declared schemas, migrations, transactions, expressions across short sessions."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from workbench import config
from workbench.capture import ingest
from workbench.exceptions import ConfigError, SchemaVersionError, TableNotFound
from workbench.schema import CATALOG, SCHEMA_VERSION, TABLES, V1_DDL
from workbench.store import Store


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
        "AND database_name = ?",
        [table, CATALOG],
    ).fetchall()
    return dict(rows)


def _events(n: int, *, prefix: str = "e") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"{prefix}{i}" for i in range(n)],
            "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
            "user_id": [f"u{i % 3}" for i in range(n)],
            "item_id": [f"i{i % 5}" for i in range(n)],
            "event_type": "play",
        }
    )


def test_fresh_store_has_every_declared_table_with_its_columns(file_store):
    with file_store.reading() as raw:
        for name, spec in TABLES.items():
            assert _columns(raw, name) == spec.columns, name
    assert file_store.schema_version() == SCHEMA_VERSION
    assert "_workbench_meta" not in file_store.tables()


def test_opening_a_version_1_store_migrates_it_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS {CATALOG}")
    for statement in V1_DDL:
        con.execute(statement)
    con.execute(
        f"INSERT INTO {CATALOG}.main.events (event_id, ts, user_id, event_type) "
        "VALUES ('old-1', TIMESTAMP '2025-06-01 10:00:00', 'u1', 'play')"
    )
    con.execute(
        f"INSERT INTO {CATALOG}.main.batches (batch_id, source, rows_in, accepted, quarantined, "
        "duplicates, status) VALUES ('b-old', 'old.csv', 1, 1, 0, 0, 'committed')"
    )
    con.execute(f"DETACH {CATALOG}")
    con.close()

    store = Store.open(f"duckdb://{path}")

    assert store.schema_version() == SCHEMA_VERSION
    with store.reading() as raw:
        for name, spec in TABLES.items():
            assert _columns(raw, name) == spec.columns, name
    batch = store.sql("SELECT table_name, source FROM batches").to_pylist()
    assert batch == [{"table_name": "events", "source": "old.csv"}]
    assert store.table("events").event_id.execute().tolist() == ["old-1"]
    # The migrated store takes new batches through the current capture path.
    report = ingest(store, _events(2))
    assert report.accepted == 2
    assert store.table("events").count().execute() == 3


def test_opening_a_version_2_store_adds_run_digests_alias_log_and_online_state(tmp_path):
    path = tmp_path / "v2.duckdb"
    Store.open(f"duckdb://{path}")
    # Take the store back to version 2's layout, with a run recorded then.
    con = duckdb.connect(str(path))
    for column in ("notebook_sha256", "inputs_digest", "trigger", "code_digest"):
        con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    later = ["model_alias_log", "alerts", "scans"]  # alerts and scans came in version 4
    for name in [name for name in TABLES if name.startswith("online_")] + later:
        con.execute(f"DROP TABLE {name}")
    con.execute("INSERT INTO runs (run_id, job, status) VALUES ('r-old', 'train', 'succeeded')")
    con.execute("UPDATE _workbench_meta SET value = '2' WHERE key = 'schema_version'")
    con.close()

    store = Store.open(f"duckdb://{path}")

    assert store.schema_version() == SCHEMA_VERSION == 8
    with store.reading() as raw:
        for name, spec in TABLES.items():
            assert _columns(raw, name) == spec.columns, name
    assert store.sql("SELECT run_id, inputs_digest FROM runs").to_pylist() == [
        {"run_id": "r-old", "inputs_digest": None}
    ]


def test_opening_a_version_3_store_adds_anomaly_scans_alerts_and_run_code_digests(tmp_path):
    path = tmp_path / "v3.duckdb"
    Store.open(f"duckdb://{path}")
    con = duckdb.connect(str(path))
    for name in ("alerts", "scans"):
        con.execute(f"DROP TABLE {name}")
    con.execute("ALTER TABLE runs DROP COLUMN code_digest")
    con.execute("INSERT INTO runs (run_id, job, status) VALUES ('r-old', 'scan', 'succeeded')")
    con.execute("UPDATE _workbench_meta SET value = '3' WHERE key = 'schema_version'")
    con.close()

    store = Store.open(f"duckdb://{path}")

    assert store.schema_version() == SCHEMA_VERSION == 8
    with store.reading() as raw:
        for name in ("alerts", "scans", "runs"):
            assert _columns(raw, name) == TABLES[name].columns, name
    assert store.table("alerts").count().execute() == 0
    assert store.sql("SELECT run_id, code_digest FROM runs").to_pylist() == [
        {"run_id": "r-old", "code_digest": None}
    ]


def test_opening_a_version_5_store_renames_each_digest_for_what_it_covers(tmp_path):
    path = tmp_path / "v5.duckdb"
    Store.open(f"duckdb://{path}")
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE model_versions RENAME COLUMN training_digest TO data_digest")
    con.execute("ALTER TABLE runs RENAME COLUMN inputs_digest TO data_digest")
    con.execute(
        "INSERT INTO model_versions (name, version, data_digest) VALUES ('recs', 1, 'sha256:rows')"
    )
    con.execute(
        "INSERT INTO runs (run_id, job, status, data_digest) "
        "VALUES ('r-old', 'train', 'succeeded', 'inputs')"
    )
    con.execute("UPDATE _workbench_meta SET value = '5' WHERE key = 'schema_version'")
    con.close()

    store = Store.open(f"duckdb://{path}")

    assert store.schema_version() == SCHEMA_VERSION == 8
    with store.reading() as raw:
        for name in ("model_versions", "runs"):
            assert _columns(raw, name) == TABLES[name].columns, name
    assert store.sql("SELECT training_digest FROM model_versions").to_pylist() == [
        {"training_digest": "sha256:rows"}
    ]
    assert store.sql("SELECT inputs_digest FROM runs").to_pylist() == [{"inputs_digest": "inputs"}]


def test_opening_a_version_6_store_spells_recorded_metrics_the_current_way(tmp_path):
    path = tmp_path / "v6.duckdb"
    Store.open(f"duckdb://{path}")
    con = duckdb.connect(str(path))
    old = {"ndcg@10": 0.3, "ndcg@10_low": 0.2, "map": 0.1, "fit_seconds": 1.5}
    con.execute(
        "INSERT INTO model_versions (name, version, metrics) VALUES ('recs', 1, ?)",
        [json.dumps({"values": old, "holdout": "sha256:h"})],
    )
    con.execute(
        "INSERT INTO model_measurements VALUES ('recs', 1, 'sha256:other', ?, NULL)",
        [json.dumps({"recall@20": 0.4})],
    )
    con.execute(
        "INSERT INTO model_alias_log (seq, name, alias, action, version, metric) "
        "VALUES (1, 'recs', 'champion', 'promote', 1, 'ndcg@10')"
    )
    con.execute("UPDATE _workbench_meta SET value = '6' WHERE key = 'schema_version'")
    con.close()

    store = Store.open(f"duckdb://{path}")

    assert store.schema_version() == SCHEMA_VERSION == 8
    (version,) = store.sql("SELECT metrics FROM model_versions").to_pylist()
    assert json.loads(version["metrics"]) == {
        "values": {
            "ndcg_at_10_score": 0.3,
            "ndcg_at_10_score_low": 0.2,
            "mean_average_precision_score": 0.1,
            "fit_seconds": 1.5,
        },
        "holdout": "sha256:h",
    }
    (measured,) = store.sql("SELECT metrics FROM model_measurements").to_pylist()
    assert json.loads(measured["metrics"]) == {"recall_at_20_score": 0.4}
    assert store.sql("SELECT metric FROM model_alias_log").to_pylist() == [
        {"metric": "ndcg_at_10_score"}
    ]


def test_a_store_from_a_newer_workbench_is_refused_with_advice(tmp_path):
    url = f"duckdb://{tmp_path / 'new.duckdb'}"
    store = Store.open(url)
    with store.transaction() as raw:
        raw.execute("UPDATE _workbench_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="Upgrade the workbench"):
        Store.open(url)


def test_a_failed_transaction_leaves_nothing_behind(file_store):
    with pytest.raises(RuntimeError), file_store.transaction() as raw:
        raw.execute(
            "INSERT INTO events (event_id, ts, user_id, event_type) "
            "VALUES ('x', TIMESTAMP '2026-01-01', 'u', 'play')"
        )
        raise RuntimeError("crash in the middle of a unit of work")
    assert file_store.table("events").count().execute() == 0


def test_an_expression_built_earlier_sees_rows_written_later(file_store):
    events = file_store.table("events")
    per_user = events.group_by("user_id").agg(n=events.count()).order_by("user_id")
    assert per_user.execute().empty

    ingest(file_store, _events(6))

    result = per_user.execute()
    assert result.to_dict("records") == [
        {"user_id": "u0", "n": 2},
        {"user_id": "u1", "n": 2},
        {"user_id": "u2", "n": 2},
    ]
    assert per_user.to_pyarrow().num_rows == 3
    assert sum(batch.num_rows for batch in events.to_pyarrow_batches(chunk_size=2)) == 6


def test_in_memory_tables_join_store_tables(file_store):
    import ibis

    ingest(file_store, _events(4))
    wanted = ibis.memtable({"user_id": ["u1"]})
    joined = file_store.table("events").join(wanted, "user_id")
    assert sorted(joined.event_id.execute()) == ["e1"]


def test_the_store_file_is_free_between_units_of_work(file_store):
    ingest(file_store, _events(3))
    file_store.table("events").count().execute()
    # Another process opens the file read-write with plain DuckDB while our Store lives.
    probe = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
        "print(con.execute('SELECT count(*) FROM events').fetchone()[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(file_store.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


def test_store_url_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Relative paths are the project's: absolute here, so every folder agrees on them.
    assert config.resolve_store_url() == f"duckdb://{tmp_path / 'data' / 'workbench.duckdb'}"
    (tmp_path / "workbench.toml").write_text('[store]\nurl = "duckdb://from-toml.duckdb"\n')
    assert config.resolve_store_url() == f"duckdb://{tmp_path / 'from-toml.duckdb'}"
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # a kernel of JupyterLab starts here
    assert config.resolve_store_url() == f"duckdb://{tmp_path / 'from-toml.duckdb'}"
    monkeypatch.setenv("WORKBENCH_STORE", "duckdb://from-env.duckdb")
    assert config.resolve_store_url() == "duckdb://from-env.duckdb"
    assert config.resolve_store_url("duckdb://explicit.duckdb") == "duckdb://explicit.duckdb"


def test_default_store_is_created_under_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store.open()
    assert store.path == tmp_path / "data" / "workbench.duckdb"
    assert store.path.exists()


def test_a_broken_workbench_toml_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workbench.toml").write_text("[store\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.resolve_store_url()


def test_other_schemes_are_refused_with_advice():
    with pytest.raises(ConfigError, match=r"duckdb://PATH"):
        Store.open("postgres://somewhere/db")


def test_unknown_table_names_the_tables_and_the_next_step(memory_store):
    with pytest.raises(TableNotFound, match="workbench ingest"):
        memory_store.table("no_such_table")


def test_row_counts_cover_every_table(memory_store):
    ingest(memory_store, _events(5))
    counts = memory_store.count_rows()
    assert counts["events"] == 5
    assert counts["batches"] == 1
    assert set(counts) == set(TABLES) - {"_workbench_meta"}


def test_a_store_missing_declared_columns_is_refused_with_advice(tmp_path):
    url = f"duckdb://{tmp_path / 'odd.duckdb'}"
    store = Store.open(url)
    with store.transaction() as raw:
        raw.execute("ALTER TABLE batches DROP COLUMN options")
    with pytest.raises(SchemaVersionError, match=r"batches: options.*new store"):
        Store.open(url)


def test_opening_a_version_7_store_lets_labels_cover_spans(tmp_path):
    path = tmp_path / "v7.duckdb"
    Store.open(f"duckdb://{path}")
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE labels DROP COLUMN ts_end")
    con.execute(
        "INSERT INTO labels (target, series_id, ts, label, source, labeled_at) VALUES "
        "('a@2026-01-01T00:00:00+00:00', 'a', '2026-01-01', 1, 'ann', '2026-01-02')"
    )
    con.execute("UPDATE _workbench_meta SET value = '7' WHERE key = 'schema_version'")
    con.close()

    store = Store.open(f"duckdb://{path}")

    assert store.schema_version() == SCHEMA_VERSION == 8
    with store.reading() as raw:
        assert _columns(raw, "labels") == TABLES["labels"].columns
    assert store.sql("SELECT target, ts_end FROM labels").to_pylist() == [
        {"target": "a@2026-01-01T00:00:00+00:00", "ts_end": None}
    ]
