"""Commands about data: create the store, ingest files, generate data sets, inspect."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from workbench.cli._common import JsonOption, StoreOption, open_store, parse_mapping, print_json
from workbench.exceptions import WorkbenchError

GENERATE_OPTIONS = {
    "music": {"users", "items", "days", "seed", "genres"},
    "ads": {"users", "creatives", "days", "seed", "base_ctr", "lift", "srm"},
    "metrics": {"series", "days", "seed", "freq_minutes", "anomaly_rate"},
}


def init(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """Create the store (and a workbench.toml here if there is none)."""
    from workbench.config import CONFIG_FILE_NAME, DEFAULT_STORE_URL, find_config

    opened = open_store(store, create=True)
    config = Path(CONFIG_FILE_NAME)
    wrote_config = False
    if find_config() is None:  # not inside a project yet: this folder becomes one
        config.write_text(
            "# Village Workbench settings. WORKBENCH_STORE and --store override [store] url.\n"
            "# Paths are relative to this file's folder.\n"
            f'[store]\nurl = "{store or os.environ.get("WORKBENCH_STORE") or DEFAULT_STORE_URL}"\n'
        )
        wrote_config = True
    result = {
        "store": opened.location,
        "schema_version": opened.schema_version(),
        "tables": opened.tables(),
        "config": str(config.resolve()) if wrote_config else None,
    }
    if json_output:
        print_json(result)
        return
    typer.echo(f"Store ready at {result['store']} (schema version {result['schema_version']}).")
    if wrote_config:
        typer.echo(f"Wrote {config}.")


def ingest(
    path: Annotated[
        Path,
        typer.Argument(help="File to ingest: CSV, TSV, Parquet, JSON lines or MovieLens u.data."),
    ],
    table: Annotated[str, typer.Option(help="Table to ingest into.")] = "events",
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv, tsv, parquet, jsonl or movielens (default: from the name)."
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="TABLE_COLUMN=SOURCE_COLUMN; repeat for several columns."),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV/JSON files.")] = "utf-8",
    epoch_unit: Annotated[str, typer.Option(help="Unit of numeric times: s, ms or us.")] = "s",
    source_name: Annotated[
        str | None, typer.Option(help="Name recorded as the batch's source (default: file name).")
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Ingest a file: every row is accepted, quarantined with a reason, or counted as a duplicate."""
    from workbench.capture import ingest as ingest_file
    from workbench.capture import ingestable_spec
    from workbench.capture.staging import resolve_format

    # Mistakes in the command are reported before the store is opened (and so created).
    parsed_mapping = parse_mapping(mapping or [])
    ingestable_spec(table)
    resolve_format(path, format)
    opened = open_store(store, create=True)
    report = ingest_file(
        opened,
        path,
        table=table,
        format=format,
        mapping=parsed_mapping,
        source_name=source_name,
        encoding=encoding,
        epoch_unit=epoch_unit,
        progress=sys.stderr.isatty() and not json_output,
    )
    if json_output:
        print_json(report.to_dict())
        return
    typer.echo(report.summary())
    for reason, count in report.reasons.items():
        typer.echo(f"  quarantined {count:,}: {reason}")
    if report.quarantined:
        typer.echo(f"  see them with: workbench quarantine --batch {report.batch_id}")


def generate(
    kind: Annotated[str, typer.Argument(help="music, ads or metrics.")],
    users: Annotated[int | None, typer.Option(help="Users (music, ads).")] = None,
    items: Annotated[int | None, typer.Option(help="Tracks (music).")] = None,
    days: Annotated[int | None, typer.Option(help="Days of data.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 0,
    genres: Annotated[int | None, typer.Option(help="Genres (music).")] = None,
    creatives: Annotated[int | None, typer.Option(help="Creatives, one per variant (ads).")] = None,
    base_ctr: Annotated[
        float | None, typer.Option(help="Control click-through rate (ads).")
    ] = None,
    lift: Annotated[
        float | None, typer.Option(help="True relative CTR lift of treatments (ads).")
    ] = None,
    srm: Annotated[
        float | None,
        typer.Option(
            help="Share of treatment assignments lost: a planted sample ratio mismatch (ads)."
        ),
    ] = None,
    series: Annotated[int | None, typer.Option(help="Number of series (metrics).")] = None,
    freq_minutes: Annotated[
        int | None, typer.Option(help="Minutes between points (metrics).")
    ] = None,
    anomaly_rate: Annotated[
        float | None, typer.Option(help="Share of anomalous points (metrics).")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="First UTC day (2026-01-01, the default), or 'recent': the data ends yesterday."
        ),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the planted truth (default: truth/KIND.json beside the store)."
        ),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Generate a synthetic data set with planted truth and ingest it."""
    from workbench import datasets
    from workbench.capture import ingest as ingest_table

    if kind not in GENERATE_OPTIONS:
        raise WorkbenchError(f"Unknown kind {kind!r}: choose music, ads or metrics.")
    given = {
        "users": users,
        "items": items,
        "days": days,
        "genres": genres,
        "creatives": creatives,
        "base_ctr": base_ctr,
        "lift": lift,
        "srm": srm,
        "series": series,
        "freq_minutes": freq_minutes,
        "anomaly_rate": anomaly_rate,
    }
    given = {name: value for name, value in given.items() if value is not None}
    wrong = sorted(set(given) - GENERATE_OPTIONS[kind])
    if wrong:

        def flags(names):
            return ", ".join("--" + n.replace("_", "-") for n in sorted(names))

        raise WorkbenchError(
            f"{flags(wrong)}: not an option of {kind}, which takes {flags(GENERATE_OPTIONS[kind])}."
        )
    make = getattr(datasets, f"make_{kind}")
    if start is not None:
        given["start"] = _first_day(start, given.get("days", _default(make, "days")))
    opened = open_store(store, create=True)
    with _status(f"Generating {kind} data", enabled=not json_output):
        dataset = make(seed=seed, **given)
    reports = []
    for table_name, rows in dataset.tables.items():
        with _status(
            f"Ingesting {rows.num_rows:,} rows into {table_name}", enabled=not json_output
        ):
            report = ingest_table(
                opened, rows, table=table_name, source_name=f"generate {kind} seed={seed}"
            )
        reports.append(report)
        if not json_output:
            typer.echo(report.summary())
    truth_path = _write_truth(dataset, opened, truth)
    if json_output:
        print_json({"kind": kind, "truth": truth_path, "batches": [r.to_dict() for r in reports]})
    elif truth_path:
        typer.echo(f"Planted truth written to {truth_path}.")


def _default(function, name: str):
    import inspect

    return inspect.signature(function).parameters[name].default


def _first_day(start: str, days: int) -> str:
    """``start`` as an ISO date; ``recent`` is the day that makes the data end yesterday (UTC)."""
    import datetime as dt

    if start == "recent":
        today = dt.datetime.now(dt.UTC).date()
        return (today - dt.timedelta(days=int(days))).isoformat()
    try:
        return dt.date.fromisoformat(start).isoformat()
    except ValueError as error:
        raise WorkbenchError(
            f"--start {start!r} is not a date: give an ISO date such as 2026-01-01, or 'recent'."
        ) from error


def _write_truth(dataset, opened, truth: Path | None) -> str | None:
    if truth is None:
        if opened.path is None:
            return None
        truth = opened.path.parent / "truth" / f"{dataset.kind}.json"
    truth.parent.mkdir(parents=True, exist_ok=True)
    truth.write_text(json.dumps(dataset.truth, indent=1, sort_keys=True))
    return str(truth)


def _status(message: str, *, enabled: bool):
    from contextlib import nullcontext

    if not enabled or not sys.stderr.isatty():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def truth(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--truth", help="Folder of the planted truth (default: truth/ beside the store)."
        ),
    ] = None,
    model: Annotated[
        str, typer.Option(help="The served model checked against the music truth.")
    ] = "recommender@champion",
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Compare the jobs' answers with the planted truth of generated data; exit 1 if one is wrong."""
    from workbench.planted import check_truth

    report = check_truth(open_store(store), folder, model=model)
    if json_output:
        print_json(report.to_dict())
    else:
        typer.echo("Against the planted truth:")
        typer.echo(report.summary())
    if not report.passed:
        raise typer.Exit(1)


def status(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """Show where the store is, its tables with row counts, and the latest batches."""
    opened = open_store(store)
    counts = opened.count_rows()
    batches = opened.sql(
        "SELECT batch_id, table_name, source, rows_in, accepted, quarantined, duplicates, "
        "finished_at FROM batches ORDER BY finished_at DESC LIMIT 5"
    ).to_pylist()
    result = {
        "store": opened.location,
        "schema_version": opened.schema_version(),
        "tables": counts,
        "latest_batches": batches,
    }
    if json_output:
        print_json(result)
        return
    from rich.console import Console
    from rich.table import Table

    # Piped output gets room for every column rather than the 80 a terminal-less console assumes.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(f"Store: {result['store']} (schema version {result['schema_version']})")
    tables = Table("table", "rows", title="Tables")
    for name, count in counts.items():
        tables.add_row(name, f"{count:,}")
    console.print(tables)
    if batches:
        recent = Table(
            "batch",
            "table",
            "source",
            "in",
            "accepted",
            "quarantined",
            "duplicates",
            "finished",
            title="Latest batches",
        )
        for b in batches:
            recent.add_row(
                b["batch_id"],
                b["table_name"],
                b["source"],
                f"{b['rows_in']:,}",
                f"{b['accepted']:,}",
                f"{b['quarantined']:,}",
                f"{b['duplicates']:,}",
                str(b["finished_at"])[:19],
            )
        console.print(recent)
    else:
        console.print("No batches yet: run `workbench ingest FILE` or `workbench generate music`.")


def quarantine(
    batch: Annotated[str | None, typer.Option(help="Only this batch (default: all).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 20,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show quarantined rows: the original text and why each was not accepted."""
    opened = open_store(store)
    where, params = ("WHERE batch_id = ?", [batch]) if batch else ("", [])
    rows = opened.sql(
        f"SELECT batch_id, table_name, row_number, reason, raw FROM quarantine {where} "
        f"ORDER BY batch_id DESC, row_number LIMIT {int(limit)}",
        params,
    ).to_pylist()
    if json_output:
        print_json(rows)
        return
    if not rows:
        typer.echo("No quarantined rows.")
    for row in rows:
        typer.echo(
            f"{row['batch_id']} {row['table_name']} row {row['row_number']}: {row['reason']}"
        )
        typer.echo(f"    {row['raw'][:200]}")
