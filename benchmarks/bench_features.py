"""Point-in-time training set: `workbench.features.training_set` against two references.

Data: 10M feature rows (100k entities, 100 snapshots each) and 1M label rows in one
store file. Each method builds the same training set (every label gets the latest
feature row with feature_ts <= label ts, within a 30-day TTL) and writes it to an
Arrow table in memory:

- workbench: ``training_set(store.table("labels_bench"), store.table("features_bench"))``,
  which uses DuckDB's ASOF join, and the same call with ``method="portable"`` (the plan
  PySpark runs), for scale;
- hand-written SQL: DuckDB's ``ASOF LEFT JOIN`` of the same semantics;
- pandas: load both tables from the store, sort, ``pandas.merge_asof`` (the path a
  scientist would write in a notebook).

Each method runs in its own fresh process so peak memory (max RSS) is its own;
medians of ``--repeat`` runs. Run with ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
from common import write_section

SECTION = "## Point-in-time training set (`benchmarks/bench_features.py`)"
TTL_DAYS = 30
GOAL_VS_SQL = 1.3
GOAL_VS_PANDAS = 3.0


def make_tables(
    entities: int, snapshots: int, labels: int, seed: int = 0
) -> tuple[pa.Table, pa.Table]:
    """Feature snapshots (entity, feature_ts, 4 features) and labels (entity, ts, label)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00:00", "us")
    day = np.timedelta64(86_400_000_000, "us")
    entity_ids = np.char.add("u", np.arange(entities).astype(str))
    # Snapshots on distinct days per entity (a day grid with random gaps), unique per key.
    offsets = np.sort(rng.choice(3 * snapshots, size=(entities, snapshots), replace=True), axis=1)
    offsets = np.maximum.accumulate(offsets + np.arange(snapshots), axis=1)
    features = pa.table(
        {
            "user_id": pa.array(np.repeat(entity_ids, snapshots)),
            "feature_ts": pa.array((start + offsets.ravel() * day).astype("datetime64[us]")),
            "events_7d": rng.poisson(5, entities * snapshots).astype("float64"),
            "events_30d": rng.poisson(20, entities * snapshots).astype("float64"),
            "distinct_items_30d": rng.poisson(8, entities * snapshots).astype("float64"),
            "days_since_last": rng.exponential(2.0, entities * snapshots),
        }
    )
    label_offsets = rng.integers(0, 4 * snapshots * 86_400, labels).astype("timedelta64[s]")
    label_table = pa.table(
        {
            "user_id": pa.array(entity_ids[rng.integers(0, entities, labels)]),
            "ts": pa.array((start + label_offsets).astype("datetime64[us]")),
            "label": rng.integers(0, 2, labels).astype("int8"),
        }
    )
    return features, label_table


METHODS = {
    "workbench": """
from workbench.features import training_set
from workbench.store import Store
store = Store.open(URL)
expr = training_set(store.table("labels_bench"), store.table("features_bench"),
                    ttl=TTL, entity="user_id")
result = expr.to_pyarrow()
""",
    "workbench, portable plan": """
from workbench.features import training_set
from workbench.store import Store
store = Store.open(URL)
expr = training_set(store.table("labels_bench"), store.table("features_bench"),
                    ttl=TTL, entity="user_id", method="portable")
result = expr.to_pyarrow()
""",
    "sql": """
import duckdb
con = duckdb.connect(PATH, read_only=True)
within = f"l.ts - f.feature_ts <= INTERVAL {TTL} DAY"
columns = ["feature_ts", "events_7d", "events_30d", "distinct_items_30d", "days_since_last"]
picked = ", ".join(f"CASE WHEN {within} THEN f.{c} END AS {c}" for c in columns)
result = con.execute(
    f"SELECT l.user_id, l.ts, l.label, {picked} "
    "FROM labels_bench l ASOF LEFT JOIN features_bench f "
    "ON l.user_id = f.user_id AND l.ts >= f.feature_ts"
).to_arrow_table()
""",
    "pandas": """
import duckdb, pandas as pd
con = duckdb.connect(PATH, read_only=True)
features = con.execute("SELECT * FROM features_bench").df().sort_values("feature_ts")
labels = con.execute("SELECT * FROM labels_bench").df().sort_values("ts")
merged = pd.merge_asof(labels, features, left_on="ts", right_on="feature_ts", by="user_id",
                       tolerance=pd.Timedelta(days=TTL), direction="backward")
result = pa.Table.from_pandas(merged)
""",
}

RUNNER = """
import json, sys, time
import ibis, pyarrow as pa
# Imports are not what is measured: load every method's libraries before the clock starts.
import duckdb, pandas, workbench.features, workbench.store
PATH, URL, TTL = sys.argv[1], "duckdb://" + sys.argv[1], int(sys.argv[2])
started = time.perf_counter()
{body}
seconds = time.perf_counter() - started
import pyarrow.compute as pc
# VmHWM, not ru_maxrss: that one survives exec and would report the parent's peak.
peak_mib = [int(line.split()[1]) / 1024 for line in open("/proc/self/status")
            if line.startswith("VmHWM:")][0]
matched = result["events_30d"]
checksum = [pc.count(matched).as_py(), round(pc.sum(matched).as_py() or 0.0, 6)]
print(json.dumps({{"seconds": seconds, "rows": result.num_rows, "checksum": checksum,
                   "peak_mib": peak_mib}}))
"""


def run_method(name: str, database: Path) -> dict:
    """Run one method in a fresh interpreter; returns seconds, rows and peak memory."""
    done = subprocess.run(
        [sys.executable, "-c", RUNNER.format(body=METHODS[name]), str(database), str(TTL_DAYS)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    # DuckDB may draw a progress bar on stdout before the result line.
    return json.loads(done.stdout[done.stdout.rindex('{"seconds"') :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=100)
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()

    from workbench.store import Store

    with tempfile.TemporaryDirectory(prefix="bench-features-") as folder:
        database = Path(folder) / "store.duckdb"
        features, labels = make_tables(args.entities, args.snapshots, args.labels)
        store = Store.open(f"duckdb://{database}")
        with store.writing() as raw:
            raw.register("features_arrow", features)
            raw.register("labels_arrow", labels)
            raw.execute("CREATE TABLE features_bench AS SELECT * FROM features_arrow")
            raw.execute("CREATE TABLE labels_bench AS SELECT * FROM labels_arrow")
            raw.unregister("features_arrow")
            raw.unregister("labels_arrow")
        del store
        runs: dict[str, list[dict]] = {name: [] for name in METHODS}
        for attempt in range(args.repeat):
            for name in METHODS:
                runs[name].append(run_method(name, database))
            print(
                f"run {attempt + 1}: "
                + ", ".join(f"{n} {r[-1]['seconds']:.2f}s" for n, r in runs.items())
            )

    # Same rows, same matches, same values: otherwise the timings compare different work.
    answers = {
        name: {(r["rows"], tuple(r["checksum"])) for r in results} for name, results in runs.items()
    }
    if len({frozenset(v) for v in answers.values()}) != 1:
        raise SystemExit(f"methods disagree (rows, matched labels, sum of events_30d): {answers}")
    seconds = {n: statistics.median(r["seconds"] for r in results) for n, results in runs.items()}
    memory = {n: max(r["peak_mib"] for r in results) for n, results in runs.items()}
    vs_sql = seconds["workbench"] / seconds["sql"]
    vs_pandas = seconds["pandas"] / seconds["workbench"]
    table = "\n".join(
        [
            f"| {args.entities * args.snapshots:,} feature rows, {args.labels:,} labels, "
            f"{args.entities:,} entities (median of {args.repeat}) | seconds | peak memory (MiB) |",
            "|---|---|---|",
            *(f"| {name} | {seconds[name]:.2f} | {memory[name]:,.0f} |" for name in METHODS),
        ]
    )
    met = vs_sql <= GOAL_VS_SQL and vs_pandas >= GOAL_VS_PANDAS
    goal = (
        f"workbench / hand-written ASOF JOIN = {vs_sql:.2f} (goal <= {GOAL_VS_SQL}); "
        f"pandas / workbench = {vs_pandas:.2f} (goal >= {GOAL_VS_PANDAS}): {'met' if met else 'not met'}."
    )
    print()
    print(table)
    print(goal)
    if not args.no_write:
        write_section(SECTION, table, goal)


if __name__ == "__main__":
    main()
