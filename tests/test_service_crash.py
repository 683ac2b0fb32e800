"""Crash test: kill -9 the server during a write burst, restart it, reconcile acknowledged vs stored."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from service_server import Server, children, process_state

from workbench.store import Store

pytestmark = pytest.mark.slow

CLIENTS = 8
BATCH = 10


def burst(server: Server, stop: threading.Event, ledger: dict, lock: threading.Lock, n: int):
    """One client: POST batches of fresh event ids until stopped; note what was answered 2xx."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
        for request in itertools.count():
            if stop.is_set():
                return
            ids = [f"crash-{n}-{request}-{j}" for j in range(BATCH)]
            events = [
                {
                    "event_id": i,
                    "ts": "2026-03-01T00:00:00Z",
                    "user_id": f"u{n}",
                    "item_id": "i1",
                    "event_type": "play",
                }
                for i in ids
            ]
            with lock:
                ledger["sent"].update(ids)
            try:
                answer = client.post("/events", json={"events": events})
            except httpx.TransportError:
                return  # the server is gone
            with lock:
                if 200 <= answer.status_code < 300:
                    body = answer.json()
                    assert body["accepted"] == BATCH and body["durable"] is True
                    ledger["acknowledged"].update(ids)
                else:
                    ledger["refused"].update(ids)


def test_kill_9_mid_burst_loses_no_acknowledged_event(tmp_path):
    store_path = tmp_path / "store.duckdb"
    server = Server(tmp_path, store_path).start()
    ledger = {"sent": set(), "acknowledged": set(), "refused": set()}
    lock, stop = threading.Lock(), threading.Event()
    clients = [
        threading.Thread(target=burst, args=(server, stop, ledger, lock, n)) for n in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    # Kill once the burst is well under way, while requests are in flight.
    deadline = time.monotonic() + 60
    while len(ledger["acknowledged"]) < 400 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()
    stop.set()
    for client in clients:
        client.join(60)
    assert len(ledger["acknowledged"]) >= 400, server.log()

    # Restart on the same store: it opens (replaying DuckDB's log) and serves.
    restarted = Server(tmp_path, store_path).start()
    try:
        store = Store.open(f"duckdb://{store_path}", lock_timeout=30)
        rows = store.sql("SELECT event_id, count(*) AS n FROM events GROUP BY event_id").to_pylist()
        stored = {row["event_id"]: row["n"] for row in rows}
        acknowledged, sent = ledger["acknowledged"], ledger["sent"]
        in_flight = sent - acknowledged - ledger["refused"]
        print(
            f"\ncrash test: sent {len(sent):,}, acknowledged {len(acknowledged):,}, "
            f"refused {len(ledger['refused']):,}, unanswered at the kill {len(in_flight):,}, "
            f"stored {len(stored):,} (of which committed but unanswered "
            f"{len(set(stored) - acknowledged):,})"
        )
        assert not ledger["refused"]
        assert all(stored.get(event_id) == 1 for event_id in acknowledged), "acknowledged but lost"
        assert set(stored) <= sent, "stored events nobody sent"
        assert all(n == 1 for n in stored.values()), "an event stored twice"

        # A client retrying what was never answered ends with everything stored exactly once.
        retry = sorted(in_flight)
        for start in range(0, len(retry), 100):
            ids = retry[start : start + 100]
            answer = httpx.post(
                restarted.url + "/events",
                json={
                    "events": [
                        {
                            "event_id": i,
                            "ts": "2026-03-01T00:00:00Z",
                            "user_id": "u",
                            "item_id": "i1",
                            "event_type": "play",
                        }
                        for i in ids
                    ]
                },
                headers=restarted.headers,
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            committed_before = sum(1 for i in ids if i in stored)
            assert (body["accepted"], body["duplicates"]) == (
                len(ids) - committed_before,
                committed_before,
            )
        rows = store.sql("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events")
        assert rows.to_pylist() == [{"n": len(sent), "d": len(sent)}]

        # What the restarted service blends into its answers counts every committed event
        # once: the same as computing it from the store now.
        from workbench.delivery.recent import RecentActivity

        def folded_all():
            health = httpx.get(restarted.url + "/health", timeout=30).json()["snapshot"]
            return health if health["events_folded"] == len(sent) else None

        deadline = time.monotonic() + 60
        while (health := folded_all()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert health is not None, httpx.get(restarted.url + "/health").json()
        with store.reading() as raw:
            whole = RecentActivity.compute(raw)
        served = httpx.get(restarted.url + "/recommendations/nobody", params={"k": 5}).json()
        items, weights = whole.trending()
        assert [i["item_id"] for i in served["items"]] == items[:5].tolist()
        assert [i["score"] for i in served["items"]] == pytest.approx(weights[:5].tolist())
    finally:
        restarted.terminate()


def test_kill_9_of_the_writer_process_loses_nothing_and_a_new_one_takes_over(tmp_path):
    import os
    import signal

    server = Server(tmp_path, tmp_path / "store.duckdb").start()
    try:
        health = httpx.get(server.url + "/health", timeout=30).json()["writer"]
        writer_pid = health["process"]
        assert writer_pid and writer_pid != server.process.pid  # writes in their own process
        ledger = {"sent": set(), "acknowledged": set(), "refused": set()}
        lock, stop = threading.Lock(), threading.Event()
        clients = [
            threading.Thread(target=burst, args=(server, stop, ledger, lock, n))
            for n in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 60
        while len(ledger["acknowledged"]) < 400 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(writer_pid, signal.SIGKILL)
        # The clients keep posting: some requests are refused (503) while a new writer
        # starts, then they are acknowledged again.
        before = len(ledger["acknowledged"])
        deadline = time.monotonic() + 120
        while len(ledger["acknowledged"]) < before + 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for client in clients:
            client.join(60)
        assert len(ledger["acknowledged"]) >= before + 400, server.log()
        health = httpx.get(server.url + "/health", timeout=30).json()["writer"]
        assert health["restarts"] == 1 and health["process"] not in (None, writer_pid)

        store = Store.open(f"duckdb://{tmp_path / 'store.duckdb'}", lock_timeout=30)
        rows = store.sql("SELECT event_id, count(*) AS n FROM events GROUP BY event_id").to_pylist()
        stored = {row["event_id"]: row["n"] for row in rows}
        assert all(stored.get(i) == 1 for i in ledger["acknowledged"]), "acknowledged but lost"
        assert set(stored) <= ledger["sent"] and all(n == 1 for n in stored.values())
        # Whatever was refused or unanswered, sent again, is stored exactly once.
        unsure = sorted(ledger["sent"] - ledger["acknowledged"])
        for start in range(0, len(unsure), 100):
            events = [
                {
                    "event_id": i,
                    "ts": "2026-03-01T00:00:00Z",
                    "user_id": "u",
                    "item_id": "i1",
                    "event_type": "play",
                }
                for i in unsure[start : start + 100]
            ]
            answer = httpx.post(
                server.url + "/events",
                json={"events": events},
                headers=server.headers,
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
        rows = store.sql("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events")
        assert rows.to_pylist() == [{"n": len(ledger["sent"]), "d": len(ledger["sent"])}]
    finally:
        server.terminate()


def _workers(server: Server) -> list[int]:
    """The server's worker processes (not multiprocessing's resource tracker)."""
    return [
        pid
        for pid in children(server.process.pid)
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _until(condition, seconds: float, server: Server, what: str):
    """Poll ``condition`` until it gives something true; fail saying ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} within {seconds} s: {server.log()}"
        time.sleep(0.05)
    return found


def _pinned(server: Server, pid: int, other: int) -> httpx.Client:
    """A kept-alive connection that worker ``pid`` accepted: ``other`` is stopped meanwhile."""
    client = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    os.kill(other, signal.SIGSTOP)
    try:
        _until(lambda: process_state(other) == "T", 10, server, "the other worker stopped")
        assert client.get("/health").json()["worker"] == {"pid": pid, "workers": 2}
    finally:
        os.kill(other, signal.SIGCONT)
    return client


def _plays(prefix: str, count: int, item: str) -> dict:
    return {
        "events": [
            {
                "event_id": f"{prefix}-{n}",
                "ts": "2026-03-01T00:00:00Z",
                "user_id": f"{prefix}{n}",
                "item_id": item,
                "event_type": "play",
            }
            for n in range(count)
        ]
    }


def test_two_workers_answer_what_either_acknowledged_and_outlive_a_kill_9(tmp_path):
    server = Server(
        tmp_path, tmp_path / "store.duckdb", settings={"workers": 2}, log_level="info"
    ).start()
    clients = []
    try:
        _until(
            lambda: server.log().count("Application startup complete") >= 2,
            120,
            server,
            "both workers started",
        )
        first, second = _until(
            lambda: len(_workers(server)) == 2 and _workers(server), 30, server, "two workers"
        )
        clients = [_pinned(server, first, second), _pinned(server, second, first)]
        # The first worker acknowledges a new hit; the second serves it.
        answer = clients[0].post("/events", json=_plays("fan", 8, "hit"))
        assert answer.status_code == 200 and answer.json()["accepted"] == 8, answer.text

        def second_serves_the_hit():
            items = clients[1].get("/recommendations/nobody?k=1").json()["items"]
            return bool(items) and items[0]["item_id"] == "hit"

        _until(second_serves_the_hit, 30, server, "the other worker served the hit")
        assert clients[1].get("/health").json()["worker"]["pid"] == second
        # kill -9 of the first: the second goes on, a new worker takes the first's place.
        os.kill(first, signal.SIGKILL)
        answer = clients[1].post("/events", json=_plays("late", 5, "other"))
        assert answer.status_code == 200 and answer.json()["accepted"] == 5, answer.text
        _until(
            lambda: len(_workers(server)) == 2 and first not in _workers(server),
            60,
            server,
            "a new worker replaced the killed one",
        )
    finally:
        for client in clients:
            client.close()
        assert server.terminate() == 0, server.log()
    stored = (
        Store.open(f"duckdb://{tmp_path / 'store.duckdb'}", lock_timeout=30)
        .sql("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events")
        .to_pylist()
    )
    assert stored == [{"n": 13, "d": 13}]
