"""The service's parts on their own: the grouped writer's accounting, the snapshot, settings."""

from __future__ import annotations

import json
import re
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


def _plays(store, rows, event_type="play"):
    """Ingest events given as ``(event_id, user, item, ts)``: one committed batch."""
    import pyarrow as pa

    from workbench.capture import ingest

    events = [
        json.loads(line(event_id, user_id=user, item_id=item, ts=ts, event_type=event_type)[1])
        for event_id, user, item, ts in rows
    ]
    ingest(store, pa.Table.from_pylist(events))


def test_a_new_hit_tops_the_fallback_after_the_next_fold(file_store):
    snapshot = ListSnapshot(file_store)
    _plays(file_store, [(f"o{i}", f"u{i}", "old", "2026-03-01T08:00:00Z") for i in range(5)])
    snapshot.refresh()
    before = snapshot.lookup("nobody", 2)
    assert [i["item_id"] for i in before["items"]] == ["old"]
    assert before["fallback"] is True and before["as_of"] is not None
    assert before["blended"] == ["trending: feedback weight halved every 6 hours"]
    # Eight users play a brand-new item two hours later: it outweighs five older plays.
    _plays(file_store, [(f"h{i}", f"v{i}", "hit", "2026-03-01T10:00:00Z") for i in range(8)])
    assert snapshot.refresh() is True
    after = snapshot.lookup("nobody", 2)
    assert [i["item_id"] for i in after["items"]] == ["hit", "old"]
    assert after["items"][0]["score"] == 8.0  # the newest events, not decayed
    assert after["items"][1]["score"] == pytest.approx(5 * 2 ** (-2 / 6))
    assert after["as_of"] > before["as_of"]
    # Skips are no votes: many skips of "old" do not move it.
    _plays(
        file_store,
        [(f"s{i}", f"x{i}", "old", "2026-03-01T10:00:00Z") for i in range(9)],
        event_type="skip",
    )
    snapshot.refresh()
    assert snapshot.lookup("nobody", 2)["items"] == after["items"]
    # A client clock months ahead: its play counts as of its commit (today), and the
    # items whose plays have all decayed away still follow, by their plays: never cut short.
    _plays(file_store, [("ahead", "y1", "ahead", "2027-06-01T00:00:00Z")])
    snapshot.refresh()
    ahead = snapshot.lookup("nobody", 3)["items"]
    assert [i["item_id"] for i in ahead] == ["ahead", "hit", "old"]
    assert ahead[0]["score"] == 1.0


def test_what_a_user_met_since_their_list_leaves_it_and_trending_tops_it_up(file_store):
    with file_store.transaction() as raw:
        for rank, item in enumerate(["a", "b", "c"], start=1):
            raw.execute(
                "INSERT INTO recommendations VALUES ('m', 1, 'u1', ?, ?, ?, ?)",
                [rank, item, 1.0 - rank / 10, datetime(2026, 3, 1)],
            )
    _plays(file_store, [(f"t{i}", f"w{i}", "top", "2026-03-02T08:00:00Z") for i in range(3)])
    snapshot = ListSnapshot(file_store)
    snapshot.refresh()
    assert [i["item_id"] for i in snapshot.lookup("u1", 3)["items"]] == ["a", "b", "c"]
    # u1 plays "a" (and skips "c"): both leave the list, and trending tops it up.
    _plays(file_store, [("p1", "u1", "a", "2026-03-02T09:00:00Z")])
    _plays(file_store, [("k1", "u1", "c", "2026-03-02T09:00:00Z")], event_type="skip")
    snapshot.refresh()
    answer = snapshot.lookup("u1", 2)
    assert [i["item_id"] for i in answer["items"]] == ["b", "top"]
    answer = snapshot.lookup("u1", 3)
    assert [i["item_id"] for i in answer["items"]] == ["b", "top"]  # nothing else trends
    assert [i["rank"] for i in answer["items"]] == [1, 2]
    assert answer["source"] == "precomputed" and answer["fallback"] is False
    assert answer["blended"] == [
        "stored list",
        "2 item(s) the user met since the list was computed left out",
        "1 trending item(s) added (trending: feedback weight halved every 6 hours)",
    ]
    # A user without a list gets trending: three plays of "top" outweigh one of "a".
    assert [i["item_id"] for i in snapshot.lookup("u2", 2)["items"]] == ["top", "a"]


def test_a_top_up_never_repeats_what_the_user_met_before_their_list(file_store):
    at = "2026-03-01T08:00:00Z"
    _plays(file_store, [(f"t{i}", f"w{i}", "top", at) for i in range(3)])
    _plays(file_store, [("n0", "w0", "next", at), ("n1", "w1", "next", at)])
    _plays(file_store, [("r0", "w0", "third", at), ("u2-top", "u2", "top", at)])
    with file_store.transaction() as raw:  # lists computed after every event above
        for user, items in (("u1", ["a", "b", "c"]), ("u2", ["a"])):
            for rank, item in enumerate(items, start=1):
                raw.execute(
                    "INSERT INTO recommendations VALUES ('m', 1, ?, ?, ?, ?, ?)",
                    [user, rank, item, 1.0 / rank, datetime(2099, 1, 1)],
                )
    snapshot = ListSnapshot(file_store)
    snapshot.refresh()
    answer = snapshot.lookup("u2", 3)
    # u2 played "top" before their list was computed: the top-up skips it.
    assert [i["item_id"] for i in answer["items"]] == ["a", "next", "third"]
    assert [i["item_id"] for i in snapshot.lookup("nobody", 3)["items"]] == [
        "top",
        "next",
        "third",
    ]


def test_related_items_are_what_an_items_players_played_and_follow_new_events(file_store):
    at = "2026-03-01T08:00:00Z"
    _plays(file_store, [("1", "u1", "a", at), ("2", "u1", "b", at), ("3", "u2", "a", at)])
    _plays(file_store, [("4", "u2", "b", at), ("5", "u2", "c", at), ("6", "u3", "a", at)])
    _plays(file_store, [("7", "u3", "c", at), ("8", "u4", "a", at)])
    _plays(file_store, [("9", "u4", "b", at)], event_type="skip")  # no vote for b
    snapshot = ListSnapshot(file_store)
    snapshot.refresh()
    answer = snapshot.related("a", 5)
    assert [(i["item_id"], i["score"]) for i in answer["items"]] == [("b", 2.0), ("c", 2.0)]
    assert answer["blended"] == ["co-occurrence: each score is how many users played both"]
    assert snapshot.related("nothing-like-it", 5)["items"] == []
    # A new play is counted once it is folded in.
    _plays(file_store, [("10", "u5", "a", at), ("11", "u5", "c", at)])
    snapshot.refresh()
    assert [i["item_id"] for i in snapshot.related("a", 1)["items"]] == ["c"]


def test_folding_batch_by_batch_equals_computing_from_every_batch(file_store):
    import numpy as np

    from workbench.delivery.recent import RecentActivity

    rng = np.random.default_rng(0)
    since = datetime(2026, 1, 1)
    folded = RecentActivity(since=since)
    for batch in range(6):
        rows = [
            (
                f"e{batch}-{i}",
                f"u{rng.integers(20)}",
                f"i{rng.integers(30)}",
                f"2026-03-0{1 + batch}T{rng.integers(24):02d}:00:00Z",
            )
            for i in range(40)
        ]
        _plays(file_store, rows)
        with file_store.reading() as raw:
            assert folded.catch_up(raw) == 40
            assert folded.catch_up(raw) == 0  # nothing new: nothing counted twice
    with file_store.reading() as raw:
        whole = RecentActivity.compute(raw, since=since)
    assert (folded.batches, folded.events) == (whole.batches, whole.events) == (6, 240)
    assert folded.trending()[0].tolist() == whole.trending()[0].tolist()
    assert np.allclose(folded.trending()[1], whole.trending()[1], rtol=1e-9)
    assert all(folded.fresh(f"u{u}") == whole.fresh(f"u{u}") for u in range(20))
    assert all(folded.met(f"u{u}") == whole.met(f"u{u}") for u in range(20))
    # Started after some batches were in (lists computed then), it knows the same.
    with file_store.reading() as raw:
        later = RecentActivity.compute(raw, since=whole.as_of)
    assert all(later.met(f"u{u}") == whole.met(f"u{u}") for u in range(20))
    assert later.fresh("u1") == frozenset()
    assert folded.as_of == whole.as_of


def test_related_items_counted_in_memory_are_what_the_store_counts(file_store):
    import numpy as np

    from workbench.delivery.recent import RecentActivity
    from workbench.delivery.semantics import count_related
    from workbench.feedback import Feedback
    from workbench.scope import Scope

    rng = np.random.default_rng(1)
    fresh_all = RecentActivity(since=datetime(2026, 1, 1))  # every batch after the lists
    started_late = None  # its first fold holds three batches: met before the lists
    for batch in range(6):
        rows = [
            (
                f"e{batch}-{i}",
                f"u{rng.integers(20)}",
                f"i{rng.integers(15)}",
                "2026-03-01T12:00:00Z",
            )
            for i in range(30)
        ]
        _plays(file_store, rows, event_type="skip" if batch == 4 else "play")
        with file_store.reading() as raw:
            fresh_all.catch_up(raw)
            if batch == 2:
                started_late = RecentActivity.compute(raw)
            elif started_late is not None:
                started_late.catch_up(raw)
    with file_store.reading() as raw:
        middle = raw.execute(
            "SELECT finished_at FROM batches WHERE table_name = 'events' ORDER BY finished_at"
        ).fetchall()[3][0]
        split = RecentActivity.compute(raw, since=middle)
        truth = {
            f"i{i}": count_related(raw, f"i{i}", Scope(), Feedback.from_config()) for i in range(15)
        }
    assert sum(len(items) for items, _ in truth.values()) > 50  # something to compare
    for recent in (fresh_all, started_late, split):
        assert {item: recent.related(item) for item in truth} == truth
        assert recent.related("i0", 2) == (truth["i0"][0][:2], truth["i0"][1][:2])


def test_what_a_user_just_played_re_ranks_and_extends_their_list(file_store):
    at = "2026-03-01T08:00:00Z"
    # Three fans of "song" also played "b-side"; two also played "cover".
    _plays(file_store, [(f"s{i}", f"f{i}", "song", at) for i in range(3)])
    _plays(file_store, [(f"b{i}", f"f{i}", "b-side", at) for i in range(3)])
    _plays(file_store, [(f"c{i}", f"f{i}", "cover", at) for i in range(2)])
    with file_store.transaction() as raw:
        for rank, item in enumerate(["a", "b", "c", "cover"], start=1):
            raw.execute(
                "INSERT INTO recommendations VALUES ('m', 1, 'u1', ?, ?, ?, ?)",
                [rank, item, 1.0 - rank / 10, datetime(2026, 1, 1)],
            )
    snapshot = ListSnapshot(file_store)
    snapshot.refresh()
    assert [i["item_id"] for i in snapshot.lookup("u1", 4)["items"]] == ["a", "b", "c", "cover"]
    # u1 plays "song": "cover", in the list and played by two of its fans, moves up to
    # place 2; the model's first choice stays first.
    _plays(file_store, [("now", "u1", "song", at)])
    snapshot.refresh()
    answer = snapshot.lookup("u1", 4)
    assert [(i["item_id"], i["score"]) for i in answer["items"]] == [
        ("a", 0.9),
        ("cover", 0.6),
        ("b", 0.8),
        ("c", 0.7),
    ]
    assert answer["blended"] == [
        "stored list",
        "1 item(s) of the list related to what the user just played (song) moved up",
    ]
    # A single place stays the model's first choice.
    assert [i["item_id"] for i in snapshot.lookup("u1", 1)["items"]] == ["a"]
    # u1 skips "c": the list runs short, and "b-side" (related, not in it) extends it
    # before trending would.
    _plays(file_store, [("skip", "u1", "c", at)], event_type="skip")
    snapshot.refresh()
    answer = snapshot.lookup("u1", 4)
    assert [(i["item_id"], i["score"]) for i in answer["items"]] == [
        ("a", 0.9),
        ("cover", 0.6),
        ("b", 0.8),
        ("b-side", 3.0),
    ]
    assert answer["blended"][-1] == ("1 item(s) related to what the user just played (song) added")
    # A newcomer (no list) who just played "song": its related items alternate with
    # trending (where they are not already first), never "song" itself.
    _plays(file_store, [(f"h{i}", f"h{i}", "hit", at) for i in range(9)])
    _plays(file_store, [("new", "newcomer", "song", at)])
    snapshot.refresh()
    newcomer = snapshot.lookup("newcomer", 4)
    assert [i["item_id"] for i in newcomer["items"]] == ["hit", "b-side", "cover"]
    assert newcomer["fallback"] is True
    assert newcomer["blended"][-1] == (
        "2 item(s) played by those who played what the user just played (song), "
        "alternating with trending"
    )
    # More than the stored lists hold: the list, then related items, then trending.
    longer = snapshot.lookup("u1", 6)
    assert [i["item_id"] for i in longer["items"]] == ["a", "cover", "b", "b-side", "hit"]


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
    assert settings["trending_half_life"].total_seconds() == 6 * 3600
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
        ("[service]\npopularity_seconds = 60\n", "popularity_seconds is no longer used"),
        ('[service]\ntrending_half_life = "soon"\n', "trending_half_life"),
        ("[service]\nworkers = 0\n", "workers must be a whole number >= 1, got 0"),
        ("[service]\nport = -1\n", "port must be a whole number >= 0 (0: any free port)"),
    ],
)
def test_bad_service_settings_say_which_and_why(tmp_path, monkeypatch, toml, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workbench.toml").write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(words)):
        resolve_service_settings()


def test_several_workers_need_a_store_file_and_cores(tmp_path, monkeypatch):
    from workbench.service import serve

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="workers = 2 needs a store file"):
        serve("duckdb://:memory:", settings={"workers": 2})
    with pytest.raises(ConfigError, match="more than 4 per core on this machine"):
        serve(f"duckdb://{tmp_path / 's.duckdb'}", settings={"workers": 100_000})


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


def test_a_writer_process_between_two_lives_says_to_retry_not_to_restart(tmp_path):
    from workbench.exceptions import StoreError
    from workbench.service.writer_process import WriterProcess

    settings = resolve_service_settings({"token": "t"})
    writer = WriterProcess(f"duckdb://{tmp_path / 's.duckdb'}", settings, max_columns=50)
    # Not started (or its process just died): a request is refused with what to do.
    with pytest.raises(StoreError, match="restarting; nothing of this request was written"):
        writer.submit_body(b'{"events": []}')
