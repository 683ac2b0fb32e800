"""Times from text: every value is read on its own terms, and no value shifts another.

The property tests start from the truth: an instant in UTC, written out in one of the
forms people send (an offset, ``Z``, no offset, a named zone), mixed in one batch. What
is stored must be that instant, whatever the other rows hold; a wall-clock time that a
zone repeats (daylight saving ends) is quarantined with a reason instead of guessed.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_server import REPO, Server

from workbench.capture import ingest
from workbench.store import Store

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC")
HEADER = ["event_id", "ts", "user_id", "event_type"]


def csv_file(path, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return path


def stored_times(store, report) -> dict[str, datetime]:
    rows = store.sql(
        "SELECT event_id, ts FROM events WHERE batch_id = ?", [report.batch_id]
    ).to_pylist()
    return {row["event_id"]: row["ts"] for row in rows}


def reasons(store, report) -> dict[int, str]:
    rows = store.sql(
        "SELECT row_number, reason FROM quarantine WHERE batch_id = ?", [report.batch_id]
    ).to_pylist()
    return {row["row_number"]: row["reason"] for row in rows}


# --- the truth, written out ------------------------------------------------------------


def repeated_in(zone: ZoneInfo, wall: datetime) -> bool:
    """Whether the zone shows this wall-clock time twice (clocks going back)."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset()


def written(instant: datetime, form: str, offset_minutes: int, separator: str) -> str:
    """``instant`` (naive UTC) as text in one form; the text always means that instant."""
    if form == "offset":
        wall = instant + timedelta(minutes=offset_minutes)
        sign = "+" if offset_minutes >= 0 else "-"
        hours, minutes = divmod(abs(offset_minutes), 60)
        return wall.isoformat(sep=separator) + f"{sign}{hours:02d}:{minutes:02d}"
    if form == "z":
        return instant.isoformat(sep=separator) + "Z"
    if form == "plain":
        return instant.isoformat(sep=separator)  # no offset: UTC
    return written(instant, "offset", offset_minutes, separator)


def written_in_zone(instant: datetime, name: str, separator: str) -> tuple[str, bool]:
    """The wall-clock time the zone showed at ``instant``, and whether it is ambiguous."""
    zone = ZoneInfo(name)
    wall = instant.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    return f"{wall.isoformat(sep=separator)} {name}", repeated_in(zone, wall)


instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1))
# Days when clocks change, so the property meets the hours daylight saving repeats.
changes = st.sampled_from(
    [datetime(2026, 3, 29, 0, 30), datetime(2026, 10, 25, 0, 30), datetime(2026, 11, 1, 5, 30)]
).flatmap(lambda t: st.integers(0, 120).map(lambda m: t + timedelta(minutes=m)))
samples = st.tuples(
    st.one_of(instants, changes),
    st.sampled_from(["offset", "z", "plain", "zone"]),
    st.integers(-14 * 4, 14 * 4).map(lambda quarters: quarters * 15),
    st.sampled_from(ZONES),
    st.sampled_from(["T", " "]),
)


def expected_rows(batch):
    """(texts, the instant each must be stored as, or None when it must be quarantined)."""
    texts, truth = [], []
    for instant, form, offset, zone, separator in batch:
        # Zone rules far from today differ between tz databases of different ages (the
        # store's and Python's): named zones are checked where both agree.
        if form == "zone" and 2000 <= instant.year <= 2036:
            text, ambiguous = written_in_zone(instant, zone, separator)
            texts.append(text)
            truth.append(None if ambiguous else instant)
        else:  # outside those years a zone's sample is written with its offset instead
            texts.append(written(instant, form, offset, separator))
            truth.append(instant)
    return texts, truth


def check_batch(store, report, texts, truth):
    times = stored_times(store, report)
    why = reasons(store, report)
    for number, (text, instant) in enumerate(zip(texts, truth, strict=True), start=1):
        if instant is None:
            assert "happened twice in" in why[number], text
        else:
            assert times[f"e{number}"] == instant, text
    assert report.accepted + report.quarantined == len(texts)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(samples, min_size=1, max_size=40))
def test_mixed_zones_offsets_and_plain_times_are_each_stored_as_their_instant(
    tmp_path_factory, batch
):
    texts, truth = expected_rows(batch)
    path = csv_file(
        tmp_path_factory.mktemp("times") / "mixed.csv",
        [[f"e{i}", text, "u1", "play"] for i, text in enumerate(texts, start=1)],
    )
    store = Store.open("duckdb://:memory:")
    report = ingest(store, path)
    check_batch(store, report, texts, truth)


def test_one_named_zone_does_not_shift_the_thousands_of_rows_after_it(memory_store, tmp_path):
    rows = [["berlin", "2026-01-01 10:00:00 Europe/Berlin", "u1", "play"]]
    rows += [[f"plain-{i}", "2026-01-01T12:00:00", "u1", "play"] for i in range(5_000)]
    rows += [["new-york", "2026-01-01 12:00:00 America/New_York", "u1", "play"]]
    rows += [[f"offset-{i}", "2026-01-01T14:00:00+02:00", "u1", "play"] for i in range(3_000)]
    report = ingest(memory_store, csv_file(tmp_path / "zones.csv", rows))
    assert (report.accepted, report.quarantined) == (8_002, 0)
    counts = memory_store.sql(
        "SELECT CAST(ts AS VARCHAR) AS ts, count(*) AS n FROM events GROUP BY ALL ORDER BY ts"
    ).to_pylist()
    assert counts == [
        {"ts": "2026-01-01 09:00:00", "n": 1},
        {"ts": "2026-01-01 12:00:00", "n": 8_000},
        {"ts": "2026-01-01 17:00:00", "n": 1},
    ]


def test_events_without_an_id_keep_their_id_whatever_zone_the_rows_around_them_name(
    memory_store, tmp_path
):
    """The derived id hashes the stored time: a shifted time used to make a second copy."""
    plain = [["2026-01-01T12:00:00", "u1", "play"]] * 3
    first = tmp_path / "first.csv"
    first.write_text("ts,user_id,event_type\n" + "\n".join(",".join(r) for r in plain) + "\n")
    second = tmp_path / "second.csv"
    second.write_text(
        "ts,user_id,event_type\n2026-01-01 10:00:00 Europe/Berlin,u2,play\n"
        + "\n".join(",".join(r) for r in plain)
        + "\n"
    )
    ingest(memory_store, first)
    report = ingest(memory_store, second)
    assert (report.accepted, report.duplicates) == (1, 3)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-01-01 12:00:00 EST", "names 'EST', which is not a time zone name (abbreviations"),
        ("2026-06-01 12:00:00 BST", "names 'BST', which is not a time zone name (abbreviations"),
        ("2026-01-01 12:00 Mars/Olympus", "names 'Mars/Olympus', which is not a time zone name;"),
        (
            "2026-03-29 02:30:00 Europe/Berlin",
            "does not exist in Europe/Berlin (the clocks went from +01:00 to +02:00)",
        ),
        (
            "2026-10-25T02:30:00 Europe/Berlin",
            "happened twice in Europe/Berlin (the clocks went from +02:00 to +01:00)",
        ),
        ("2026-01-01T12:00:00+25:00", "has an offset outside -18:00 to +18:00"),
        ("2026-01-01T12:00:00+05:75", "has an offset outside -18:00 to +18:00"),
        ("2026-01-01T12:00:00.1234567Z", "has digits beyond microseconds"),
    ],
)
def test_times_that_cannot_be_read_for_sure_are_quarantined_saying_what_to_do(
    memory_store, tmp_path, text, reason
):
    report = ingest(memory_store, csv_file(tmp_path / "t.csv", [["t1", text, "u1", "play"]]))
    assert report.quarantined == 1
    [why] = reasons(memory_store, report).values()
    assert why.startswith(f"ts '{text}' ")
    assert reason in why


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-01-01T17:30:00+0530", datetime(2026, 1, 1, 12)),
        ("2026-01-01T17:00:00+05", datetime(2026, 1, 1, 12)),
        ("2026-01-01T17:30:00 +05:30", datetime(2026, 1, 1, 12)),
        ("2026-01-01t12:00:00z", datetime(2026, 1, 1, 12)),
        ("2026-01-01T12:00:00,5Z", datetime(2026, 1, 1, 12, 0, 0, 500_000)),
        ("2026-01-01T12:00:00.123456000Z", datetime(2026, 1, 1, 12, 0, 0, 123_456)),
        ("2026-01-01T12:00", datetime(2026, 1, 1, 12)),
        ("2026-01-01 UTC", datetime(2026, 1, 1)),
        ("2026-10-25T03:30:00 Europe/Berlin", datetime(2026, 10, 25, 2, 30)),
        ("2026-07-01T08:00:00 America/New_York", datetime(2026, 7, 1, 12)),
        ("2026-06-01T12:00:00 Australia/Lord_Howe", datetime(2026, 6, 1, 1, 30)),
    ],
)
def test_the_forms_people_send_are_read_as_the_instant_they_mean(
    memory_store, tmp_path, text, instant
):
    report = ingest(memory_store, csv_file(tmp_path / "t.csv", [["t1", text, "u1", "play"]]))
    assert stored_times(memory_store, report) == {"t1": instant}


# --- the same promise through the command line and the service ---------------------------


def mixed_batch(seed: int, size: int):
    import random

    chooser = random.Random(seed)
    batch = []
    for _ in range(size):
        instant = datetime(2026, 1, 1) + timedelta(minutes=chooser.randrange(0, 525_600))
        batch.append(
            (
                instant,
                chooser.choice(["offset", "z", "plain", "zone", "zone"]),
                chooser.randrange(-56, 57) * 15,
                chooser.choice(ZONES),
                chooser.choice(["T", " "]),
            )
        )
    return expected_rows(batch)


@pytest.mark.slow
def test_the_command_line_stores_every_mixed_time_as_its_instant(tmp_path):
    texts, truth = mixed_batch(seed=1, size=400)
    path = csv_file(
        tmp_path / "mixed.csv",
        [[f"e{i}", text, "u1", "play"] for i, text in enumerate(texts, start=1)],
    )
    url = f"duckdb://{tmp_path / 'store.duckdb'}"
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "ingest", str(path), "--store", url, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    store = Store.open(url)

    class Report:  # what check_batch reads
        batch_id = summary["batch_id"]
        accepted = summary["accepted"]
        quarantined = summary["quarantined"]

    check_batch(store, Report, texts, truth)


@pytest.mark.slow
def test_two_clients_of_the_service_never_shift_each_others_times(tmp_path):
    """Group commit puts concurrent requests in one transaction: one vector of times."""
    import httpx

    zoned = [
        {"event_id": f"ny-{i}", "ts": "2026-01-01 07:00:00 America/New_York"} for i in range(400)
    ]
    plain = [{"event_id": f"plain-{i}", "ts": "2026-01-01T12:00:00"} for i in range(400)]
    with Server(tmp_path, tmp_path / "store.duckdb") as server:

        def send(events):
            body = {"events": [{**e, "user_id": "u1", "event_type": "play"} for e in events]}
            answer = httpx.post(
                server.url + "/events", json=body, headers=server.headers, timeout=120
            )
            assert answer.status_code == 200, answer.text
            return answer.json()["accepted"]

        # Two clients, each sending small requests from four threads: requests of both queue
        # up while the writer commits, and are committed together.
        chunks = [part for i in range(0, 400, 5) for part in (zoned[i : i + 5], plain[i : i + 5])]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            accepted = sum(pool.map(send, chunks))
    assert accepted == 800
    store = Store.open(f"duckdb://{tmp_path / 'store.duckdb'}")
    times = store.sql("SELECT DISTINCT CAST(ts AS VARCHAR) AS ts FROM events").column("ts")
    assert sorted(times.to_pylist()) == ["2026-01-01 12:00:00"]
