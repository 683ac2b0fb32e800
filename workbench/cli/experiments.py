"""Commands about experiments: list them, assign units, read one out."""

from __future__ import annotations

from pathlib import Path
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
from workbench.exceptions import WorkbenchError

app = App(help="A/B experiments: assignment and readouts.", no_args_is_help=True)


@app.command("list")
def list_command(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """List experiments: units, variants, first and last assignment."""
    from workbench.experiments import list_experiments

    table = list_experiments(open_store(store))
    records = [{**row, "variants": list(row["variants"])} for row in table.to_dict("records")]
    if json_output:
        print_json(records)
        return
    if not records:
        typer.echo("No experiments yet: assign units with `workbench experiments assign`.")
    for row in records:
        typer.echo(
            f"{row['experiment']}: {row['units']:,} units in {', '.join(row['variants'])}, "
            f"assigned {row['first_assigned']} to {row['last_assigned']} UTC"
        )


@app.command()
def assign(
    experiment: Annotated[str, typer.Argument(help="Experiment name (also the default salt).")],
    variants: Annotated[
        str, typer.Option(help="Comma-separated variant names, control first.")
    ] = "control,treatment",
    weights: Annotated[
        str | None, typer.Option(help="Comma-separated traffic shares (default: equal).")
    ] = None,
    salt: Annotated[str | None, typer.Option(help="Hash salt (default: the name).")] = None,
    units: Annotated[
        Path | None,
        typer.Option(help="Text file with one unit id per line (default: every user in events)."),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Assign units to variants by salted hash and write them to the assignments table."""
    from workbench.experiments import assign as assign_units

    names = [v.strip() for v in variants.split(",")]
    shares = None
    if weights is not None:
        try:
            shares = [float(w) for w in weights.split(",")]
        except ValueError as error:
            raise WorkbenchError(f"--weights {weights!r} must be numbers, e.g. 50,50.") from error
    if units is not None:
        try:
            ids = [line.strip() for line in units.read_text(encoding="utf-8").splitlines()]
        except OSError as error:
            raise WorkbenchError(f"Cannot read units from {units}: {error}") from error
        ids = [unit for unit in ids if unit]
    opened = open_store(store)
    if units is None:
        ids = [r["user_id"] for r in opened.sql("SELECT DISTINCT user_id FROM events").to_pylist()]
    if not ids:
        raise WorkbenchError("No units to assign: pass --units FILE or ingest events first.")
    report = assign_units(
        opened, ids, experiment=experiment, variants=names, weights=shares, salt=salt
    )
    if json_output:
        print_json(report.to_dict())
        return
    typer.echo(report.summary())


@app.command()
def readout(
    experiment: Annotated[str, typer.Argument(help="Experiment name.")],
    metrics: Annotated[
        str,
        typer.Option(
            help="Comma-separated metrics: EVENT_TYPE (conversion), sum:EVENT_TYPE, "
            "count:EVENT_TYPE, ratio:A/B."
        ),
    ] = "click",
    control: Annotated[str | None, typer.Option(help="Control variant (default: first).")] = None,
    alpha: Annotated[float, typer.Option(help="1 - confidence level.")] = 0.05,
    correction: Annotated[str, typer.Option(help="holm, bh or none.")] = "holm",
    cuped: Annotated[
        bool, typer.Option(help="Adjust by the pre-period covariate.", metavar="")
    ] = True,
    covariate: Annotated[
        str | None,
        typer.Option(help="Pre-period measurement for CUPED, e.g. count:impression."),
    ] = None,
    exposure: Annotated[
        str | None,
        typer.Option(help="Only units exposed after assignment: an event type or deliveries."),
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="Count only the events of this \\[scopes.NAME] of workbench.toml."),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Read out an experiment: verdict, lifts with intervals, sample ratio check."""
    from workbench.experiments import readout as read_out

    result = read_out(
        open_store(store),
        experiment,
        metrics,
        control=control,
        alpha=alpha,
        correction=correction,
        cuped=cuped,
        covariate=covariate,
        exposure=exposure,
        sequential=False,
        scope=scope,
    )
    if json_output:
        print_json(result.to_dict())
        return
    print_summary(result.summary())
