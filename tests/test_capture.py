"""Capture: every input row is accepted, quarantined with a reason, or counted as a duplicate.

Every ingest in this file goes through :func:`ingest_checked`, which holds the batch to
the accounting contract (the report adds up, the table and quarantine grow by exactly
what the report says, the ``batches`` row matches it) before the test looks at what a
user would see: the stored values, and reasons and errors that say what to do.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workbench.capture as capture
from workbench.capture import IngestReport, ingest
from workbench.exceptions import IngestError
from workbench.store import Store

EVENT_HEADER = ["event_id", "ts", "user_id", "event_type"]
JAN_1 = datetime(2026, 1, 1)
JAN_1_ISO = "2026-01-01T00:00:00Z"
JAN_1_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z in seconds


# --- helpers ------------------------------------------------------------------------------


def ingest_checked(store: Store, source, **options) -> IngestReport:
    """Ingest, then check the accounting a user relies on before returning the report."""
    before = store.count_rows()
    report = ingest(store, source, **options)
    after = store.count_rows()
    assert report.reconciles
    assert report.rows_in == report.accepted + report.quarantined + report.duplicates
    assert after[report.table] - before[report.table] == report.accepted
    assert after["quarantine"] - before["quarantine"] == report.quarantined
    if report.status != "committed":
        assert after == before, f"a {report.status} ingest changed the store"
        assert (report.accepted, report.quarantined, report.duplicates) == (0, 0, 0)
        return report
    assert after["batches"] == before["batches"] + 1
    [batch] = rows(store, "SELECT * FROM batches WHERE batch_id = ?", report.batch_id)
    assert {k: batch[k] for k in BATCH_FIELDS} == {
        "table_name": report.table,
        "source": report.source,
        "format": report.format,
        "content_sha256": report.content_sha256,
        "rows_in": report.rows_in,
        "accepted": report.accepted,
        "quarantined": report.quarantined,
        "duplicates": report.duplicates,
        "status": "committed",
    }
    assert batch["started_at"] == datetime.fromisoformat(report.started_at)
    assert batch["started_at"] <= batch["finished_at"]
    assert len(stored(store, report)) == report.accepted
    parked = quarantined(store, report)
    assert len(parked) == report.quarantined
    assert all(q["table_name"] == report.table and q["reason"] for q in parked)
    numbers = [q["row_number"] for q in parked]
    assert len(set(numbers)) == len(numbers)
    assert all(1 <= n <= report.rows_in for n in numbers)
    return report


BATCH_FIELDS = (
    "table_name",
    "source",
    "format",
    "content_sha256",
    "rows_in",
    "accepted",
    "quarantined",
    "duplicates",
    "status",
)


def rows(store: Store, query: str, *params) -> list[dict]:
    return store.sql(query, list(params)).to_pylist()


def stored(store: Store, report: IngestReport) -> list[dict]:
    """The rows a batch added to its table, in key order."""
    return rows(
        store, f"SELECT * FROM {report.table} WHERE batch_id = ? ORDER BY 1, 2", report.batch_id
    )


def stored_by_id(store: Store, report: IngestReport) -> dict[str, dict]:
    return {row["event_id"]: row for row in stored(store, report)}


def quarantined(store: Store, report: IngestReport) -> list[dict]:
    return rows(
        store, "SELECT * FROM quarantine WHERE batch_id = ? ORDER BY row_number", report.batch_id
    )


def only_reason(store: Store, report: IngestReport) -> str:
    [row] = quarantined(store, report)
    return row["reason"]


def csv_text(header: list[str], *records: list) -> str:
    """Well-formed CSV, quoted wherever the values need it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # "\r\n" line ends, so a lone "\r" in a value is quoted too
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue()


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def events_frame(ids: list[str], **columns) -> pd.DataFrame:
    n = len(ids)
    data = {
        "event_id": ids,
        "ts": [JAN_1_ISO] * n,
        "user_id": ["u1"] * n,
        "event_type": ["play"] * n,
    }
    return pd.DataFrame({**data, **columns})


# --- every format -------------------------------------------------------------------------


def test_csv_rows_are_stored_with_their_values_and_undeclared_columns_in_context(
    memory_store, tmp_path
):
    path = write(
        tmp_path / "plays.csv",
        csv_text(
            [*EVENT_HEADER, "item_id", "value", "device", "country"],
            ["e1", "2026-01-01T10:00:00Z", "u1", "play", "i1", "1.5", "tv", "NO"],
            ["e2", "2026-01-02T11:30:00Z", "u2", "skip", "", "", "phone", ""],
        ),
    )
    report = ingest_checked(memory_store, path)
    assert (report.rows_in, report.accepted, report.quarantined, report.duplicates) == (2, 2, 0, 0)
    assert (report.format, report.source, report.table) == ("csv", "plays.csv", "events")
    e1, e2 = stored(memory_store, report)
    assert e1["ts"] == datetime(2026, 1, 1, 10) and e2["ts"] == datetime(2026, 1, 2, 11, 30)
    assert (e1["user_id"], e1["item_id"], e1["event_type"], e1["value"]) == (
        "u1",
        "i1",
        "play",
        1.5,
    )
    assert (e2["item_id"], e2["value"]) == (None, None)
    assert json.loads(e1["context"]) == {"device": "tv", "country": "NO"}
    assert json.loads(e2["context"]) == {"device": "phone", "country": None}
    assert e1["source"] == "plays.csv" and e1["batch_id"] == report.batch_id


def test_tsv_is_read_with_tabs(memory_store, tmp_path):
    path = write(
        tmp_path / "clicks.tsv",
        "event_id\tts\tuser_id\tevent_type\tvalue\tnote\n"
        "t1\t2026-01-01 00:00:00\tu1\tclick\t2\thas, a comma\n",
    )
    report = ingest_checked(memory_store, path)
    assert (report.format, report.accepted) == ("tsv", 1)
    [row] = stored(memory_store, report)
    assert (row["event_type"], row["value"], row["ts"]) == ("click", 2.0, JAN_1)
    assert json.loads(row["context"]) == {"note": "has, a comma"}


def test_parquet_keeps_typed_columns_and_extras(memory_store, tmp_path):
    table = pa.table(
        {
            "event_id": ["p1", "p2"],
            "ts": pa.array([JAN_1, datetime(2026, 1, 2)], pa.timestamp("us", tz="UTC")),
            "user_id": ["u1", "u2"],
            "event_type": ["play", "play"],
            "value": [1.0, None],
            "plays": pa.array([3, 4], pa.int64()),
            "tags": [["a", "b"], []],
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    report = ingest_checked(memory_store, tmp_path / "events.parquet")
    assert (report.format, report.accepted) == ("parquet", 2)
    p1, p2 = stored(memory_store, report)
    assert (p1["ts"], p2["ts"]) == (JAN_1, datetime(2026, 1, 2))
    assert (p1["value"], p2["value"]) == (1.0, None)
    assert json.loads(p1["context"]) == {"plays": 3, "tags": ["a", "b"]}
    assert json.loads(p2["context"]) == {"plays": 4, "tags": []}


def test_parquet_with_struct_columns_sharing_field_names_is_accepted(memory_store, tmp_path):
    # Two structs that both have a field "a" are two columns, not a name clash.
    table = pa.table(
        {
            "event_id": ["s1"],
            "ts": [JAN_1_ISO],
            "user_id": ["u1"],
            "event_type": ["play"],
            "device": [{"a": 1}],
            "app": [{"a": "x"}],
        }
    )
    pq.write_table(table, tmp_path / "nested.parquet")
    report = ingest_checked(memory_store, tmp_path / "nested.parquet")
    assert report.accepted == 1
    [row] = stored(memory_store, report)
    assert json.loads(row["context"]) == {"device": {"a": 1}, "app": {"a": "x"}}


def test_parquet_with_a_column_named_file_row_number_is_accepted(memory_store, tmp_path):
    table = pa.table(
        {
            "event_id": ["f1", "f2"],
            "ts": [JAN_1_ISO] * 2,
            "user_id": ["u1", "u2"],
            "event_type": ["play"] * 2,
            "file_row_number": [10, 20],
        }
    )
    pq.write_table(table, tmp_path / "numbered.parquet")
    report = ingest_checked(memory_store, tmp_path / "numbered.parquet")
    assert report.accepted == 2
    contexts = [json.loads(r["context"]) for r in stored(memory_store, report)]
    assert contexts == [{"file_row_number": 10}, {"file_row_number": 20}]


def test_json_lines_keep_json_types_of_extra_keys_including_nested_and_null(memory_store, tmp_path):
    records = [
        {
            "event_id": "j1",
            "ts": JAN_1_ISO,
            "user_id": "u1",
            "event_type": "play",
            "value": 2.5,
            "count": 3,
            "ratio": 0.25,
            "flag": True,
            "missing": None,
            "nested": {"a": [1, None, {"b": "c"}]},
            "word": "ünïcode",
        },
        {"event_id": "j2", "ts": JAN_1_EPOCH, "user_id": 7, "event_type": "play"},
    ]
    path = write(
        tmp_path / "events.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    )
    report = ingest_checked(memory_store, path)
    assert (report.format, report.accepted) == ("jsonl", 2)
    j1, j2 = stored(memory_store, report)
    assert json.loads(j1["context"]) == {
        "count": 3,
        "ratio": 0.25,
        "flag": True,
        "missing": None,
        "nested": {"a": [1, None, {"b": "c"}]},
        "word": "ünïcode",
    }
    assert j1["value"] == 2.5
    assert (j2["ts"], j2["user_id"], j2["context"]) == (JAN_1, "7", None)


def test_json_lines_keys_that_look_like_json_paths_are_kept(memory_store, tmp_path):
    keys = {"": 1, "*": 2, "a.b": 3, "a/b": 4, "a~b": 5, '"q"': 6, "$": 7, "[0]": 8}
    record = {"event_id": "k1", "ts": JAN_1_ISO, "user_id": "u1", "event_type": "play", **keys}
    report = ingest_checked(memory_store, write(tmp_path / "keys.jsonl", json.dumps(record)))
    assert report.accepted == 1
    assert json.loads(stored(memory_store, report)[0]["context"]) == keys


def test_json_lines_that_are_not_objects_are_quarantined_with_their_text(memory_store, tmp_path):
    good = json.dumps({"event_id": "j1", "ts": JAN_1_ISO, "user_id": "u1", "event_type": "play"})
    path = write(tmp_path / "events.jsonl", f"{good}\n{{broken\n[1, 2]\n\n")
    report = ingest_checked(memory_store, path)
    assert (report.rows_in, report.accepted, report.quarantined) == (3, 1, 2)
    broken, listed = quarantined(memory_store, report)
    assert (broken["raw"], listed["raw"]) == ("{broken", "[1, 2]")
    assert "line 2 is not valid JSON" in broken["reason"]
    assert "line 3 is a JSON list, not an object" in listed["reason"]


def test_movielens_u_data_becomes_rating_events(memory_store, tmp_path):
    path = write(tmp_path / "u.data", "196\t242\t3\t881250949\n186\t302\t3.5\t891717742\n")
    report = ingest_checked(memory_store, path)
    assert (report.format, report.accepted) == ("movielens", 2)
    ratings = {r["user_id"]: r for r in stored(memory_store, report)}
    first = ratings["196"]
    assert (first["item_id"], first["event_type"], first["value"]) == ("242", "rating", 3.0)
    assert first["ts"] == datetime(1997, 12, 4, 15, 55, 49)
    assert ratings["186"]["value"] == 3.5
    assert first["event_id"] and first["event_id"] != ratings["186"]["event_id"]


def test_movielens_rows_seen_before_in_another_file_are_duplicates(memory_store, tmp_path):
    ingest_checked(
        memory_store, write(tmp_path / "u.data", "1\t10\t4\t881250949\n2\t20\t3\t881250950\n")
    )
    # Same first rating, in a file with other content (so not "already ingested").
    other = write(tmp_path / "u1.base", "1\t10\t4\t881250949\n3\t30\t5\t881250951\n")
    report = ingest_checked(memory_store, other, format="movielens")
    assert (report.rows_in, report.accepted, report.duplicates) == (2, 1, 1)
    assert [r["user_id"] for r in stored(memory_store, report)] == ["3"]
    assert rows(memory_store, "SELECT count(*) AS n FROM events WHERE user_id = '1'") == [{"n": 1}]


def test_movielens_line_with_a_missing_field_is_quarantined(memory_store, tmp_path):
    path = write(tmp_path / "u.data", "1\t10\t4\t881250949\n2\t20\t881250950\n")
    report = ingest_checked(memory_store, path)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert "line 2 has 3 fields but the header has 4" in only_reason(memory_store, report)


def test_dataframe_is_ingested(memory_store):
    frame = events_frame(["d1", "d2"], value=[1.0, None], plays=[3, 4])
    frame["ts"] = pd.to_datetime(["2026-01-01 10:00", "2026-01-02 00:00"], utc=True)
    report = ingest_checked(memory_store, frame)
    assert (report.format, report.source, report.accepted) == ("arrow", "dataframe", 2)
    d1, d2 = stored(memory_store, report)
    assert (d1["ts"], d1["value"], d2["value"]) == (datetime(2026, 1, 1, 10), 1.0, None)
    assert json.loads(d1["context"]) == {"plays": 3}


def test_dataframe_with_integers_beyond_64_bits_keeps_them_as_text(memory_store):
    order_numbers = [2**70, 3]  # no Arrow type holds 2**70
    report = ingest_checked(memory_store, events_frame(["o1", "o2"], order_no=order_numbers))
    contexts = [json.loads(r["context"]) for r in stored(memory_store, report)]
    assert contexts == [{"order_no": str(2**70)}, {"order_no": "3"}]


def test_dataframe_with_mixed_type_column_judges_each_value(memory_store):
    frame = events_frame(["m1", "m2", "m3"], value=[1, "2.5", "abc"])
    report = ingest_checked(memory_store, frame)
    assert (report.accepted, report.quarantined) == (2, 1)
    assert [r["value"] for r in stored(memory_store, report)] == [1.0, 2.5]
    [parked] = quarantined(memory_store, report)
    assert parked["reason"] == "value 'abc' is not a number"
    assert json.loads(parked["raw"])["event_id"] == "m3"


def test_pyarrow_table_is_ingested(memory_store):
    table = pa.table(
        {
            "event_id": ["a1"],
            "ts": pa.array([JAN_1_EPOCH], pa.int64()),
            "user_id": ["u1"],
            "event_type": ["play"],
            "value": pa.array([4], pa.int32()),
        }
    )
    report = ingest_checked(memory_store, table, source_name="warehouse export")
    assert (report.format, report.source, report.accepted) == ("arrow", "warehouse export", 1)
    [row] = stored(memory_store, report)
    assert (row["ts"], row["value"], row["source"]) == (JAN_1, 4.0, "warehouse export")


def test_unknown_file_suffix_asks_for_format(memory_store, tmp_path):
    path = write(tmp_path / "events.txt", csv_text(EVENT_HEADER, ["e1", JAN_1_ISO, "u1", "play"]))
    with pytest.raises(IngestError, match="--format"):
        ingest(memory_store, path)
    assert ingest_checked(memory_store, path, format="csv").accepted == 1


def test_other_python_objects_are_refused(memory_store):
    with pytest.raises(IngestError, match="pandas DataFrame or a pyarrow Table"):
        ingest(memory_store, [{"event_id": "e1"}])


# --- column mapping -----------------------------------------------------------------------


def test_mapping_reads_a_table_column_from_a_differently_named_source_column(
    memory_store, tmp_path
):
    path = write(
        tmp_path / "shop.csv",
        csv_text(["event_id", "ts", "customer_id", "event_type"], ["m1", JAN_1_ISO, "c7", "buy"]),
    )
    with pytest.raises(IngestError, match="--map user_id=COLUMN"):
        ingest(memory_store, path)
    report = ingest_checked(memory_store, path, mapping={"user_id": "customer_id"})
    [row] = stored(memory_store, report)
    assert row["user_id"] == "c7"
    assert row["context"] is None  # the mapped column is not kept twice


def test_a_same_named_column_not_chosen_by_the_mapping_is_kept_in_context(memory_store, tmp_path):
    path = write(
        tmp_path / "shop.csv",
        csv_text(
            ["event_id", "ts", "customer_id", "event_type", "user_id"],
            ["m1", JAN_1_ISO, "c7", "buy", "web-session-9"],
        ),
    )
    report = ingest_checked(memory_store, path, mapping={"user_id": "customer_id"})
    [row] = stored(memory_store, report)
    assert row["user_id"] == "c7"
    assert json.loads(row["context"]) == {"user_id": "web-session-9"}


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"customer": "customer_id"}, ["'customer'", "event_id, ts, user_id"]),
        ({"user_id": "client"}, ["'client'", "event_id, ts, customer_id, event_type"]),
    ],
    ids=["unknown table column", "unknown source column"],
)
def test_bad_mapping_is_refused_naming_the_columns(memory_store, tmp_path, mapping, named):
    path = write(
        tmp_path / "shop.csv",
        csv_text(["event_id", "ts", "customer_id", "event_type"], ["m1", JAN_1_ISO, "c7", "buy"]),
    )
    with pytest.raises(IngestError, match="--map") as error:
        ingest(memory_store, path, mapping=mapping)
    for text in named:
        assert text in str(error.value)
    assert memory_store.count_rows()["batches"] == 0


def test_missing_required_column_is_refused_with_a_map_hint(memory_store, tmp_path):
    path = write(
        tmp_path / "e.csv", csv_text(["event_id", "ts", "event_type"], ["e1", JAN_1_ISO, "x"])
    )
    with pytest.raises(IngestError) as error:
        ingest(memory_store, path)
    message = str(error.value)
    assert "no column for user_id" in message
    assert "--map user_id=COLUMN" in message
    assert "event_id, ts, event_type" in message  # what the input does have
    assert memory_store.count_rows()["batches"] == 0


def test_a_json_key_holding_a_nul_character_is_refused_by_name(memory_store, tmp_path):
    row = {"event_id": "e1", "ts": JAN_1_ISO, "user_id": "u", "event_type": "x", "a\u0000b": 1}
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(IngestError, match="NUL character"):
        ingest(memory_store, path)
    assert memory_store.count_rows()["batches"] == 0


# --- context ------------------------------------------------------------------------------


def test_context_object_and_extra_columns_are_combined_under_source_columns(memory_store, tmp_path):
    path = write(
        tmp_path / "ctx.csv",
        csv_text(
            [*EVENT_HEADER, "context", "device"],
            ["c1", JAN_1_ISO, "u1", "play", '{"page": "home", "n": 2}', "tv"],
            ["c2", JAN_1_ISO, "u1", "play", "", "phone"],
        ),
    )
    report = ingest_checked(memory_store, path)
    c1, c2 = stored(memory_store, report)
    assert json.loads(c1["context"]) == {"page": "home", "n": 2, "source_columns": {"device": "tv"}}
    assert json.loads(c2["context"]) == {"source_columns": {"device": "phone"}}


def test_context_object_alone_is_stored_as_given(memory_store):
    frame = events_frame(["c1"], context=['{"page": "home", "tags": [1, 2]}'])
    report = ingest_checked(memory_store, frame)
    assert json.loads(stored(memory_store, report)[0]["context"]) == {
        "page": "home",
        "tags": [1, 2],
    }


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '"text"', "42", "{unclosed"])
def test_context_that_is_not_a_json_object_is_quarantined(memory_store, bad):
    report = ingest_checked(memory_store, events_frame(["ok", "bad"], context=["{}", bad]))
    assert (report.accepted, report.quarantined) == (1, 1)
    assert "context" in only_reason(memory_store, report)
    assert "is not a JSON object" in only_reason(memory_store, report)


def test_json_lines_context_object_and_extra_keys_are_combined(memory_store, tmp_path):
    record = {
        "event_id": "j1",
        "ts": JAN_1_ISO,
        "user_id": "u1",
        "event_type": "play",
        "context": {"page": "home"},
        "score": None,
    }
    report = ingest_checked(memory_store, write(tmp_path / "e.jsonl", json.dumps(record)))
    context = json.loads(stored(memory_store, report)[0]["context"])
    assert context == {"page": "home", "source_columns": {"score": None}}


# --- malformed text -----------------------------------------------------------------------


def test_lines_with_too_many_or_too_few_fields_are_quarantined_and_the_rest_kept(
    memory_store, tmp_path
):
    path = write(
        tmp_path / "fields.csv",
        "event_id,ts,user_id,event_type\n"
        "f1,2026-01-01,u1\n"
        "f2,2026-01-01,u1,play,surplus\n"
        "f3,2026-01-01,u1,play\n",
    )
    report = ingest_checked(memory_store, path)
    assert (report.accepted, report.quarantined) == (1, 2)
    few, many = quarantined(memory_store, report)
    assert (few["row_number"], few["raw"]) == (1, "f1,2026-01-01,u1")
    assert "line 2 has 3 fields but the header has 4" in few["reason"]
    assert (many["row_number"], many["raw"]) == (2, "f2,2026-01-01,u1,play,surplus")
    assert "line 3 has 5 fields but the header has 4" in many["reason"]
    assert "stray quotes" in many["reason"]
    assert [r["event_id"] for r in stored(memory_store, report)] == ["f3"]


def test_unclosed_quote_in_the_middle_loses_only_its_own_line(memory_store, tmp_path):
    path = write(
        tmp_path / "quote.csv",
        "event_id,ts,user_id,event_type\n"
        "q1,2026-01-01,u1,play\n"
        'q2,2026-01-01,"u2,play\n'
        "q3,2026-01-01,u3,play\n"
        "q4,2026-01-01,u4,play\n",
    )
    report = ingest_checked(memory_store, path)
    assert (report.rows_in, report.accepted, report.quarantined) == (4, 3, 1)
    [parked] = quarantined(memory_store, report)
    assert parked["raw"] == 'q2,2026-01-01,"u2,play'
    assert parked["reason"].startswith("line 3 is not valid CSV")
    assert [r["event_id"] for r in stored(memory_store, report)] == ["q1", "q3", "q4"]


def test_quoted_fields_with_line_breaks_commas_and_quotes_are_kept_exactly(memory_store, tmp_path):
    awkward = ["two\nlines", "comma, inside", 'say "hi"', "carriage\rreturn", " padded "]
    path = write(
        tmp_path / "quoted.csv",
        csv_text(
            EVENT_HEADER, *[[f"q{i}", JAN_1_ISO, text, "play"] for i, text in enumerate(awkward)]
        ),
    )
    report = ingest_checked(memory_store, path)
    assert report.accepted == len(awkward)
    assert [r["user_id"] for r in stored(memory_store, report)] == awkward


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1e"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_unicode_line_separators_inside_values_do_not_split_rows(
    memory_store, tmp_path, separator, fmt
):
    user = f"before{separator}after"
    if fmt == "csv":
        text = csv_text(
            EVENT_HEADER, ["s1", JAN_1_ISO, user, "play"], ["s2", JAN_1_ISO, "u2", "play"]
        )
    else:
        text = "\n".join(
            json.dumps(
                {"event_id": i, "ts": JAN_1_ISO, "user_id": u, "event_type": "play"},
                ensure_ascii=False,
            )
            for i, u in [("s1", user), ("s2", "u2")]
        )
    report = ingest_checked(memory_store, write(tmp_path / f"sep.{fmt}", text))
    assert (report.rows_in, report.accepted) == (2, 2)
    assert stored_by_id(memory_store, report)["s1"]["user_id"] == user


def test_windows_line_endings_and_blank_lines_are_fine(memory_store, tmp_path):
    path = write(
        tmp_path / "crlf.csv",
        "\r\n\r\nevent_id,ts,user_id,event_type\r\n"
        "w1,2026-01-01,u1,play\r\n\r\nw2,2026-01-01,u2,play\r\n",
    )
    report = ingest_checked(memory_store, path)
    assert (report.rows_in, report.accepted) == (2, 2)
    assert [r["user_id"] for r in stored(memory_store, report)] == ["u1", "u2"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "value 'abc' is not a number"),
        ("1,5", "value '1,5' is not a number"),
        ("inf", "value 'inf' is not a finite number"),
        ("NaN", "value 'NaN' is not a finite number"),
    ],
)
def test_value_that_is_not_a_finite_number_is_quarantined(memory_store, tmp_path, value, reason):
    path = write(
        tmp_path / "v.csv",
        csv_text(
            [*EVENT_HEADER, "value"],
            ["v1", JAN_1_ISO, "u1", "play", value],
            ["v2", JAN_1_ISO, "u1", "play", " 2.5 "],
        ),
    )
    report = ingest_checked(memory_store, path)
    assert only_reason(memory_store, report) == reason
    assert [r["value"] for r in stored(memory_store, report)] == [2.5]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["", JAN_1_ISO, "u1", "play"], "event_id is missing"),
        (["e1", "", "u1", "play"], "ts is missing"),
        (["e1", JAN_1_ISO, "", "play"], "user_id is missing"),
        (["e1", JAN_1_ISO, "u1", ""], "event_type is missing"),
    ],
)
def test_missing_required_value_is_quarantined(memory_store, tmp_path, row, reason):
    path = write(tmp_path / "m.csv", csv_text(EVENT_HEADER, row, ["ok", JAN_1_ISO, "u1", "play"]))
    report = ingest_checked(memory_store, path)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert only_reason(memory_store, report) == reason


def test_missing_value_in_a_dataframe_is_quarantined(memory_store):
    report = ingest_checked(memory_store, events_frame(["d1", None]))
    assert only_reason(memory_store, report) == "event_id is missing"


def test_report_counts_reasons_with_row_specific_values_folded(memory_store, tmp_path):
    path = write(
        tmp_path / "v.csv",
        csv_text(
            [*EVENT_HEADER, "value"],
            ["v1", JAN_1_ISO, "u1", "play", "abc"],
            ["v2", JAN_1_ISO, "u1", "play", "xyz"],
            ["v3", JAN_1_ISO, "", "play", "1"],
        ),
    )
    report = ingest_checked(memory_store, path)
    assert report.reasons == {"value '...' is not a number": 2, "user_id is missing": 1}
    assert "3 rows in, 0 accepted, 3 quarantined, 0 duplicates" in report.summary()


def test_every_problem_of_a_row_is_named(memory_store, tmp_path):
    path = write(
        tmp_path / "many.csv", csv_text([*EVENT_HEADER, "value"], ["e1", "soon", "", "play", "x"])
    )
    report = ingest_checked(memory_store, path)
    reason = only_reason(memory_store, report)
    for problem in ("ts 'soon' is not a time", "user_id is missing", "value 'x' is not a number"):
        assert problem in reason


# --- times --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["yesterday", "12/31/2026", "2026-01-01 at noon"])
def test_unparseable_time_is_quarantined_with_the_accepted_forms(memory_store, tmp_path, text):
    path = write(tmp_path / "t.csv", csv_text(EVENT_HEADER, ["t1", text, "u1", "play"]))
    report = ingest_checked(memory_store, path)
    assert only_reason(memory_store, report) == (
        f"ts '{text}' is not a time; use ISO 8601 (2026-01-31T12:00:00Z) or seconds since 1970"
    )


@pytest.mark.parametrize(
    "text", ["2026-02-30", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00", "2026-01-01T12:00:60"]
)
def test_time_that_is_not_on_the_calendar_is_quarantined(memory_store, tmp_path, text):
    path = write(tmp_path / "t.csv", csv_text(EVENT_HEADER, ["t1", text, "u1", "play"]))
    report = ingest_checked(memory_store, path)
    assert only_reason(memory_store, report) == (
        f"ts '{text}' is not a real date and time (a month, day, hour, minute or second out of "
        "range); use ISO 8601 (2026-01-31T12:00:00Z) or seconds since 1970"
    )


@pytest.mark.parametrize("text", ["2999-06-01T00:00:00Z", "1900-01-01", "1969-12-31T23:59:59Z"])
def test_time_outside_the_accepted_range_is_quarantined(memory_store, tmp_path, text):
    path = write(tmp_path / "t.csv", csv_text(EVENT_HEADER, ["t1", text, "u1", "play"]))
    report = ingest_checked(memory_store, path)
    assert only_reason(memory_store, report) == (
        f"ts '{text}' is outside the accepted range (between 1970-01-01 and 2100-01-01)"
    )


def test_out_of_range_datetimes_in_a_dataframe_are_quarantined(memory_store):
    frame = events_frame(["old", "new"])
    frame["ts"] = pd.to_datetime(["1900-01-01", "2026-01-01"])
    report = ingest_checked(memory_store, frame)
    assert "outside the accepted range" in only_reason(memory_store, report)
    assert [r["event_id"] for r in stored(memory_store, report)] == ["new"]


def test_epoch_milliseconds_read_as_seconds_suggest_epoch_unit(memory_store, tmp_path):
    millis = str(JAN_1_EPOCH * 1000)
    path = write(tmp_path / "ms.csv", csv_text(EVENT_HEADER, ["t1", millis, "u1", "play"]))
    report = ingest_checked(memory_store, path)
    reason = only_reason(memory_store, report)
    assert reason.startswith(f"ts '{millis}' is not a time between 1970-01-01 and 2100-01-01")
    assert "when read as s since 1970" in reason
    assert "--epoch-unit" in reason

    fresh = Store.open("duckdb://:memory:")
    report = ingest_checked(fresh, path, epoch_unit="ms")
    assert report.accepted == 1
    assert stored(fresh, report)[0]["ts"] == JAN_1


def test_following_the_epoch_unit_advice_on_the_same_file_ingests_it(memory_store, tmp_path):
    path = write(
        tmp_path / "ms.csv", csv_text(EVENT_HEADER, ["t1", str(JAN_1_EPOCH * 1000), "u1", "play"])
    )
    assert ingest_checked(memory_store, path).quarantined == 1
    assert ingest_checked(memory_store, path, epoch_unit="ms").accepted == 1
    assert ingest_checked(memory_store, path, epoch_unit="ms").status == "already_ingested"


@pytest.mark.parametrize(
    ("unit", "number"),
    [("s", JAN_1_EPOCH), ("ms", JAN_1_EPOCH * 1_000), ("us", JAN_1_EPOCH * 1_000_000)],
)
def test_numeric_times_in_a_dataframe_follow_epoch_unit(memory_store, unit, number):
    report = ingest_checked(memory_store, events_frame(["n1"]).assign(ts=[number]), epoch_unit=unit)
    assert stored(memory_store, report)[0]["ts"] == JAN_1


def test_unknown_epoch_unit_is_refused(memory_store):
    with pytest.raises(IngestError, match="epoch_unit 'ns' is not one of s, ms, us"):
        ingest(memory_store, events_frame(["e1"]), epoch_unit="ns")


def test_times_with_offsets_are_stored_in_utc(memory_store, tmp_path):
    path = write(
        tmp_path / "tz.csv",
        csv_text(
            EVENT_HEADER,
            ["z", "2026-01-01T12:00:00Z", "u", "play"],
            ["ist", "2026-01-01T17:30:00+05:30", "u", "play"],
            ["pst", "2026-01-01T04:00:00-08:00", "u", "play"],
            ["naive", "2026-01-01 12:00:00", "u", "play"],
            ["frac", "2026-01-01T12:00:00.25+00:00", "u", "play"],
            ["epoch", str(JAN_1_EPOCH + 12 * 3600), "u", "play"],
        ),
    )
    report = ingest_checked(memory_store, path)
    assert report.accepted == 6
    times = {r["event_id"]: r["ts"] for r in stored(memory_store, report)}
    noon = datetime(2026, 1, 1, 12)
    assert times == {
        "z": noon,
        "ist": noon,
        "pst": noon,
        "naive": noon,
        "frac": datetime(2026, 1, 1, 12, 0, 0, 250_000),
        "epoch": noon,
    }


# --- empty, binary and broken inputs ------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    ["", "event_id,ts,user_id,event_type\n", "\n\n"],
    ids=["empty", "header only", "blank"],
)
def test_input_without_rows_is_reported_empty_and_writes_nothing(memory_store, tmp_path, content):
    path = write(tmp_path / "empty.csv", content)
    report = ingest_checked(memory_store, path)
    assert (report.status, report.rows_in) == ("empty", 0)
    assert "no rows to ingest; nothing changed" in report.summary()
    assert memory_store.count_rows()["batches"] == 0


def test_empty_dataframe_is_reported_empty(memory_store):
    report = ingest_checked(memory_store, pd.DataFrame(columns=EVENT_HEADER))
    assert report.status == "empty"


def test_binary_garbage_named_csv_is_refused(memory_store, tmp_path):
    path = write(tmp_path / "photo.csv", b"\x89PNG\r\n\x1a\n" + random.Random(0).randbytes(4096))
    with pytest.raises(IngestError, match="does not start with a header") as error:
        ingest(memory_store, path)
    assert "binary" in str(error.value) and "--format" in str(error.value)
    assert memory_store.count_rows()["batches"] == 0


def test_parquet_file_named_csv_is_refused_with_a_hint(memory_store, tmp_path):
    pq.write_table(pa.table({"event_id": ["e1"]}), tmp_path / "export.csv")
    with pytest.raises(IngestError, match="Parquet"):
        ingest(memory_store, tmp_path / "export.csv")


def test_binary_lines_in_the_middle_of_a_csv_are_quarantined_and_the_rest_accepted(
    memory_store, tmp_path
):
    path = write(
        tmp_path / "mixed.csv",
        b"event_id,ts,user_id,event_type\n"
        b"b1,2026-01-01,u1,play\n"
        b"\x00\x01\x02\x00binary,junk\n"
        b"b3,2026-01-01,u3,play\n"
        b"b4,2026-01-01,u\x00,play\n"
        b"b5,2026-01-01,u5,play\n",
    )
    report = ingest_checked(memory_store, path)
    assert (report.rows_in, report.accepted, report.quarantined) == (5, 3, 2)
    junk, nul = quarantined(memory_store, report)
    assert junk["reason"] == "line 3 holds binary data (NUL bytes); it is not text"
    assert nul["reason"] == "line 5 holds binary data (NUL bytes); it is not text"
    assert nul["raw"] == "b4,2026-01-01,u\x00,play"
    assert [r["event_id"] for r in stored(memory_store, report)] == ["b1", "b3", "b5"]


def test_id_longer_than_the_limit_is_quarantined_with_its_length(memory_store, tmp_path):
    long_id = "x" * 5000
    path = write(
        tmp_path / "long.csv",
        csv_text(EVENT_HEADER, [long_id, JAN_1_ISO, "u1", "play"], ["ok", JAN_1_ISO, "u1", "play"]),
    )
    report = ingest_checked(memory_store, path)
    [parked] = quarantined(memory_store, report)
    assert parked["reason"] == "event_id is 5,000 characters long; at most 1024 are accepted"
    assert parked["raw"] == f"{long_id},{JAN_1_ISO},u1,play"  # the original, not cut


def test_megabyte_extra_column_is_kept_whole_in_context(memory_store, tmp_path):
    big = "".join(random.Random(1).choices("abcdefghij \"',;\n", k=1_000_000))
    path = write(
        tmp_path / "big.csv",
        csv_text([*EVENT_HEADER, "payload"], ["e1", JAN_1_ISO, "u1", "play", big]),
    )
    report = ingest_checked(memory_store, path)
    assert report.accepted == 1
    assert json.loads(stored(memory_store, report)[0]["context"])["payload"] == big


def test_mixed_encodings_quarantine_the_odd_line_with_an_encoding_hint(memory_store, tmp_path):
    path = write(
        tmp_path / "mixed.csv",
        "event_id,ts,user_id,event_type\ne1,2026-01-01,Zoë,play\n".encode()
        + "e2,2026-01-01,José,play\n".encode("latin-1")
        + b"e3,2026-01-01,u3,play\n",
    )
    report = ingest_checked(memory_store, path)
    assert (report.accepted, report.quarantined) == (2, 1)
    [parked] = quarantined(memory_store, report)
    assert parked["raw"] == "e2,2026-01-01,Jos\\xe9,play"  # the odd byte shown, not lost
    assert "line 3 is not valid utf-8 text (mixed encodings?)" in parked["reason"]
    assert "--encoding" in parked["reason"]
    assert [r["user_id"] for r in stored(memory_store, report)] == ["Zoë", "u3"]


def test_file_in_another_encoding_is_read_with_encoding(memory_store, tmp_path):
    path = write(
        tmp_path / "latin.csv",
        "event_id,ts,user_id,event_type\nl1,2026-01-01,José,play\nl2,2026-01-01,Müller…,play\n".encode(
            "cp1252"
        ),
    )
    report = ingest_checked(memory_store, path, encoding="cp1252")
    assert report.accepted == 2
    assert [r["user_id"] for r in stored(memory_store, report)] == ["José", "Müller…"]


def test_unknown_encoding_is_refused(memory_store, tmp_path):
    path = write(tmp_path / "e.csv", csv_text(EVENT_HEADER, ["e1", JAN_1_ISO, "u1", "play"]))
    with pytest.raises(IngestError, match=r"Unknown encoding 'klingon'.*latin-1"):
        ingest(memory_store, path, encoding="klingon")


def test_broken_utf16_quarantines_the_broken_line_with_its_bytes(memory_store, tmp_path):
    good = "e1,2026-01-01,u1,play\n".encode("utf-16-le")
    path = write(
        tmp_path / "u16.csv",
        "event_id,ts,user_id,event_type\n".encode("utf-16-le")
        + good
        + b"\x00\xd8"  # a lone surrogate
        + "e2,2026-01-01,u2,play\n".encode("utf-16-le")
        + "e3,2026-01-01,u3,play\n".encode("utf-16-le")[:-1],  # truncated at the end
    )
    report = ingest_checked(memory_store, path, encoding="utf-16-le")
    assert (report.accepted, report.quarantined) == (1, 2)
    reasons = [row["reason"] for row in quarantined(memory_store, report)]
    assert all("not valid utf-16-le text" in reason for reason in reasons)
    assert quarantined(memory_store, report)[0]["raw"].startswith("\\x00\\xd8e2")


def test_json_nested_beyond_reading_is_quarantined(memory_store, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    good = {"event_id": "e1", "ts": JAN_1_ISO, "user_id": "u1", "event_type": "play"}
    path = write(
        tmp_path / "deep.jsonl",
        (
            json.dumps(good)
            + "\n"
            + json.dumps({**good, "event_id": "e2"})[:-1]
            + f', "x": {deep}}}\n'
        ).encode(),
    )
    report = ingest_checked(memory_store, path)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert "nests JSON arrays or objects too deeply" in only_reason(memory_store, report)


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ('"user_id": {"a": 1}', "user_id is a JSON object, not a single value"),
        ('"user_id": ["u"]', "user_id is a JSON array, not a single value"),
        ('"user_id": "   "', "user_id '   ' is only whitespace"),
        ('"user_id": "u", "value": "1_000"', "value '1_000' is not a number"),
        ('"user_id": "u", "extra": NaN', "holds NaN, which is not JSON"),
        ('"user_id": "u", "extra": -Infinity', "holds -Infinity, which is not JSON"),
        ('"user_id": "u1", "user_id": "u2"', "gives the key 'user_id' twice"),
    ],
    ids=[
        "object-id",
        "array-id",
        "blank-id",
        "underscored-number",
        "nan",
        "infinity",
        "repeated-key",
    ],
)
def test_json_that_would_be_stored_wrong_is_quarantined_with_its_reason(
    memory_store, tmp_path, field, reason
):
    good = f'{{"event_id": "e0", "ts": "{JAN_1_ISO}", "event_type": "play", "user_id": "u0"}}\n'
    odd = f'{{"event_id": "e1", "ts": "{JAN_1_ISO}", "event_type": "play", {field}}}\n'
    path = write(tmp_path / "odd.jsonl", (good + odd).encode())
    report = ingest_checked(memory_store, path)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert reason in only_reason(memory_store, report)


def test_a_dataframes_nan_extra_is_json_null_and_infinity_is_refused(memory_store):
    import pandas as pd

    frame = pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "ts": [JAN_1_ISO, JAN_1_ISO],
            "user_id": ["u1", "u2"],
            "event_type": ["play", "play"],
            "score": [float("nan"), float("inf")],
        }
    )
    report = ingest_checked(memory_store, frame)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert json.loads(stored(memory_store, report)[0]["context"]) == {"score": None}
    assert "score 'inf' is infinite" in only_reason(memory_store, report)


def test_columns_that_differ_only_in_case_are_refused(memory_store, tmp_path):
    path = write(
        tmp_path / "case.csv", b"event_id,ts,user_id,USER_ID,event_type\ne1,2026-01-01,u,x,play\n"
    )
    with pytest.raises(IngestError, match="'user_id' and 'USER_ID', which differ only in case"):
        ingest(memory_store, path)
    assert memory_store.count_rows()["events"] == 0


def test_inputs_wider_than_the_column_limit_are_refused_naming_it(memory_store, tmp_path):
    row = {"event_id": "w1", "ts": JAN_1_ISO, "user_id": "u", "event_type": "play"}
    wide = {**row, "event_id": "w2", **{f"k{i}": i for i in range(20_000)}}
    lines = write(
        tmp_path / "wide.jsonl", (json.dumps(row) + "\n" + json.dumps(wide) + "\n").encode()
    )
    report = ingest_checked(memory_store, lines)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert "has 20,004 keys; at most 1,000" in only_reason(memory_store, report)
    header = ",".join([*EVENT_HEADER, *(f"c{i}" for i in range(5_000))])
    table = write(tmp_path / "wide.csv", (header + "\n").encode())
    with pytest.raises(IngestError, match=r"5,004 columns.*at most 1,000.*\[capture\] max_columns"):
        ingest(memory_store, table)


def test_the_column_limit_is_set_in_workbench_toml(memory_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "workbench.toml").write_text("[capture]\nmax_columns = 5\n")
    path = write(
        tmp_path / "e.csv", b"event_id,ts,user_id,event_type,a,b\ne1,2026-01-01,u,play,1,2\n"
    )
    with pytest.raises(IngestError, match=r"6 columns .*at most 5"):
        ingest(memory_store, path)
    (tmp_path / "workbench.toml").write_text("[capture]\nmax_columns = 6\n")
    assert ingest_checked(memory_store, path).accepted == 1


@pytest.mark.parametrize("encoding", ["idna", "punycode", "utf-32"])
def test_an_encoding_that_cannot_read_the_file_is_one_clear_error(memory_store, tmp_path, encoding):
    path = write(tmp_path / "e.csv", csv_text(EVENT_HEADER, ["e1", JAN_1_ISO, "u1", "play"]))
    with pytest.raises(
        IngestError, match=rf"--encoding {encoding} cannot read|not start with a header"
    ):
        ingest(memory_store, path, encoding=encoding)
    assert memory_store.count_rows()["events"] == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_byte_order_mark_is_not_part_of_the_first_column(memory_store, tmp_path, fmt):
    if fmt == "csv":
        text = csv_text(EVENT_HEADER, ["b1", JAN_1_ISO, "u1", "play"])
    else:
        text = json.dumps(
            {"event_id": "b1", "ts": JAN_1_ISO, "user_id": "u1", "event_type": "play"}
        )
    path = write(tmp_path / f"bom.{fmt}", b"\xef\xbb\xbf" + text.encode())
    report = ingest_checked(memory_store, path)
    [row] = stored(memory_store, report)
    assert (row["event_id"], row["context"]) == ("b1", None)


def test_missing_file_is_refused(memory_store, tmp_path):
    with pytest.raises(IngestError, match=r"No such file: .*nowhere\.csv"):
        ingest(memory_store, tmp_path / "nowhere.csv")


def test_directory_is_refused_with_a_per_file_hint(memory_store, tmp_path):
    (tmp_path / "exports.csv").mkdir()
    with pytest.raises(IngestError, match="is a directory; give one file"):
        ingest(memory_store, tmp_path / "exports.csv")


def _truncated(data: bytes, path: Path) -> bytes:
    return data[: len(data) // 2]


def _bad_footer(data: bytes, path: Path) -> bytes:
    return b"PAR1" + random.Random(2).randbytes(200) + b"PAR1"


def _damaged_pages(data: bytes, path: Path) -> bytes:
    # The footer stays readable; the user_id column's pages are overwritten.
    column = pq.read_metadata(path).row_group(0).column(2)
    start = column.dictionary_page_offset or column.data_page_offset
    end = start + column.total_compressed_size
    return data[: start + 16] + b"\xff" * (end - start - 20) + data[end - 4 :]


@pytest.mark.parametrize("damage", [_truncated, _bad_footer, _damaged_pages])
def test_corrupt_parquet_is_refused_and_nothing_is_written(memory_store, tmp_path, damage):
    n = 2000
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "ts": [JAN_1_ISO] * n,
            "user_id": [f"u{i}" for i in range(n)],
            "event_type": ["play"] * n,
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, compression="snappy")
    path.write_bytes(damage(path.read_bytes(), path))
    before = memory_store.count_rows()
    with pytest.raises(IngestError, match=r"events\.parquet") as error:
        ingest(memory_store, path)
    assert "Parquet" in str(error.value) or "damaged" in str(error.value)
    assert memory_store.count_rows() == before


# --- duplicates and re-ingesting ----------------------------------------------------------


def test_repeated_ids_in_one_file_keep_the_first_and_count_the_rest(memory_store, tmp_path):
    path = write(
        tmp_path / "dups.csv",
        csv_text(
            [*EVENT_HEADER, "attempt"],
            ["d1", JAN_1_ISO, "u1", "play", "first"],
            ["d1", JAN_1_ISO, "u2", "play", "second"],
            ["d2", JAN_1_ISO, "u1", "play", "only"],
            ["d1", JAN_1_ISO, "u3", "play", "third"],
        ),
    )
    report = ingest_checked(memory_store, path)
    assert (report.rows_in, report.accepted, report.quarantined, report.duplicates) == (4, 2, 0, 2)
    d1 = stored_by_id(memory_store, report)["d1"]
    assert (d1["user_id"], json.loads(d1["context"])) == ("u1", {"attempt": "first"})


def test_a_quarantined_row_does_not_count_as_the_first_of_its_id(memory_store):
    frame = events_frame(["d1", "d1"], value=["abc", "2"])
    report = ingest_checked(memory_store, frame)
    assert (report.accepted, report.quarantined, report.duplicates) == (1, 1, 0)
    assert stored(memory_store, report)[0]["value"] == 2.0


def test_event_id_already_stored_is_a_duplicate_and_the_stored_row_is_kept(memory_store):
    ingest_checked(memory_store, events_frame(["e1", "e2"], note=["old", "old"]))
    report = ingest_checked(memory_store, events_frame(["e2", "e3"], note=["new", "new"]))
    assert (report.accepted, report.duplicates) == (1, 1)
    [kept] = rows(memory_store, "SELECT context FROM events WHERE event_id = 'e2'")
    assert json.loads(kept["context"]) == {"note": "old"}


def test_reingesting_the_same_file_changes_nothing_and_says_so(memory_store, tmp_path):
    path = write(
        tmp_path / "e.csv",
        csv_text(EVENT_HEADER, ["e1", JAN_1_ISO, "u1", "play"], ["e2", "never", "u1", "play"]),
    )
    first = ingest_checked(memory_store, path)
    copy = write(tmp_path / "copy-of-e.csv", path.read_bytes())
    for again in (path, copy):
        report = ingest_checked(memory_store, again)
        assert report.status == "already_ingested"
        assert report.previous_batch_id == first.batch_id
        assert f"already ingested into events as batch {first.batch_id}" in report.summary()
        assert "nothing changed" in report.summary()


def test_reingesting_the_same_dataframe_changes_nothing(memory_store):
    first = ingest_checked(memory_store, events_frame(["e1"]))
    report = ingest_checked(memory_store, events_frame(["e1"]))
    assert (report.status, report.previous_batch_id) == ("already_ingested", first.batch_id)


def test_same_file_into_another_table_is_not_already_ingested(memory_store, tmp_path):
    path = write(tmp_path / "ids.csv", "item_id,user_id\ni1,u1\n")
    assert ingest_checked(memory_store, path, table="items").status == "committed"
    assert ingest_checked(memory_store, path, table="users").status == "committed"


# --- other tables -------------------------------------------------------------------------


def test_observations(memory_store, tmp_path):
    path = write(
        tmp_path / "cpu.csv",
        csv_text(
            ["series_id", "ts", "value", "host"],
            ["cpu", "2026-01-01T00:00:00Z", "0.5", "a"],
            ["cpu", "2026-01-01T00:00:00Z", "0.7", "a"],
            ["cpu", "2026-01-01T00:01:00Z", "busy", "a"],
            ["cpu", "2026-01-01T00:02:00Z", "", "a"],
        ),
    )
    report = ingest_checked(memory_store, path, table="observations")
    assert (report.accepted, report.quarantined, report.duplicates) == (1, 2, 1)
    [point] = stored(memory_store, report)
    assert (point["series_id"], point["ts"], point["value"]) == ("cpu", JAN_1, 0.5)
    assert json.loads(point["context"]) == {"host": "a"}
    assert [q["reason"] for q in quarantined(memory_store, report)] == [
        "value 'busy' is not a number",
        "value is missing",
    ]


def test_labels_for_series_points_derive_their_target_in_utc(memory_store, tmp_path):
    path = write(
        tmp_path / "labels.csv",
        csv_text(
            ["series_id", "ts", "label", "note"],
            ["cpu", "2026-01-01T06:00:00+01:00", "1", "spike"],
            ["cpu", "2026-01-01T07:00:00.5Z", "0", ""],
        ),
    )
    report = ingest_checked(memory_store, path, table="labels")
    assert report.accepted == 2
    spike, calm = stored(memory_store, report)
    assert spike["target"] == "cpu@2026-01-01T05:00:00+00:00"
    assert calm["target"] == "cpu@2026-01-01T07:00:00.500000+00:00"
    assert (spike["label"], calm["label"]) == (1, 0)
    assert spike["source"] == "labels.csv"
    assert spike["labeled_at"] is not None
    assert json.loads(spike["context"]) == {"note": "spike"}


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("2", "must be 1 (anomalous) or 0 (normal)"),
        ("-1", "must be 1 (anomalous) or 0 (normal)"),
        ("0.5", "is not a whole number"),
        ("yes", "label 'yes' is not a whole number"),
    ],
)
def test_label_must_be_zero_or_one(memory_store, tmp_path, label, reason):
    path = write(
        tmp_path / "labels.csv", csv_text(["target", "label"], ["ev1", label], ["ev2", "1"])
    )
    report = ingest_checked(memory_store, path, table="labels")
    assert (report.accepted, report.quarantined) == (1, 1)
    assert reason in only_reason(memory_store, report)
    assert stored(memory_store, report)[0]["target"] == "ev2"


def test_labels_without_a_target_or_series_point_are_refused(memory_store, tmp_path):
    path = write(tmp_path / "labels.csv", csv_text(["label", "ts"], ["1", JAN_1_ISO]))
    with pytest.raises(IngestError, match="--map target=COLUMN") as error:
        ingest(memory_store, path, table="labels")
    assert "--map series_id=COLUMN --map ts=COLUMN" in str(error.value)
    assert memory_store.count_rows()["labels"] == 0


def test_labels_missing_a_part_of_their_series_point_are_quarantined(memory_store, tmp_path):
    path = write(
        tmp_path / "labels.csv",
        csv_text(
            ["series_id", "ts", "label"],
            ["", JAN_1_ISO, "1"],
            ["cpu", "", "0"],
            ["cpu", JAN_1_ISO, "1"],
        ),
    )
    report = ingest_checked(memory_store, path, table="labels")
    # Not stored without a target, and not counted as duplicates of each other.
    assert (report.accepted, report.quarantined, report.duplicates) == (1, 2, 0)
    assert [q["reason"] for q in quarantined(memory_store, report)] == [
        "series_id is missing",
        "ts is missing",
    ]
    assert stored(memory_store, report)[0]["target"] == "cpu@2026-01-01T00:00:00+00:00"


def test_assignments(memory_store, tmp_path):
    path = write(
        tmp_path / "assign.csv",
        csv_text(
            ["experiment", "unit_id", "variant", "assigned_at", "cohort"],
            ["exp1", "u1", "A", "2026-01-01", "new"],
            ["exp1", "u1", "B", "2026-01-02", "new"],
            ["exp1", "u2", "", "2026-01-01", "old"],
            ["exp2", "u1", "B", "2026-01-01", "new"],
        ),
    )
    report = ingest_checked(memory_store, path, table="assignments")
    assert (report.accepted, report.quarantined, report.duplicates) == (2, 1, 1)
    assert only_reason(memory_store, report) == "variant is missing"
    kept = {(r["experiment"], r["unit_id"]): r["variant"] for r in stored(memory_store, report)}
    assert kept == {("exp1", "u1"): "A", ("exp2", "u1"): "B"}


def test_items_keep_extra_columns_as_attributes(memory_store, tmp_path):
    path = write(
        tmp_path / "items.csv",
        csv_text(["item_id", "genre", "year"], ["i1", "rock", "1999"], ["i2", "jazz", ""]),
    )
    report = ingest_checked(memory_store, path, table="items")
    i1, i2 = stored(memory_store, report)
    assert json.loads(i1["attributes"]) == {"genre": "rock", "year": "1999"}
    assert json.loads(i2["attributes"]) == {"genre": "jazz", "year": None}
    assert i1["updated_at"] is not None


def test_deliveries_check_propensity_and_position(memory_store, tmp_path):
    path = write(
        tmp_path / "deliveries.csv",
        csv_text(
            ["delivery_id", "ts", "user_id", "item_id", "position", "propensity"],
            ["d1", JAN_1_ISO, "u1", "i1", "0", "0.5"],
            ["d2", JAN_1_ISO, "u1", "i2", "1", "0"],
            ["d3", JAN_1_ISO, "u1", "i3", "2", "1.5"],
            ["d4", JAN_1_ISO, "u1", "i4", "-1", "1"],
            ["d5", JAN_1_ISO, "u1", "i5", "1.5", "1"],
            ["d6", JAN_1_ISO, "u1", "i6", "3", "1"],
        ),
    )
    report = ingest_checked(memory_store, path, table="deliveries")
    assert (report.accepted, report.quarantined) == (2, 4)
    reasons = [q["reason"] for q in quarantined(memory_store, report)]
    assert "must be a probability in (0, 1]" in reasons[0]
    assert "must be a probability in (0, 1]" in reasons[1]
    assert "position" in reasons[2] and "must be 0 or more" in reasons[2]
    assert "position '1.5' is not a whole number" in reasons[3]
    kept = {
        r["delivery_id"]: (r["position"], r["propensity"]) for r in stored(memory_store, report)
    }
    assert kept == {"d1": (0, 0.5), "d6": (3, 1.0)}


@pytest.mark.parametrize("table", ["batches", "quarantine", "runs", "nope"])
def test_tables_that_cannot_be_ingested_are_refused_with_the_choices(memory_store, table):
    with pytest.raises(IngestError, match="choose one of events, items, users"):
        ingest(memory_store, events_frame(["e1"]), table=table)


# --- all or nothing -----------------------------------------------------------------------


@pytest.mark.parametrize("store_kind", ["memory_store", "file_store"])
def test_a_failure_while_writing_rolls_the_whole_batch_back(
    request, monkeypatch, tmp_path, store_kind
):
    store = request.getfixturevalue(store_kind)
    ingest_checked(store, events_frame(["old"]))
    path = write(
        tmp_path / "e.csv",
        csv_text(EVENT_HEADER, ["e1", JAN_1_ISO, "u1", "play"], ["e2", "never", "u1", "play"]),
    )
    real_append = capture._append
    seen = {}

    class FailingBatchesInsert:
        """The connection, except that logging the batch fails (after the rows went in)."""

        def __init__(self, raw):
            self.raw = raw

        def execute(self, query, *args):
            if "main.batches" in query:
                seen["events during the transaction"] = self.raw.execute(
                    "SELECT count(*) FROM wb.main.events"
                ).fetchone()[0]
                raise RuntimeError("disk full")
            return self.raw.execute(query, *args)

    def failing_append(raw, spec, plan, report):
        real_append(FailingBatchesInsert(raw), spec, plan, report)

    before = store.count_rows()
    monkeypatch.setattr(capture, "_append", failing_append)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(store, path)
    assert seen == {"events during the transaction": 2}  # the failure came after the insert
    assert store.count_rows() == before
    monkeypatch.undo()

    report = ingest_checked(store, path)  # not "already ingested": nothing of it was kept
    assert (report.status, report.accepted, report.quarantined) == ("committed", 1, 1)


# --- property: messy rows always reconcile ------------------------------------------------

GOOD_TIMES = {
    "2026-01-01T00:00:00Z": JAN_1,
    "2026-01-01 10:00:00+02:00": datetime(2026, 1, 1, 8),
    str(JAN_1_EPOCH): JAN_1,
    " 2026-03-01T12:30:00 ": datetime(2026, 3, 1, 12, 30),
}
BAD_TIMES = ["yesterday", "2999-01-01", "1900-01-01", str(JAN_1_EPOCH * 1000), "2026-02-30"]
VALUE_TEXTS = {" 2.5 ": 2.5, "1e3": 1000.0}
BAD_VALUES = ["abc", "1,5"]
AWKWARD = [
    "",
    " ",
    ",",
    '"',
    'a,"b"',
    "line\nbreak",
    "cr\rlf\r\n",
    "é",
    "日本語",
    "\u2028",
    "\x85",
    "\x00",
    "x" * 1100,
]

MESSY_COLUMNS = ("event_id", "ts", "user_id", "event_type", "value", "note")
messy_text = st.one_of(st.text(max_size=12), st.sampled_from(AWKWARD))
clean_text = st.text(min_size=1, max_size=12).filter(lambda text: "\x00" not in text)
good_value = st.one_of(
    st.none(),
    st.floats(-1e12, 1e12),
    st.integers(-(10**6), 10**6),
    st.sampled_from(list(VALUE_TEXTS)),
)
any_note = st.one_of(st.none(), st.integers(), messy_text)
clean_row = st.fixed_dictionaries(
    {
        "event_id": st.one_of(st.sampled_from(["e1", "e2", "e3"]), clean_text),
        "ts": st.sampled_from(list(GOOD_TIMES)),
        "user_id": st.one_of(st.sampled_from(["u1", "u2", *AWKWARD[1:11]]), clean_text),
        "event_type": st.sampled_from(["play", "skip"]),
        "value": good_value,
        "note": any_note,
    }
)
messy_row = st.fixed_dictionaries(
    {
        "event_id": st.one_of(
            st.sampled_from(["e1", "e2", "e3", ""]), st.none(), st.text(max_size=4)
        ),
        "ts": st.one_of(st.none(), st.sampled_from([*GOOD_TIMES, *BAD_TIMES, ""])),
        "user_id": st.one_of(st.none(), messy_text),
        "event_type": st.one_of(st.none(), st.sampled_from(["play", "skip"]), messy_text),
        "value": st.one_of(good_value, st.sampled_from([*BAD_VALUES, math.inf, math.nan, ""])),
        "note": any_note,
    }
)
messy_rows = st.lists(st.one_of(clean_row, messy_row), min_size=1, max_size=12)


def _present(text) -> bool:
    return isinstance(text, str) and text != ""


def _must_be_quarantined(row: dict) -> bool:
    return (
        not all(_present(row[c]) for c in ("event_id", "ts", "user_id", "event_type"))
        or row["ts"] in BAD_TIMES
        or len(row["user_id"]) > 1024
        or len(row["event_type"]) > 1024
        or row["value"] in BAD_VALUES
        or row["value"] == math.inf
        or any(_blank(row.get(c)) for c in ("event_id", "user_id", "item_id", "event_type"))
    )


def _blank(value) -> bool:
    """Text of whitespace only: no id (an empty one counts as missing instead)."""
    return isinstance(value, str) and value != "" and value.strip(" \t\n\r\v\f") == ""


def _must_be_accepted_unless_duplicate(row: dict, as_csv: bool) -> bool:
    texts = [v for v in row.values() if isinstance(v, str)]
    value = row["value"]
    return (
        not _must_be_quarantined(row)
        and row["ts"] in GOOD_TIMES
        and (
            value is None
            or value in VALUE_TEXTS
            or (not isinstance(value, str) and math.isfinite(value))
        )
        and not (as_csv and any("\x00" in t for t in texts))
    )


def _same_number(stored_value, given) -> bool:
    if given is None or given == "" or (isinstance(given, float) and math.isnan(given)):
        return stored_value is None
    if isinstance(given, str):
        return stored_value == VALUE_TEXTS[given]
    return stored_value == float(given)


def _same_note(stored_note, given, as_csv: bool) -> bool:
    """An extra column's value as kept in context: CSV has only text, pandas may widen ints."""
    if as_csv:
        return stored_note == (None if given in (None, "") else str(given))
    if isinstance(given, int):
        # pandas makes a column of ints and None float64, and of ints and text, text.
        return stored_note in (given, float(given), str(given))
    return stored_note == given


def _csv_row(row: dict) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([row[name] for name in MESSY_COLUMNS])  # "\r\n" line ends
    return buffer.getvalue()


@pytest.mark.parametrize("as_csv", [False, True], ids=["dataframe", "csv"])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy=messy_rows)
def test_messy_rows_always_reconcile_and_accepted_values_are_unaltered(
    tmp_path_factory, as_csv, messy
):
    store = Store.open("duckdb://:memory:")
    if as_csv:
        lines = [_csv_row(row) for row in messy]
        path = tmp_path_factory.mktemp("messy") / "messy.csv"
        header = _csv_row({name: name for name in MESSY_COLUMNS})
        path.write_text(header + "".join(lines), encoding="utf-8", newline="")
        report = ingest_checked(store, path)
    else:
        report = ingest_checked(store, pd.DataFrame(messy, columns=MESSY_COLUMNS))

    assert report.rows_in == len(messy)
    parked = {q["row_number"]: q for q in quarantined(store, report)}
    for number, row in enumerate(messy, start=1):
        if _must_be_quarantined(row):
            assert number in parked, row
        if number in parked:
            assert not _must_be_accepted_unless_duplicate(row, as_csv), parked[number]["reason"]
            raw = parked[number]["raw"]
            if as_csv:
                assert raw == lines[number - 1][: -len("\r\n")]  # the original text
            else:
                assert json.loads(raw)["user_id"] == row["user_id"]

    # The rows left over are stored once per id (the first of each); the rest are duplicates.
    first_of_id: dict[str, dict] = {}
    repeats = 0
    for number, row in enumerate(messy, start=1):
        if number in parked:
            continue
        if row["event_id"] in first_of_id:
            repeats += 1
        else:
            first_of_id[row["event_id"]] = row
    assert report.duplicates == repeats
    kept = stored_by_id(store, report)
    assert kept.keys() == first_of_id.keys()
    for event_id, row in first_of_id.items():
        event = kept[event_id]
        assert (event["user_id"], event["event_type"]) == (row["user_id"], row["event_type"])
        assert event["ts"] == GOOD_TIMES[row["ts"]]
        assert _same_number(event["value"], row["value"]), (event["value"], row["value"])
        note = json.loads(event["context"])["note"]
        assert _same_note(note, row["note"], as_csv), (note, row["note"])


def test_rule_messages_quote_the_value_as_given(memory_store):
    labels = pd.DataFrame({"target": ["a", "b"], "label": ["2", "1"], "source": "human"})
    report = ingest_checked(memory_store, labels, table="labels")
    assert report.accepted == 1
    reason = memory_store.sql("SELECT reason FROM quarantine").column("reason").to_pylist()
    assert reason == ["label '2' must be 1 (anomalous) or 0 (normal)"]


def test_empty_text_in_a_number_column_is_a_missing_value(memory_store):
    rows = pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "ts": ["2026-01-01T00:00:00Z"] * 2,
            "user_id": ["u1", "u2"],
            "event_type": "play",
            "value": ["", "2.5"],
        }
    )
    report = ingest_checked(memory_store, rows)
    assert report.accepted == 2
    values = memory_store.sql("SELECT event_id, value FROM events ORDER BY event_id").to_pylist()
    assert values == [{"event_id": "e1", "value": None}, {"event_id": "e2", "value": 2.5}]


def test_objects_in_a_mixed_column_are_kept_as_json(memory_store):
    rows = pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "ts": ["2026-01-01T00:00:00Z"] * 2,
            "user_id": ["u1", "u2"],
            "event_type": "play",
            "context": [{"device": "tv"}, '{"device": "web"}'],
        }
    )
    report = ingest_checked(memory_store, rows)
    assert report.accepted == 2
    contexts = memory_store.sql("SELECT context->>'device' AS d FROM events ORDER BY event_id")
    assert contexts.column("d").to_pylist() == ["tv", "web"]
