"""Ingest throughput: `workbench.ingest` against a raw DuckDB load of the same Parquet file.

The workbench figure includes everything a user gets: staging, per-row validation
with reasons, dedup within the file and against stored events, the append in one
transaction, and the batch record. The reference is DuckDB's own
``INSERT INTO events SELECT * FROM read_parquet(...)`` into a table with the same
columns and no indexes: no validation, no dedup, no accounting. Both write a
fresh store file and are measured in the same run, alternating, median of
``--repeat`` runs.

Run with ``make bench`` (or ``uv run python benchmarks/bench_ingest.py --rows 1000000``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import write_section

from workbench.capture import ingest
from workbench.store import Store

SECTION = "## Ingest (`benchmarks/bench_ingest.py`)"
GOAL_RATIO = 0.5
GOAL_ROWS_PER_SECOND = 1_000_000


def make_events(rows: int, seed: int = 0) -> pa.Table:
    """Events shaped like real feedback: unique ids, 60 days, 100k users, 20k items."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00:00", "us")
    seconds = rng.integers(0, 86_400 * 60, rows).astype("timedelta64[s]")
    devices = np.array(['{"device":"mobile"}', '{"device":"web"}', '{"device":"tv"}'])
    return pa.table(
        {
            "event_id": pa.array(np.char.add("ev-", np.arange(rows).astype(str))),
            "ts": pa.array(start + seconds, pa.timestamp("us", tz="UTC")),
            "user_id": pa.array(np.char.add("u", rng.integers(0, 100_000, rows).astype(str))),
            "item_id": pa.array(np.char.add("i", rng.integers(0, 20_000, rows).astype(str))),
            "event_type": pa.array(rng.choice(["play", "skip", "like"], rows, p=[0.7, 0.2, 0.1])),
            "value": rng.gamma(2.0, 60.0, rows),
            "context": pa.array(devices[rng.integers(0, 3, rows)]),
            "source": pa.array(np.full(rows, "bench")),
        }
    )


def raw_load(parquet: Path, database: Path) -> float:
    """Seconds for DuckDB's own load of the file into a fresh table (the reference)."""
    started = time.perf_counter()
    con = duckdb.connect(str(database))
    con.execute(
        "CREATE TABLE events (event_id VARCHAR, ts TIMESTAMPTZ, user_id VARCHAR, item_id VARCHAR, "
        "event_type VARCHAR, value DOUBLE, context VARCHAR, source VARCHAR)"
    )
    con.execute(f"INSERT INTO events SELECT * FROM read_parquet('{parquet}')")
    con.close()
    return time.perf_counter() - started


def workbench_ingest(
    parquet: Path, database: Path, *, again: Path | None = None
) -> tuple[float, float | None]:
    """Seconds for `ingest` of the file into a fresh store; and of a second copy (all duplicates)."""
    store = Store.open(f"duckdb://{database}")
    started = time.perf_counter()
    first = ingest(store, parquet)
    seconds = time.perf_counter() - started
    assert first.accepted == first.rows_in, first.summary()
    repeat_seconds = None
    if again is not None:
        started = time.perf_counter()
        second = ingest(store, again)
        repeat_seconds = time.perf_counter() - started
        assert second.status == "committed", second.summary()
        assert second.duplicates == second.rows_in, second.summary()
    return seconds, repeat_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        work = Path(folder)
        parquet = work / "events.parquet"
        pq.write_table(make_events(args.rows), parquet)
        # Same rows, different bytes (another compression): not "already ingested", so
        # every row goes through dedup against the stored events.
        again = work / "events-again.parquet"
        pq.write_table(pq.read_table(parquet), again, compression="zstd")
        raw_times, wb_times, dup_times = [], [], []
        for run in range(args.repeat):
            raw_times.append(raw_load(parquet, work / f"raw-{run}.duckdb"))
            seconds, repeat_seconds = workbench_ingest(
                parquet, work / f"wb-{run}.duckdb", again=again
            )
            wb_times.append(seconds)
            dup_times.append(repeat_seconds)
            for leftover in work.glob("*.duckdb*"):
                if leftover.is_file():
                    leftover.unlink()
            print(
                f"run {run + 1}: raw {raw_times[-1]:.2f}s, workbench {seconds:.2f}s, all-duplicate re-ingest {repeat_seconds:.2f}s"
            )

    raw, wb, dup = (statistics.median(t) for t in (raw_times, wb_times, dup_times))
    raw_rate, wb_rate, dup_rate = args.rows / raw, args.rows / wb, args.rows / dup
    ratio = wb_rate / raw_rate
    met = ratio >= GOAL_RATIO and wb_rate >= GOAL_ROWS_PER_SECOND
    table = "\n".join(
        [
            f"| figure ({args.rows:,} events from Parquet, median of {args.repeat}) | workbench | reference (raw DuckDB load) | ratio |",
            "|---|---|---|---|",
            f"| seconds | {wb:.2f} | {raw:.2f} | {raw / wb:.2f} |",
            f"| events/s | {wb_rate:,.0f} | {raw_rate:,.0f} | {ratio:.2f} |",
            f"| events/s, same rows again (all duplicates) | {dup_rate:,.0f} | {raw_rate:,.0f} | {dup_rate / raw_rate:.2f} |",
        ]
    )
    goal = (
        f"Goal: ratio >= {GOAL_RATIO} and >= {GOAL_ROWS_PER_SECOND:,} events/s: "
        f"{'met' if met else 'not met'} (ratio {ratio:.2f}, {wb_rate:,.0f} events/s)."
    )
    print()
    print(table)
    print(goal)
    if not args.no_write:
        write_section(SECTION, table, goal)


if __name__ == "__main__":
    main()
