"""The simulate command: turn the loop over simulated days, on a store of its own."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from workbench.cli._common import JsonOption, open_store, print_json

# A store of its own: the simulation writes a world, events, deliveries and versions.
DEFAULT_STORE = "duckdb://data/village.duckdb"


def simulate(
    days: Annotated[int, typer.Option(min=1, help="Simulated days.")] = 7,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same days.")] = 0,
    users: Annotated[int, typer.Option(min=1, help="Listeners in the world.")] = 500,
    items: Annotated[int, typer.Option(min=1, help="Tracks in the world.")] = 1000,
    visit_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of the listeners who visit each day, (0, 1]."),
    ] = 0.3,
    k: Annotated[int, typer.Option(min=1, help="Items per slate.")] = 10,
    epsilon: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Exploration rate of the policy.")
    ] = 0.1,
    recommender: Annotated[
        str,
        typer.Option(
            help="Recommender retrained every day: popularity, itemknn, rp3beta, ease, als, bpr."
        ),
    ] = "itemknn",
    incident_day: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Plant an incident that day: the stored lists fail for half the visitors.",
        ),
    ] = None,
    test_day: Annotated[
        int | None,
        typer.Option(
            min=2,
            help="From that day, A/B-test a greedy challenger, first judged off-policy.",
        ),
    ] = None,
    new_users: Annotated[
        int, typer.Option(min=0, help="New listeners arriving each day (cold start).")
    ] = 0,
    new_items: Annotated[
        int, typer.Option(min=0, help="New tracks released each day (shown by exploration).")
    ] = 0,
    schedule: Annotated[
        list[str] | None,
        typer.Option(
            "--schedule",
            help="JOB=CRON: move one of the day's jobs (scan, train, precompute); repeat.",
            show_default=False,
        ),
    ] = None,
    delivery: Annotated[
        str,
        typer.Option(
            help="stored: the stored lists, answers shipped nightly; blended: answers "
            "shipped hourly and blended in as the HTTP service does."
        ),
    ] = "stored",
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help=f"An empty store for the simulation (default {DEFAULT_STORE}, beside the demo's).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Simulate days of the loop: deliver, capture feedback, retrain, gate, redeploy."""
    from workbench.config import in_project
    from workbench.simulate import day_schedule
    from workbench.simulate import simulate as run_days

    crons = {}
    for entry in schedule or []:
        job, equals, cron = entry.partition("=")
        if not equals or not job.strip():
            raise typer.BadParameter(
                f"{entry!r} must be JOB=CRON, e.g. --schedule 'train=0 3 * * *'.",
                param_hint="--schedule",
            )
        crons[job.strip()] = cron.strip()
    day_schedule(crons)  # refused before a store is created for it
    url = store or f"duckdb://{in_project(DEFAULT_STORE.removeprefix('duckdb://'))}"
    opened = open_store(url, create=True)
    run = run_days(
        opened,
        days=days,
        seed=seed,
        users=users,
        items=items,
        visit_rate=visit_rate,
        k=k,
        epsilon=epsilon,
        recommender=recommender,
        incident_day=incident_day,
        test_day=test_day,
        delivery=delivery,
        new_users=new_users,
        new_items=new_items,
        schedule=crons or None,
    )
    if json_output:
        print_json(run.to_dict())
        return
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.table import Table

    table = Table(
        "day",
        "visitors",
        "CTR (expected)",
        "oracle",
        "popularity",
        "champion",
        "promoted",
        "fallback",
        "new users / items",
        "KPI alerts",
        "shown = logged",
        "answers = captured + quarantined",
        title=f"The loop on {opened.location}",
    )
    for day in run.days:
        table.add_row(
            f"{day.day} ({day.date})",
            f"{day.visitors:,}",
            f"{day.expected_ctr:.3f}",
            f"{day.oracle_ctr:.3f}",
            f"{day.popularity_ctr:.3f}",
            day.champion_version or "-",
            "yes" if day.promoted else "no",
            f"{day.fallback_share:.0%}" + (" (incident)" if day.incident else ""),
            f"{day.new_users:,} / {day.new_items:,}",
            f"{day.kpi_alerts}",
            f"{day.items_shown:,} = {day.deliveries_logged:,}"
            if day.items_shown == day.deliveries_logged
            else f"{day.items_shown:,} != {day.deliveries_logged:,}",
            f"{day.responses:,} = {day.events_captured:,} + {day.quarantined:,}",
        )
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    # The same answers, in the same words, as the loop report.
    console.print(Markdown(run.describe()))
