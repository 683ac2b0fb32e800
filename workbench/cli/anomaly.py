"""Commands about anomalies: scan every series, investigate one, and the labeling loop."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from workbench.cli._common import (
    App,
    JsonOption,
    StoreOption,
    open_store,
    print_json,
    print_summary,
)
from workbench.tables import json_records

app = App(
    help="Anomaly detection: broad scans, deep dives, and the labeling loop.",
    no_args_is_help=True,
)

DetectorOption = Annotated[
    str,
    typer.Option(
        help="auto (supervised once labels allow, else counts for small counts and "
        "seasonal for the rest, per series), seasonal, gaussian, counts (series of "
        "whole-number counts), window_iforest or supervised."
    ),
]


@app.command()
def scan(
    detector: DetectorOption = "auto",
    since: Annotated[
        str | None,
        typer.Option(
            help="Score points from this UTC time, or for this span before --until (7d); "
            "default: the last day."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Score points before this UTC time (default: all).")
    ] = None,
    threshold: Annotated[
        str,
        typer.Option(
            help="Alert budget ALERTS/PERIOD per series (1/1d), widened to N of a series' "
            "points with 'or N points', or fpr:RATE."
        ),
    ] = "1/1d or 24 points",
    history: Annotated[
        str | None,
        typer.Option(
            help="Data before --since to fit on (default: 14 days, or 60 points and three "
            "cycles of a slower series)."
        ),
    ] = None,
    time_budget: Annotated[
        float, typer.Option(help="Seconds to spend; series not reached are listed as skipped.")
    ] = 60.0,
    series: Annotated[
        list[str] | None, typer.Option("--series", help="Only this series (repeatable).")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="Only the series of this \\[scopes.NAME] of workbench.toml (prefixes)."),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Scan every series for anomalies and write the alerts (and a scans record)."""
    from workbench.anomaly.scans import scan as run_scan

    report = run_scan(
        open_store(store),
        detector,
        since=since,
        until=until,
        threshold=threshold,
        history=history,
        time_budget=time_budget,
        series=series or None,
        scope=scope,
    )
    if json_output:
        print_json(report.to_dict())
        return
    print_summary(report.summary())
    typer.echo(f"Detector: {report.detector_reason}.")
    for name, choice in list(report.detectors.items())[:20]:
        typer.echo(f"  {name}: {choice}")
    if len(report.detectors) > 20:
        typer.echo(f"  ... and {len(report.detectors) - 20:,} more (--json lists every one)")
    if report.series_skipped:
        typer.echo(
            "Skipped (they go first next scan): "
            + ", ".join(report.series_skipped[:20])
            + (" ..." if len(report.series_skipped) > 20 else "")
        )
    for row in report.alerts.itertuples():
        typer.echo(
            f"  {row.series_id} {row.ts:%Y-%m-%d %H:%M}  score {row.score:.2f}  {row.reason}"
        )


@app.command()
def investigate(
    series_id: Annotated[str, typer.Argument(help="The series to look at.")],
    around: Annotated[
        str | None,
        typer.Option(help="UTC time to look around (default: its latest incident, else its end)."),
    ] = None,
    window: Annotated[str, typer.Option(help="How far on each side of --around.")] = "3d",
    detector: Annotated[str, typer.Option(help="Series detector for the band.")] = "seasonal",
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Look at one series around one moment: band, neighbours, similar incidents, features."""
    from workbench.anomaly.investigation import investigate as run_investigation

    found = run_investigation(
        open_store(store), series_id, around=around, window=window, detector=detector
    )
    if json_output:
        print_json(found.to_dict())
        return
    print_summary(found.summary())


@app.command()
def queue(
    size: Annotated[int, typer.Option(min=1, help="How many points to list.")] = 20,
    detector: DetectorOption = "auto",
    strategy: Annotated[str, typer.Option(help="uncertainty or random.")] = "uncertainty",
    since: Annotated[str | None, typer.Option(help="Only points from this UTC time.")] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the points to label next, most useful first (disagreements first)."""
    from workbench.anomaly.labeling import labeling_queue

    table = labeling_queue(
        open_store(store), size=size, detector=detector, strategy=strategy, since=since
    )
    records = json_records(table)
    if json_output:
        print_json(records)
        return
    if not records:
        typer.echo("Nothing to label: every scored point is settled.")
    for row in records:
        span = (
            f"  (whole span: {row['span_target']})"
            if row.get("span_target") and row["span_target"] != row["target"]
            else ""
        )
        typer.echo(f"{row['target']}  value {_number(row['value'])}  {row['why']}{span}")


@app.command("label")
def label_command(
    target: Annotated[
        str,
        typer.Argument(
            help="series_id@ISO-time (from `queue`), series_id@START/END for a span "
            "(both included), or an event id."
        ),
    ],
    label: Annotated[str, typer.Argument(help="1 anomalous, 0 normal.")],
    source: Annotated[str, typer.Option("--source", help="Who is labelling.")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Record a label through the capture path (a bad one is quarantined and reported)."""
    from workbench.anomaly.labeling import label as write_label

    # Passed on as typed: the capture path judges it, so "2" or "yes" is quarantined
    # with its reason instead of being coerced here.
    value: int | str = int(label) if label.strip().lstrip("-").isdigit() else label
    opened = open_store(store)
    report = write_label(opened, target, value, source=source)
    if json_output:
        print_json(report.to_dict())
        return
    typer.echo(
        f"Recorded {target} = {value} by {source} (batch {report.batch_id})"
        f"{_coverage(opened, report.batch_id)}."
    )


def _coverage(store, batch_id: str) -> str:
    """How many observed points a series label covers, so a typo'd series or time shows."""
    row = store.sql(
        "SELECT l.series_id, count(o.ts) AS points FROM labels l LEFT JOIN observations o "
        "ON o.series_id = l.series_id AND o.ts BETWEEN l.ts AND coalesce(l.ts_end, l.ts) "
        "WHERE l.batch_id = ? GROUP BY l.series_id",
        [batch_id],
    ).to_pylist()
    if not row or row[0]["series_id"] is None:
        return ""
    points = row[0]["points"]
    if points == 0:
        return f"; it covers no observed point of {row[0]['series_id']} (yet)"
    return f"; it covers {points:,} observed point{'' if points == 1 else 's'}"


@app.command()
def labels(
    store: StoreOption = None,
    json_output: JsonOption = False,
    export: Annotated[
        str | None,
        typer.Option(
            help="Write every label (each labeler's every vote) to this CSV file; "
            "`workbench ingest FILE --table labels` reads it back elsewhere."
        ),
    ] = None,
) -> None:
    """Show the reconciled labels (majority of each source's latest) and the agreement rate."""
    from workbench.anomaly.labeling import agreement_rate, export_labels, reconcile

    opened = open_store(store)
    if export is not None:
        written = export_labels(opened, export)
        if json_output:
            print_json({"exported": written, "path": export})
        else:
            typer.echo(
                f"Wrote {written:,} labels to {export}; read them into another store with "
                f"`workbench ingest {export} --table labels`."
            )
        return
    table = reconcile(opened)
    rate = agreement_rate(opened)
    if json_output:
        print_json(
            {
                "agreement_rate": None if math.isnan(rate) else rate,
                "targets": len(table),
                "settled": int(table["settled"].sum()),
                "labels": json_records(table),
            }
        )
        return
    if table.empty:
        typer.echo("No labels yet: see `workbench anomaly queue` and `workbench anomaly label`.")
        return
    shown = "n/a (no target has two labelers)" if math.isnan(rate) else f"{rate:.1%}"
    typer.echo(
        f"{len(table):,} labelled targets, {int(table['settled'].sum()):,} settled; "
        f"agreement rate between labelers {shown}."
    )
    for row in json_records(table):
        verdict = "tie" if row["label"] is None else int(row["label"])
        state = "settled" if row["settled"] else "back in the queue"
        typer.echo(
            f"  {row['target']}: {verdict} ({row['positives']}/{row['votes']} say anomalous, "
            f"agreement {row['agreement']:.0%}, {state}; {row['sources']})"
        )


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"
