"""The service's parts on their own: the grouped writer's accounting, the snapshot, settings."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest

from workbench.config import resolve_service_settings
from workbench.exceptions import ConfigError, IngestError
from workbench.service.snapshot import ListSnapshot
from workbench.service.writer import EventWriter


def line(event_id: str, **fields) -> tuple[str, str]:
    event = {
        "event_id": event_id,
        "ts": "2026-03-01T12:00:00Z",
        "user_id": "u1",
        "item_id": "i1",
        "event_type": "play",
        **fields,
    }
    return event_id, json.dumps(event)


def grouped(store, jobs):
    """Submit ``jobs`` while the store is held, so the writer takes them as one group."""
    writer = EventWriter(store)
    writer.start()
    try:
        with store.writing():
            futures = [writer.submit_events(events) for events in jobs]
        return [future.exception() or future.result() for future in futures], writer
    finally:
        writer.close()


def test_one_group_commits_once_and_accounts_per_request(file_store):
    outcomes, writer = grouped(
        file_store,
        [
            [line("g1"), line("g2", ts="never")],
            [line("g1"), line("g3")],  # g1 is the first request's
            [line("g3"), line("g4")],  # g3 came earlier in the same group
        ],
    )
    assert writer.commits == 1
    assert len({outcome.batch_id for outcome in outcomes}) == 1
    counts = [(o.accepted, o.quarantined, o.duplicates) for o in outcomes]
    assert counts == [(1, 1, 0), (1, 0, 1), (1, 0, 1)]
    assert outcomes[0].rejected[0]["event_id"] == "g2"
    assert "not a time" in outcomes[0].rejected[0]["reason"]
    stored = file_store.sql("SELECT event_id FROM events ORDER BY event_id").column("event_id")
    assert stored.to_pylist() == ["g1", "g3", "g4"]


def test_a_request_the_capture_refuses_does_not_fail_the_others_of_its_group(file_store):
    outcomes, _ = grouped(
        file_store,
        [[line("ok-1")], [line("bad", __wb_row=1)], [line("ok-2")]],
    )
    assert isinstance(outcomes[1], IngestError) and "reserved" in str(outcomes[1])
    assert (outcomes[0].accepted, outcomes[2].accepted) == (1, 1)
    assert file_store.count_rows()["events"] == 2


def test_shutdown_writes_what_is_queued(file_store):
    writer = EventWriter(file_store, durability="buffer")
    writer.start()
    with file_store.writing():
        # The store is held: the writer cannot write, yet buffer mode answers at once.
        answers = [writer.submit_events([line(f"q{i}")]).result() for i in range(5)]
    writer.close()
    assert {a.status for a in answers} == {"queued"}
    assert file_store.count_rows()["events"] == 5


def test_the_snapshot_opens_the_store_only_when_the_file_changed(file_store, monkeypatch):
    snapshot = ListSnapshot(file_store, refresh_seconds=60)
    snapshot.refresh()
    opened = []
    original = type(file_store).reading

    def counting(self):
        opened.append(1)
        return original(self)

    monkeypatch.setattr(type(file_store), "reading", counting)
    for _ in range(5):
        assert snapshot.refresh() is False
    assert opened == []
    with file_store.transaction() as raw:
        raw.execute(
            "INSERT INTO recommendations VALUES ('m', 1, 'u1', 1, 'a', 0.5, ?)",
            [datetime(2026, 3, 1)],
        )
    assert snapshot.refresh() is True and len(opened) == 1
    answer = snapshot.lookup("u1", 1)
    assert answer["source"] == "precomputed" and answer["items"][0]["item_id"] == "a"


def test_the_fallback_is_recounted_at_most_every_popularity_seconds(file_store):
    from workbench.capture import ingest

    snapshot = ListSnapshot(file_store, popularity_seconds=3600)
    snapshot.refresh()
    import pyarrow as pa

    rows = [json.loads(line(f"p{i}", item_id="hit")[1]) for i in range(3)]
    ingest(file_store, pa.Table.from_pylist(rows))
    snapshot.refresh()
    assert snapshot.lookup("nobody", 1)["items"] == []  # counted before; not due again yet
    snapshot.popularity_seconds = 0.0
    ingest(file_store, pa.Table.from_pylist([json.loads(line("p9", item_id="hit")[1])]))
    snapshot.refresh()
    assert snapshot.lookup("nobody", 1)["items"] == [{"item_id": "hit", "rank": 1, "score": 4.0}]


def test_service_settings_come_from_the_environment_toml_and_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workbench.toml").write_text(
        '[service]\ntoken = "from-file"\nport = 9001\nmax_batch_events = 10\n'
    )
    settings = resolve_service_settings()
    assert (settings["token"], settings["port"], settings["host"]) == (
        "from-file",
        9001,
        "127.0.0.1",
    )
    monkeypatch.setenv("WORKBENCH_TOKEN", "from-env")
    assert resolve_service_settings({"port": 9002})["token"] == "from-env"
    assert resolve_service_settings({"port": 9002})["port"] == 9002


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("[service]\nporta = 1\n", "unknown settings ['porta']"),
        ('[service]\ndurability = "maybe"\n', "durability must be one of commit, buffer"),
        ("[service]\nmax_body_bytes = 0\n", "max_body_bytes must be a whole number"),
        ('[service]\ntoken = " "\n', "must be non-empty text"),
    ],
)
def test_bad_service_settings_say_which_and_why(tmp_path, monkeypatch, toml, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workbench.toml").write_text(toml)
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        resolve_service_settings()


def test_the_writer_never_leaves_a_request_waiting_when_the_store_is_busy(tmp_path):
    from workbench.exceptions import StoreLocked
    from workbench.store import Store

    store = Store.open(f"duckdb://{tmp_path / 's.duckdb'}", lock_timeout=0.3)
    other = Store.open(f"duckdb://{tmp_path / 's.duckdb'}", lock_timeout=0.3)
    writer = EventWriter(store)
    writer.start()
    holding, release = threading.Event(), threading.Event()

    def hold():
        with other.writing():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)  # the store is busy before the request arrives, not by luck
        future = writer.submit_events([line("busy")])
        assert isinstance(future.exception(timeout=30), StoreLocked)
        assert writer.last_error is not None
    finally:
        release.set()
        holder.join()
    assert writer.submit_events([line("busy")]).result(timeout=30).accepted == 1
    writer.close()
