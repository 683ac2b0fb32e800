"""The HTTP service on a real server: capture, delivery, auth, limits, and errors a user sees."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest
from service_server import REPO, TOKEN, Server

from workbench.capture import ingest
from workbench.datasets import make_music
from workbench.delivery import precompute
from workbench.recommend import MODELS
from workbench.registry import promote, register
from workbench.service.security import token_problem
from workbench.store import Store

pytestmark = pytest.mark.slow


def event(event_id: str, **fields) -> dict:
    return {
        "event_id": event_id,
        "ts": "2026-03-01T12:00:00Z",
        "user_id": "u1",
        "item_id": "i1",
        "event_type": "play",
        **fields,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("service")
    settings = {"max_batch_events": 50, "max_body_bytes": 20_000, "refresh_seconds": 0.2}
    with Server(folder, folder / "store.duckdb", settings=settings) as running:
        yield running


@pytest.fixture(scope="module")
def store(server):
    return Store.open(f"duckdb://{server.store_path}", lock_timeout=30)


def post_events(server, events, **kwargs):
    return httpx.post(
        server.url + "/events", json={"events": events}, headers=server.headers, **kwargs
    )


# --- capture ----------------------------------------------------------------------------


def test_post_events_accounts_like_ingest_and_names_each_reason(server, store, tmp_path):
    events = [
        event("acc-1", value=4.5, device="tv"),
        event("acc-2", ts="yesterday"),
        event("acc-3", user_id=""),
        event("acc-1"),  # same id again in the same request
        event("acc-4", ts=1767225600),
    ]
    answer = post_events(server, events)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["rows_in"], body["accepted"], body["quarantined"], body["duplicates"]) == (
        5,
        2,
        2,
        1,
    )
    assert body["status"] == "committed" and body["durable"] is True
    assert [(r["index"], r["event_id"]) for r in body["rejected"]] == [(1, "acc-2"), (2, "acc-3")]
    # The same rows through `ingest` as a JSON-lines file: the same counts and reasons.
    path = tmp_path / "same.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    reference = Store.open("duckdb://:memory:")
    report = ingest(reference, path)
    assert (report.accepted, report.quarantined, report.duplicates) == (2, 2, 1)
    expected = reference.sql("SELECT reason FROM quarantine ORDER BY row_number").column("reason")
    assert [r["reason"] for r in body["rejected"]] == expected.to_pylist()
    # Stored as ingest stores them: extra keys kept in context, the source says "service".
    stored = store.sql(
        "SELECT event_id, value, context, source FROM events WHERE event_id LIKE 'acc-%' "
        "ORDER BY event_id"
    ).to_pylist()
    assert [row["event_id"] for row in stored] == ["acc-1", "acc-4"]
    assert stored[0]["value"] == 4.5 and json.loads(stored[0]["context"]) == {"device": "tv"}
    assert {row["source"] for row in stored} == {"service"}
    batch = store.sql("SELECT source, rows_in FROM batches WHERE batch_id = ?", [body["batch_id"]])
    assert batch.to_pylist() == [{"source": "service", "rows_in": 5}]


def test_a_retried_request_is_counted_as_duplicates_and_stored_once(server, store):
    events = [event("retry-1"), event("retry-2", user_id="u2")]
    first = post_events(server, events).json()
    again = post_events(server, events).json()
    partly = post_events(server, [event("retry-2", user_id="u2"), event("retry-3")]).json()
    assert (first["accepted"], again["accepted"], again["duplicates"]) == (2, 0, 2)
    assert (partly["accepted"], partly["duplicates"]) == (1, 1)
    stored = store.sql(
        "SELECT event_id, count(*) AS n FROM events WHERE event_id LIKE 'retry-%' "
        "GROUP BY event_id ORDER BY event_id"
    ).to_pylist()
    assert stored == [{"event_id": f"retry-{i}", "n": 1} for i in (1, 2, 3)]
    # Every answer names a batch that exists: a retry, the batch that holds its rows.
    batches = set(store.sql("SELECT batch_id FROM batches").column("batch_id").to_pylist())
    assert {first["batch_id"], again["batch_id"], partly["batch_id"]} <= batches


def test_concurrent_requests_are_grouped_yet_each_gets_its_own_account(server, store):
    import concurrent.futures

    def send(i):
        events = [event(f"group-{i}-{j}") for j in range(5)] + [event(f"group-{i}-bad", ts="?")]
        return post_events(server, events).json()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(24)))
    assert all((a["accepted"], a["quarantined"], a["duplicates"]) == (5, 1, 0) for a in answers)
    assert all(a["rejected"][0]["event_id"].endswith("-bad") for a in answers)
    (count,) = store.sql("SELECT count(*) AS n FROM events WHERE event_id LIKE 'group-%'")[0]
    assert count.as_py() == 24 * 5
    batches = {a["batch_id"] for a in answers}
    assert len(batches) <= 24  # grouped commits share a batch
    health = httpx.get(server.url + "/health").json()
    assert health["writer"]["queued_events"] == 0 and health["writer"]["last_error"] is None


# --- errors a client gets ------------------------------------------------------------------


def test_malformed_json_wrong_types_and_missing_fields_get_4xx_with_the_reason(server):
    url, headers = server.url + "/events", {**server.headers, "content-type": "application/json"}
    broken = httpx.post(url, content=b'{"events": [{"event_id": ', headers=headers)
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    wrong = httpx.post(url, json={"events": [event(7)]}, headers=server.headers)
    assert wrong.status_code == 422
    assert "events.0.event_id: Input should be a valid string" in wrong.json()["error"]
    missing = httpx.post(url, json={"events": [{"event_id": "m1"}]}, headers=server.headers)
    assert missing.status_code == 422
    assert "events.0.user_id: Field required" in missing.json()["error"]
    assert "events.0.ts: Field required" in missing.json()["error"]
    not_a_batch = httpx.post(url, json=[event("x")], headers=server.headers)
    assert not_a_batch.status_code == 422
    empty = httpx.post(url, json={"events": []}, headers=server.headers)
    assert empty.status_code == 422 and "at least 1" in empty.json()["error"]
    reserved = httpx.post(url, json={"events": [event("r1", __wb_row=1)]}, headers=server.headers)
    assert reserved.status_code == 422 and "reserved" in reserved.json()["error"]
    nan = httpx.post(
        url,
        content=b'{"events": [{"event_id": "n1", "ts": 1, "user_id": "u", '
        b'"event_type": "play", "extra": NaN}]}',
        headers=headers,
    )
    assert nan.status_code == 422 and "NaN" in nan.json()["error"]


def test_an_event_with_too_many_keys_is_refused_alone(server, store):
    wide = event("wide-1", **{f"k{i}": i for i in range(1_200)})  # under max_body_bytes
    refused = post_events(server, [wide], timeout=60)
    assert refused.status_code == 422 and "at most 1,000" in refused.json()["error"]
    fine = post_events(server, [event("narrow-1")], timeout=60)
    assert fine.status_code == 200 and fine.json()["accepted"] == 1


def test_keys_that_differ_only_in_case_across_events_are_refused_with_both_named(server):
    clash = post_events(server, [event("case-1", Mood="calm"), event("case-2", mood="loud")])
    assert clash.status_code == 422
    assert clash.json()["error"] == (
        "event 0 has the key 'Mood' and event 1 the key 'mood', which differ only in case; "
        "keys are case-insensitive in the store, so spell them one way (or send the events "
        "in separate requests)."
    )
    apart = [
        post_events(server, [e])
        for e in (event("case-1", Mood="calm"), event("case-2", mood="loud"))
    ]
    assert [a.json()["accepted"] for a in apart] == [1, 1]


def test_limits_answer_413_and_say_the_limit(server, store):
    too_many = post_events(server, [event(f"many-{i}") for i in range(51)])
    assert too_many.status_code == 413
    assert "at most 50 per request" in too_many.json()["error"]
    big = post_events(server, [event(f"big-{i}", note="x" * 1000) for i in range(30)])
    assert big.status_code == 413 and "at most 20,000" in big.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"events": ['
        for i in range(30):
            yield json.dumps(event(f"chunk-{i}", note="x" * 1000)).encode() + b","
        yield b"{}]}"

    chunked = httpx.post(
        server.url + "/events",
        content=chunks(),
        headers={**server.headers, "content-type": "application/json"},
    )
    assert chunked.status_code == 413 and "max_body_bytes" in chunked.json()["error"]
    (count,) = store.sql(
        "SELECT count(*) FROM events WHERE event_id LIKE 'many-%' OR event_id LIKE 'big-%' "
        "OR event_id LIKE 'chunk-%'"
    )[0]
    assert count.as_py() == 0


def test_clients_that_trickle_headers_or_bodies_are_cut_off_and_others_are_served(tmp_path):
    import socket
    import time

    settings = {"read_timeout_seconds": 1.5, "max_connections": 64}
    with Server(tmp_path, tmp_path / "store.duckdb", settings=settings) as running:
        host, port = "127.0.0.1", running.port
        slow = []
        for n in range(20):  # half stop inside the headers, half inside a promised body
            client = socket.create_connection((host, port), timeout=30)
            if n % 2:
                client.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ")
            else:
                client.sendall(
                    b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                    b"content-length: 1000\r\nauthorization: Bearer "
                    + TOKEN.encode()
                    + b'\r\n\r\n{"events": ['
                )
            slow.append(client)
        started = time.monotonic()
        answered = httpx.get(running.url + "/health", timeout=30)  # not held up by them
        assert answered.status_code == 200
        for client in slow:  # each is closed by the server, well before the client's 30 s
            received = b""
            while chunk := client.recv(4096):
                received += chunk
            client.close()
            assert received == b"" or received.startswith(b"HTTP/1.1 408"), received[:200]
        assert time.monotonic() - started < 25
        # The 408 of a late header is the service's JSON error.
        late = socket.create_connection((host, port), timeout=30)
        late.sendall(b"GET /health HTTP/1.1\r\n")
        reply = b""
        while chunk := late.recv(4096):
            reply += chunk
        late.close()
        assert reply.startswith(b"HTTP/1.1 408")
        assert "did not arrive whole" in json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]


def test_writes_need_the_token_and_reads_do_not(server):
    anonymous = httpx.post(server.url + "/events", json={"events": [event("a1")]})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    wrong = httpx.post(
        server.url + "/events",
        json={"events": [event("a1")]},
        headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"},
    )
    assert wrong.status_code == 401 and "not the one configured" in wrong.json()["error"]
    recommend = httpx.post(server.url + "/recommend", json={"user_id": "u1"})
    assert recommend.status_code == 401
    assert httpx.get(server.url + "/recommendations/u1").status_code == 200
    assert httpx.get(server.url + "/health").status_code == 200


def test_without_a_configured_token_writes_are_refused_with_how_to_configure_one(tmp_path):
    with Server(tmp_path, tmp_path / "store.duckdb", token=None) as server:
        refused = httpx.post(
            server.url + "/events",
            json={"events": [event("t1")]},
            headers={"Authorization": "Bearer anything"},
        )
        health = httpx.get(server.url + "/health").json()
    assert refused.status_code == 403
    assert "WORKBENCH_TOKEN" in refused.json()["error"]
    assert "[service]" in refused.json()["error"]
    assert health["writes_enabled"] is False
    assert Store.open(f"duckdb://{tmp_path / 'store.duckdb'}").count_rows()["events"] == 0
    assert "No token is set" in server.log_path.read_text()  # said at start, not found out later


def test_token_comparison_refuses_prefixes_and_other_schemes():
    assert token_problem("abc", "Bearer abc") is None
    assert token_problem("abc", "Bearer ab")[0] == 401
    assert token_problem("abc", "Basic abc")[0] == 401
    assert token_problem("abc", None)[0] == 401
    assert token_problem(None, None)[0] == 403


def test_the_server_binds_loopback_by_default(server):
    from workbench.config import resolve_service_settings

    assert resolve_service_settings()["host"] == "127.0.0.1"
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


# --- delivery ---------------------------------------------------------------------------


def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_stored_lists_are_served_from_a_snapshot_that_follows_the_table(server, store):
    computed = datetime(2026, 3, 2, tzinfo=UTC).replace(tzinfo=None)
    rows = pd.DataFrame(
        {
            "model": "recs",
            "version": 1,
            "user_id": ["lu1"] * 3 + ["lu2"] * 3,
            "rank": [1, 2, 3] * 2,
            "item_id": ["a", "b", "c", "d", "e", "f"],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            "computed_at": computed,
        }
    )
    with store.transaction() as raw:
        raw.register("new_lists", rows)
        raw.execute("INSERT INTO recommendations SELECT * FROM new_lists")
        raw.unregister("new_lists")

    def served():
        answer = httpx.get(server.url + "/recommendations/lu1", params={"k": 2}).json()
        return answer if answer["source"] == "precomputed" else None

    answer = wait_for(served)
    assert answer is not None, "the snapshot never picked up the new lists"
    assert [(i["item_id"], i["rank"]) for i in answer["items"]] == [("a", 1), ("b", 2)]
    assert answer["fallback"] is False and answer["model"] == "recs@1"
    unknown = httpx.get(server.url + "/recommendations/nobody", params={"k": 2}).json()
    assert unknown["source"] == "popularity" and unknown["fallback"] is True
    assert "no precomputed list for this user in recs@1" in unknown["reason"]
    # More than the lists hold: the whole list, then trending, and the answer says so.
    longer = httpx.get(server.url + "/recommendations/lu1", params={"k": 5}).json()
    assert [i["item_id"] for i in longer["items"][:3]] == ["a", "b", "c"]
    added = [i["item_id"] for i in longer["items"][3:]]
    assert not set(added) & {"a", "b", "c"}
    assert not added or longer["blended"][-1].startswith(f"{len(added)} trending item(s) added")
    assert httpx.get(server.url + "/recommendations/lu1", params={"k": 0}).status_code == 422
    # Newer lists replace the old ones without a restart.
    with store.transaction() as raw:
        raw.execute(
            "INSERT INTO recommendations VALUES ('recs', 2, 'lu1', 1, 'z', 1.0, ?)",
            [datetime(2026, 3, 3)],
        )

    def moved():
        answer = httpx.get(server.url + "/recommendations/lu1", params={"k": 1}).json()
        return answer if answer["model"] == "recs@2" else None

    answer = wait_for(moved)
    assert answer is not None and answer["items"][0]["item_id"] == "z"


def test_another_process_ingests_while_the_server_runs(server, store, tmp_path):
    path = tmp_path / "other.jsonl"
    path.write_text("".join(json.dumps(event(f"other-{i}")) + "\n" for i in range(20)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "ingest",
            str(path),
            "--store",
            f"duckdb://{server.store_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer = post_events(server, [event("other-0"), event("after-other")]).json()
    assert (answer["accepted"], answer["duplicates"]) == (1, 1)


def test_answers_follow_the_events_as_they_are_acknowledged(server, store):
    # Lists computed before the events below: the newest lists, so they are served.
    with store.transaction() as raw:
        for rank, item in enumerate(["x", "y", "z"], start=1):
            raw.execute(
                "INSERT INTO recommendations VALUES ('live', 1, 'nu1', ?, ?, ?, ?)",
                [rank, item, 1.0 - rank / 10, datetime(2026, 3, 4)],
            )

    def listed(user, k, expected):
        def check():
            # (Until the new lists are served, k may exceed the old ones' length: a 422.)
            answer = httpx.get(server.url + f"/recommendations/{user}", params={"k": k}).json()
            items = [i["item_id"] for i in answer.get("items", [])]
            return answer if items == expected else None

        return wait_for(check)

    assert listed("nu1", 2, ["x", "y"]) is not None, "the new lists were never served"
    # A brand-new item that many users play becomes the top item of users without a list.
    plays = [
        event(f"new-{i}", user_id=f"fan{i}", item_id="brand-new", ts="2026-03-09T12:00:00Z")
        for i in range(30)
    ]
    assert post_events(server, plays).json()["accepted"] == 30
    answer = listed("nobody-yet", 1, ["brand-new"])
    assert answer is not None, "the new item never topped the fallback"
    assert answer["fallback"] is True and answer["as_of"] is not None
    assert answer["blended"] == ["trending: feedback weight halved every 6 hours"]
    # A user's fresh play changes their next answer: what they met leaves their list.
    assert (
        post_events(
            server, [event("nu1-plays-x", user_id="nu1", item_id="x", ts="2026-03-09T12:01:00Z")]
        ).json()["accepted"]
        == 1
    )
    answer = listed("nu1", 3, ["y", "z", "brand-new"])
    assert answer is not None, "the user's play never changed their answer"
    assert answer["source"] == "precomputed" and answer["blended"][1:] == [
        "1 item(s) the user met since the list was computed left out",
        "1 trending item(s) added (trending: feedback weight halved every 6 hours)",
    ]
    health = httpx.get(server.url + "/health").json()["snapshot"]
    assert health["events_folded"] >= 31 and health["users_with_fresh_items"] >= 1
    # Items played with an item: nu1 played x and nothing else yet.
    related = httpx.get(server.url + "/items/x/related", params={"k": 5}).json()
    assert related["item_id"] == "x" and related["items"] == []
    fans = [event(f"xb-{i}", user_id=f"fan{i}", item_id="x") for i in range(3)]
    assert post_events(server, fans).json()["accepted"] == 3

    def related_to_x():
        answer = httpx.get(server.url + "/items/x/related", params={"k": 1}).json()
        return answer if answer["items"] else None

    answer = wait_for(related_to_x)
    assert answer is not None and answer["items"][0] == {
        "item_id": "brand-new",
        "rank": 1,
        "score": 3.0,
    }
    too_many = httpx.get(server.url + "/items/x/related", params={"k": 101})
    assert too_many.status_code == 422


@pytest.fixture(scope="module")
def model_store(tmp_path_factory):
    """A store with a registered, promoted recommender, served on its own server."""
    folder = tmp_path_factory.mktemp("model")
    store = Store.open(f"duckdb://{folder / 'store.duckdb'}")
    ingest(store, make_music(users=30, items=40, days=5, seed=2).tables["events"])
    train = store.table("events").to_pandas()
    register(
        store,
        MODELS["itemknn"]().fit(train),
        "recs",
        metrics={"ndcg_at_10_score": 0.1},
        training_data=train,
        holdout="none",
    )
    promote(store, "recs", 1)
    precompute(store, "recs@champion", k=5)
    user = train["user_id"].iloc[0]
    with Server(folder, folder / "store.duckdb") as server:
        yield server, store, user


def test_recommend_scores_now_and_a_policy_logs_what_it_showed(model_store):
    server, store, user = model_store
    plain = httpx.post(
        server.url + "/recommend", json={"user_id": user, "k": 3}, headers=server.headers
    )
    assert plain.status_code == 200, plain.text
    assert plain.json()["source"] == "model" and len(plain.json()["items"]) == 3
    stranger = httpx.post(
        server.url + "/recommend", json={"user_id": "stranger", "k": 3}, headers=server.headers
    ).json()
    assert stranger["source"] == "popularity" and stranger["fallback"] is True
    # One fallback: the stored-list endpoint answers a stranger with the same items
    # (trending, in the scope of the model whose lists it serves).
    served = httpx.get(server.url + "/recommendations/stranger", params={"k": 3}).json()
    assert served["source"] == "popularity"
    assert [i["item_id"] for i in served["items"]] == [i["item_id"] for i in stranger["items"]]
    shown = httpx.post(
        server.url + "/recommend",
        json={
            "user_id": user,
            "k": 3,
            "policy": "epsilon-greedy",
            "epsilon": 0.2,
            "context": {"page": "home"},
            "experiment": "exp1",
            "variant": "B",
        },
        headers=server.headers,
    )
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["policy"] == "epsilon-greedy(epsilon=0.2)" and len(body["delivery_ids"]) == 3
    logged = store.sql(
        "SELECT item_id, position, propensity, policy, model, version, experiment, variant "
        "FROM deliveries ORDER BY position"
    ).to_pylist()
    assert [row["item_id"] for row in logged] == [item["item_id"] for item in body["items"]]
    assert [row["propensity"] for row in logged] == [i["propensity"] for i in body["items"]]
    assert all(0 < row["propensity"] <= 1 for row in logged)
    assert {
        (row["model"], row["version"], row["experiment"], row["variant"]) for row in logged
    } == {("recs", 1, "exp1", "B")}
    unknown = httpx.post(
        server.url + "/recommend",
        json={"user_id": user, "model": "nope@champion"},
        headers=server.headers,
    )
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]


# --- durability modes and shutdown -----------------------------------------------------------


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_buffer_mode_acknowledges_early_and_sigterm_writes_everything(tmp_path, writer):
    settings = {"durability": "buffer", "writer": writer}
    server = Server(tmp_path, tmp_path / "store.duckdb", settings=settings)
    server.start()
    try:
        answers = [
            post_events(server, [event(f"buf-{i}-{j}") for j in range(10)]) for i in range(20)
        ]
    finally:
        status = server.terminate()
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit says why it stopped.
    assert status in (0, -signal.SIGTERM), server.log()
    assert "Traceback" not in server.log()
    assert {a.status_code for a in answers} == {202}
    assert all(a.json()["status"] == "queued" and a.json()["durable"] is False for a in answers)
    stored = Store.open(f"duckdb://{tmp_path / 'store.duckdb'}").count_rows()["events"]
    assert stored == 200


def test_a_writer_thread_serves_what_it_commits_at_once_too(tmp_path):
    settings = {"writer": "thread", "refresh_seconds": 60.0}  # no tick: the commit folds
    with Server(tmp_path, tmp_path / "store.duckdb", settings=settings) as server:
        assert httpx.get(server.url + "/health").json()["writer"]["process"] is None
        plays = [event(f"hot-{i}", user_id=f"h{i}", item_id="hot") for i in range(5)]
        assert post_events(server, plays).json()["accepted"] == 5
        answer = httpx.get(server.url + "/recommendations/anyone", params={"k": 1}).json()
        assert [i["item_id"] for i in answer["items"]] == ["hot"]
        assert answer["items"][0]["score"] == 5.0
