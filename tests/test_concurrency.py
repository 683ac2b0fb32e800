"""Several real processes share one store file: kernels, ingests, foreign tools, crashes.

Each test starts OS processes with the interpreter running pytest. Every wait is
bounded, so a locking bug fails a test instead of hanging the suite, and no test
asserts how long anything took: processes signal each other through files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workbench.capture import ingest
from workbench.exceptions import StoreLocked
from workbench.store import Store

pytestmark = pytest.mark.slow

#: Longest any single wait in these tests may take before the test fails.
WAIT_SECONDS = 60


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def spawn(tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start Python scripts as child processes; any still running at the end are killed."""
    started: list[subprocess.Popen] = []

    def start(script: str, *args: str, name: str) -> subprocess.Popen:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(script))
        with (
            (tmp_path / f"{name}.out").open("w") as out,
            (tmp_path / f"{name}.err").open("w") as err,
        ):
            process = subprocess.Popen(
                [sys.executable, str(path), *args],
                cwd=tmp_path,
                env=_child_env(),
                stdout=out,
                stderr=err,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT_SECONDS)


def _child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "WORKBENCH_LOCK_TIMEOUT": str(WAIT_SECONDS), **extra}


def _workbench(*args: str, cwd: Path) -> subprocess.Popen:
    """Start the ``workbench`` command (not waiting for it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *args],
        cwd=cwd,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    """Wait (bounded) for a process started by :func:`_workbench`."""
    try:
        stdout, stderr = process.communicate(timeout=WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate(timeout=WAIT_SECONDS)
        pytest.fail(f"{process.args} did not finish in {WAIT_SECONDS}s; stderr: {stderr}")
    return process.returncode, stdout, stderr


def _ingest_report(process: subprocess.Popen) -> dict:
    code, stdout, stderr = _finish(process)
    assert code == 0, stderr
    return json.loads(stdout)


def _wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    process: subprocess.Popen | None = None,
    tmp_path: Path | None = None,
) -> None:
    """Poll ``condition`` until it holds; fail if ``process`` dies first or time runs out."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if process is not None and process.poll() is not None:
            errors = ""
            if tmp_path is not None:
                errors = "".join(p.read_text() for p in tmp_path.glob("*.err"))
            pytest.fail(f"process exited ({process.returncode}) before {what}: {errors}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT_SECONDS}s waiting for {what}")
        time.sleep(0.02)


def _write_events_csv(path: Path, prefix: str, rows: int, *, user: str = "u") -> Path:
    lines = ["event_id,ts,user_id,item_id,event_type"]
    lines += [
        f"{prefix}{i},2026-01-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z,{user}{i % 7},i{i % 5},play"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _event_ids(store: Store) -> list[str]:
    return store.sql("SELECT event_id FROM events").column("event_id").to_pylist()


# Scripts run by child processes. They talk to the test through files in their folder,
# written whole (write, then rename) so a reader never sees half of one.

_SIGNAL = """
import json, os, sys, time
from pathlib import Path

def tell(folder, name, data=None):
    partial = folder / (name + ".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, folder / name)

def wait_for(path):
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(f"never saw {path}")
        time.sleep(0.02)
"""

KERNEL = (
    _SIGNAL
    + """
from workbench.store import Store

url, folder = sys.argv[1], Path(sys.argv[2])
store = Store.open(url, lock_timeout=60)
events = store.table("events")
total = events.count()
late_users = events.filter(events.user_id.startswith("late")).user_id.nunique()

def look():
    return {"total": int(total.execute()), "late_users": int(late_users.execute())}

tell(folder, "first.json", look())
wait_for(folder / "go")          # idle, like a notebook kernel between cells
tell(folder, "second.json", look())
"""
)

HOLD_WRITE_LOCK = (
    _SIGNAL
    + """
import pandas as pd
from workbench.capture import ingest
from workbench.store import Store

url, folder = sys.argv[1], Path(sys.argv[2])
store = Store.open(url, lock_timeout=60)
with store.writing():
    tell(folder, "ready")
    wait_for(folder / "release")
    # Written just before letting go: whoever waited must see it.
    ingest(store, pd.DataFrame({"event_id": ["held"], "ts": ["2026-01-01T00:00:00Z"],
                                "user_id": ["u1"], "event_type": ["play"]}))
"""
)

FOREIGN_HOLDER = (
    _SIGNAL
    + """
import duckdb

path, folder = sys.argv[1], Path(sys.argv[2])
connection = duckdb.connect(path)  # read-write, outside the workbench and its lock file
tell(folder, "ready")
wait_for(folder / "release")
connection.close()
"""
)

BUSY_READER = (
    _SIGNAL
    + """
from workbench.store import Store

url, folder, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
store = Store.open(url, lock_timeout=60)
tell(folder, name + ".ready")
# Long reads, one after another, with no gap: two such readers overlap all the time.
while not (folder / "stop").exists():
    with store.reading() as raw:
        raw.execute("SELECT count(*) FROM events").fetchone()
        time.sleep(0.3)
"""
)


# --- tests -------------------------------------------------------------------------------


def test_a_long_lived_kernel_does_not_block_an_ingest_and_its_expressions_see_new_rows(
    tmp_path, spawn
):
    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    Store.open(url)
    kernel = spawn(KERNEL, url, str(tmp_path), name="kernel")
    _wait_until(
        (tmp_path / "first.json").exists,
        "the kernel's first query",
        process=kernel,
        tmp_path=tmp_path,
    )
    assert json.loads((tmp_path / "first.json").read_text()) == {"total": 0, "late_users": 0}
    # The kernel is alive and idle: it must not be holding the store.
    assert kernel.poll() is None
    holders = tmp_path / "store.duckdb.holders"
    assert list(holders.glob(f"{kernel.pid}-*.json")) == []

    late = _write_events_csv(tmp_path / "late.csv", "late-", 25, user="late")
    report = _ingest_report(_workbench("ingest", str(late), "--store", url, "--json", cwd=tmp_path))
    assert (report["status"], report["accepted"]) == ("committed", 25)

    (tmp_path / "go").touch()
    _wait_until(
        (tmp_path / "second.json").exists,
        "the kernel's second query",
        process=kernel,
        tmp_path=tmp_path,
    )
    assert kernel.wait(timeout=WAIT_SECONDS) == 0
    assert json.loads((tmp_path / "second.json").read_text()) == {"total": 25, "late_users": 7}


def test_two_ingests_of_different_files_at_once_both_land_whole(tmp_path):
    url = f"duckdb://{tmp_path / 'store.duckdb'}"  # created by whichever process comes first
    first = _write_events_csv(tmp_path / "first.csv", "a-", 300)
    second = _write_events_csv(tmp_path / "second.csv", "b-", 200)
    processes = [
        _workbench("ingest", str(path), "--store", url, "--json", cwd=tmp_path)
        for path in (first, second)
    ]
    reports = [_ingest_report(process) for process in processes]

    assert [r["status"] for r in reports] == ["committed", "committed"]
    assert [r["accepted"] for r in reports] == [300, 200]
    store = Store.open(url, lock_timeout=WAIT_SECONDS)
    assert sorted(_event_ids(store)) == sorted(
        [f"a-{i}" for i in range(300)] + [f"b-{i}" for i in range(200)]
    )
    batches = store.sql("SELECT * FROM batches ORDER BY source").to_pylist()
    assert [b["batch_id"] for b in batches] == [r["batch_id"] for r in reports]
    for batch in batches:
        assert batch["status"] == "committed"
        assert batch["rows_in"] == batch["accepted"] + batch["quarantined"] + batch["duplicates"]
    assert sum(b["accepted"] for b in batches) == store.count_rows()["events"] == 500


def test_one_file_ingested_by_two_processes_at_once_is_stored_once(tmp_path):
    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    Store.open(url)
    path = _write_events_csv(tmp_path / "same.csv", "s-", 400)
    processes = [
        _workbench("ingest", str(path), "--store", url, "--json", cwd=tmp_path) for _ in range(2)
    ]
    reports = sorted((_ingest_report(p) for p in processes), key=lambda r: r["status"])

    already, committed = reports
    assert (already["status"], committed["status"]) == ("already_ingested", "committed")
    assert already["previous_batch_id"] == committed["batch_id"]
    assert committed["accepted"] == 400
    store = Store.open(url, lock_timeout=WAIT_SECONDS)
    assert store.sql("SELECT batch_id FROM batches").column(0).to_pylist() == [
        committed["batch_id"]
    ]
    ids = _event_ids(store)
    assert len(ids) == len(set(ids)) == 400


def test_a_store_held_too_long_fails_naming_the_holder_and_a_patient_waiter_succeeds(
    tmp_path, spawn
):
    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    store = Store.open(url, lock_timeout=0.3)
    holder = spawn(HOLD_WRITE_LOCK, url, str(tmp_path), name="hold_lock")
    _wait_until(
        (tmp_path / "ready").exists,
        "the holder to take the store",
        process=holder,
        tmp_path=tmp_path,
    )

    with pytest.raises(StoreLocked) as caught:
        store.table("events").count().execute()
    message = str(caught.value)
    assert f"pid {holder.pid}" in message
    assert "hold_lock.py" in message  # the holder's command
    assert "WORKBENCH_LOCK_TIMEOUT" in message  # how to wait longer
    assert [h["pid"] for h in caught.value.holders] == [holder.pid]

    # The command line says the same, in one line.
    status = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "status", "--store", url],
        cwd=tmp_path,
        env=_child_env(WORKBENCH_LOCK_TIMEOUT="0.3"),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert status.returncode == 1
    assert status.stderr.count("\n") == 1
    assert status.stderr.startswith("error: ") and f"pid {holder.pid}" in status.stderr

    seen: dict = {}

    def wait_patiently() -> None:
        try:
            patient = Store.open(url, lock_timeout=WAIT_SECONDS)
            seen["events"] = _event_ids(patient)
        except Exception as error:
            seen["error"] = error

    waiter = threading.Thread(target=wait_patiently, daemon=True)
    waiter.start()
    waiter.join(timeout=0.2)
    assert waiter.is_alive(), f"the waiter did not wait for the holder: {seen}"
    (tmp_path / "release").touch()
    waiter.join(timeout=WAIT_SECONDS)
    assert not waiter.is_alive()
    assert seen == {"events": ["held"]}
    assert holder.wait(timeout=WAIT_SECONDS) == 0


def test_a_foreign_duckdb_process_holding_the_file_is_named(tmp_path, spawn):
    path = tmp_path / "store.duckdb"
    url = f"duckdb://{path}"
    Store.open(url)
    foreign = spawn(FOREIGN_HOLDER, str(path), str(tmp_path), name="foreign_holder")
    _wait_until(
        (tmp_path / "ready").exists,
        "the foreign process to open the file",
        process=foreign,
        tmp_path=tmp_path,
    )

    with pytest.raises(StoreLocked) as caught:
        Store.open(url, lock_timeout=0.3)
    assert f"pid {foreign.pid}" in str(caught.value)
    assert "foreign_holder.py" in str(caught.value)
    assert [h["pid"] for h in caught.value.holders] == [foreign.pid]

    (tmp_path / "release").touch()
    assert foreign.wait(timeout=WAIT_SECONDS) == 0
    assert Store.open(url, lock_timeout=WAIT_SECONDS).count_rows()["events"] == 0


def test_an_ingest_killed_midway_leaves_no_partial_batch(tmp_path):
    import duckdb

    rows = 2_000_000
    big = tmp_path / "big.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT 'big-' || i AS event_id, TIMESTAMP '2026-01-01' + to_seconds(i) AS ts, "
        f"'u' || (i % 1000) AS user_id, 'i' || (i % 500) AS item_id, 'play' AS event_type "
        f"FROM range({rows}) t(i)) TO '{big}' (FORMAT parquet)"
    )
    db = tmp_path / "store.duckdb"
    url = f"duckdb://{db}"
    store = Store.open(url, lock_timeout=WAIT_SECONDS)
    before = ingest(store, _write_events_csv(tmp_path / "before.csv", "before-", 50))
    size_before = db.stat().st_size

    process = _workbench("ingest", str(big), "--store", url, "--json", cwd=tmp_path)
    holders = tmp_path / "store.duckdb.holders"

    def writing_or_done() -> bool:
        if process.poll() is not None:
            return True
        for note in holders.glob(f"{process.pid}-*.json"):
            try:
                if json.loads(note.read_text())["mode"] == "write":
                    return True
            except (OSError, ValueError):
                pass  # removed or half-written: look again
        return False

    def growing_or_done() -> bool:
        return process.poll() is not None or db.stat().st_size > size_before

    # Kill it once it holds the store for writing and has started writing rows.
    _wait_until(writing_or_done, "the ingest to take the store")
    _wait_until(growing_or_done, "the ingest to write into the store")
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    code, _, stderr = _finish(process)
    assert killed or code == 0, stderr

    store = Store.open(url, lock_timeout=5)  # the dead process's lock went with it
    batches = store.sql("SELECT * FROM batches WHERE source = 'big.parquet'").to_pylist()
    big_rows = store.sql("SELECT count(*) FROM events WHERE event_id LIKE 'big-%'").column(0)[0]
    if batches:  # it finished before the kill: then all of it
        assert len(batches) == 1 and batches[0]["accepted"] == rows
        assert big_rows.as_py() == rows
    else:
        assert big_rows.as_py() == 0
    assert store.count_rows()["events"] == before.accepted + big_rows.as_py()

    after = ingest(store, _write_events_csv(tmp_path / "after.csv", "after-", 30))
    assert (after.status, after.accepted) == ("committed", 30)


@pytest.mark.parametrize(
    ("crash_at", "kept"),
    [("ingest:appended", False), ("ingest:committed", True)],
    ids=["before-commit", "after-commit"],
)
def test_an_ingest_killed_at_a_named_point_leaves_all_or_nothing(tmp_path, crash_at, kept):
    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    store = Store.open(url, lock_timeout=WAIT_SECONDS)
    before = ingest(store, _write_events_csv(tmp_path / "before.csv", "before-", 50))
    batch = _write_events_csv(tmp_path / "batch.csv", "batch-", 400)

    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "ingest", str(batch), "--store", url],
        cwd=tmp_path,
        env={**_child_env(), "WORKBENCH_CRASH_AT": crash_at},
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr

    # The next process opens the store at once (no manual step) and sees all or nothing.
    store = Store.open(url, lock_timeout=5)
    counts = store.count_rows()
    assert counts["events"] == before.accepted + (400 if kept else 0)
    assert counts["batches"] == (2 if kept else 1)
    again = ingest(store, batch)
    if kept:
        assert again.status == "already_ingested" and again.accepted == 0
    else:
        assert (again.status, again.accepted) == ("committed", 400)
    assert store.count_rows()["events"] == before.accepted + 400


def test_a_unit_of_work_that_fails_with_a_transaction_open_still_lets_go(tmp_path):
    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    store = Store.open(url, lock_timeout=WAIT_SECONDS)

    with pytest.raises(ValueError, match="boom"), store.writing() as raw:
        raw.execute("BEGIN TRANSACTION")
        raw.execute("INSERT INTO events (event_id) VALUES ('never-committed')")
        raise ValueError("boom")

    other = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "status", "--store", url, "--json"],
        cwd=tmp_path,
        env=_child_env(WORKBENCH_LOCK_TIMEOUT="5"),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["tables"]["events"] == 0
    assert store.count_rows()["events"] == 0  # and this process can go on using the store


def test_a_writer_gets_in_between_readers_that_never_pause(tmp_path, spawn):
    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    Store.open(url)
    readers = [spawn(BUSY_READER, url, str(tmp_path), name, name=name) for name in ("r1", "r2")]
    for name, reader in zip(("r1", "r2"), readers, strict=True):
        _wait_until(
            lambda n=name: (tmp_path / f"{n}.ready").exists(),
            f"{name} ready",
            process=reader,
            tmp_path=tmp_path,
        )
    try:
        # The readers' shared holds overlap without a break; a waiting writer must still
        # get its turn (readers arriving after it queue behind it).
        store = Store.open(url, lock_timeout=20)
        report = ingest(store, _write_events_csv(tmp_path / "late.csv", "late", 10))
        assert report.accepted == 10
    finally:
        (tmp_path / "stop").touch()
    for reader in readers:
        assert reader.wait(timeout=WAIT_SECONDS) == 0


def test_validating_an_input_leaves_the_store_to_other_writers(tmp_path, monkeypatch):
    """While ingest types and judges rows, another process may write; only the append waits."""
    import pandas as pd

    import workbench.capture as capture

    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    store = Store.open(url, lock_timeout=30)
    other = Store.open(url, lock_timeout=0.5)  # would time out if the store were held
    judged = []
    judge = capture._judge

    def judge_while_another_writes(raw, plan, report):
        with other.writing() as held:  # another writer gets the store at this very moment
            held.execute("SELECT 1")
        judged.append(report.batch_id)
        return judge(raw, plan, report)

    monkeypatch.setattr(capture, "_judge", judge_while_another_writes)
    rows = pd.DataFrame(
        {
            "event_id": ["a", "b"],
            "ts": ["2026-01-01"] * 2,
            "user_id": ["u"] * 2,
            "event_type": ["play"] * 2,
        }
    )
    report = ingest(store, rows)
    assert judged == [report.batch_id] and report.accepted == 2
