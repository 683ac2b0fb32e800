"""Commands about notebook runs: ``run``, ``runs list|show``, ``schedule list|tick|run``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from workbench.cli._common import App, JsonOption, StoreOption, open_store, print_json

ReportsOption = Annotated[
    str | None,
    typer.Option(
        "--reports",
        help="Folder for run folders and index.html (default: \\[reports] dir, else reports).",
        show_default=False,
    ),
]

runs_app = App(help="List and inspect notebook runs.", no_args_is_help=True)
schedule_app = App(
    help="Run the jobs of workbench.toml on their cron schedules.", no_args_is_help=True
)


def run(
    target: Annotated[
        str, typer.Argument(help="A job in workbench.toml, or the path of a notebook (.ipynb).")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="KEY=VALUE for the notebook's parameters cell; repeat. Values keep their "
            "type: 10 is an int, 0.5 a float, true a bool, null None, '10' text.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Run even if an identical run is up to date.", metavar=""),
    ] = False,
    reports: ReportsOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a notebook with papermill: record the run, render its report, update the index.

    A run whose notebook, parameters and input data match an earlier successful run
    is skipped (and says so). A failed run keeps its output notebook and report and
    exits with status 1.
    """
    from workbench.exceptions import RunFailed
    from workbench.runs import describe, get_run, parse_parameters, resolve_job, run_job

    parameters = parse_parameters(param or [])
    job = resolve_job(target)
    opened = open_store(store)
    try:
        finished = run_job(
            job,
            parameters=parameters,
            store=opened,
            force=force,
            reports=reports,
            progress=sys.stderr.isatty() and not json_output,
        )
    except RunFailed as failed:
        if json_output:
            print_json(get_run(opened, failed.run_id).to_dict())
        raise
    if json_output:
        print_json(finished.to_dict())
        return
    typer.echo(describe(finished))


@runs_app.command("list")
def list_command(
    job: Annotated[str | None, typer.Option(help="Only this job's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 20,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """List runs, newest first."""
    from workbench.runs import list_runs

    runs = list_runs(open_store(store), job=job, limit=limit)
    if json_output:
        print_json([run.to_dict() for run in runs])
        return
    if not runs:
        typer.echo("No runs yet: `workbench run JOB` starts one.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "job", "status", "started (UTC)", "seconds", "report", title="Runs")
    for run in runs:
        seconds = run.duration_seconds
        table.add_row(
            run.run_id,
            run.job,
            run.status,
            run.started_at[:19].replace("T", " "),
            "" if seconds is None else f"{seconds:.1f}",
            run.report_path or "",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@runs_app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(help="The run's id (see `workbench runs list`).")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one run: parameters, status, times, paths, error and recorded results."""
    import json

    from workbench.runs import get_run

    run = get_run(open_store(store), run_id)
    if json_output:
        print_json(run.to_dict())
        return
    seconds = run.duration_seconds
    lines = [
        f"run       {run.run_id} ({run.trigger})",
        f"job       {run.job} ({run.notebook})",
        f"status    {run.status}",
        f"started   {run.started_at} UTC" + ("" if seconds is None else f", took {seconds:.1f} s"),
        f"params    {json.dumps(run.params, sort_keys=True)}",
        f"output    {run.output_path}",
        f"report    {run.report_path}",
    ]
    if run.error:
        lines.append(f"error     {run.error}")
    lines.append("results")
    lines.extend(
        f"  {name}: {json.dumps(value, sort_keys=True)}" for name, value in run.results.items()
    )
    typer.echo("\n".join(lines))


NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="The time to treat as now (ISO, UTC unless it has an offset), e.g. to replay "
        "a missed night or drive a simulated clock; default the clock's.",
        show_default=False,
    ),
]


def _now(value: str | None):
    """``--now`` as an aware UTC datetime, or None for the clock's time."""
    from datetime import UTC

    from workbench.arguments import parse_time

    moment = parse_time(value, name="--now")
    return None if moment is None else moment.replace(tzinfo=UTC)


@schedule_app.command("list")
def schedule_list(now: NowOption = None, json_output: JsonOption = False) -> None:
    """List the scheduled jobs: cron, last slot handled, whether due now, next slot."""
    from workbench.runs import schedule_status

    listed = schedule_status(now=_now(now))
    if json_output:
        print_json([entry.to_dict() for entry in listed])
        return
    if not listed:
        typer.echo('No scheduled jobs: add schedule = "CRON" to a [jobs.NAME] in workbench.toml.')
    for entry in listed:
        due = f"due (slot {entry.due_slot})" if entry.due_slot else f"next {entry.next_slot}"
        last = (
            f"last {entry.last_slot} {entry.last_outcome} ({entry.last_run})"
            if entry.last_slot
            else "no scheduled run yet"
        )
        typer.echo(f"{entry.job:<24} {entry.schedule:<16} {due}; {last}")


@schedule_app.command("tick")
def schedule_tick(
    now: NowOption = None,
    reports: ReportsOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run every job that is due, once (for cron or a systemd timer); exit 1 if one failed."""
    from workbench.runs import tick
    from workbench.runs.jobs import load_jobs

    jobs = load_jobs()  # a mistake in workbench.toml is reported before the store is opened
    moment = _now(now)
    outcomes = tick(
        store=open_store(store),
        now=moment,
        jobs=jobs,
        reports=reports,
        on_start=_say_starting(json_output),
    )
    if json_output:
        print_json([outcome.to_dict() for outcome in outcomes])
    else:
        for outcome in outcomes:
            typer.echo(outcome.message)
        if not outcomes:
            typer.echo("Nothing is due.")
    if any(outcome.action == "failed" for outcome in outcomes):
        raise typer.Exit(1)


@schedule_app.command("run")
def schedule_run(reports: ReportsOption = None, store: StoreOption = None) -> None:
    """Tick in a loop, sleeping until the next slot; stop with Ctrl-C."""
    from workbench.runs import run_schedule

    typer.echo("Running schedules from workbench.toml (Ctrl-C stops).")
    try:
        run_schedule(
            store=store,
            reports=reports,
            on_start=_say_starting(False),
            on_outcome=lambda outcome: typer.echo(outcome.message),
        )
    except KeyboardInterrupt:
        typer.echo("Stopped.")


def _say_starting(quiet: bool):
    def say(job, slot: str) -> None:
        if not quiet:
            typer.echo(f"{job.name}: due for {slot}, running {job.notebook} ...", err=True)

    return say
