"""``workbench models``: list versions, trace lineage, promote behind the gate, roll back."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import typer

from workbench.cli._common import App, JsonOption, StoreOption, open_store, print_json

app = App(
    help="Registered model versions: list, show lineage, promote, roll back.",
    no_args_is_help=True,
)


def _console():
    from rich.console import Console

    # Piped output gets room for every column rather than the 80 a terminal-less console assumes.
    return Console(width=None if sys.stdout.isatty() else 160)


def _version_dict(version) -> dict:
    return {**dataclasses.asdict(version), "ref": version.ref}


@app.command("list")
def list_versions(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """List registered versions with their metrics and aliases."""
    from rich.table import Table

    from workbench.registry import aliases, versions

    opened = open_store(store)
    found = versions(opened, name)
    pointers: dict[tuple[str, int], list[str]] = {}
    for model in sorted({v.name for v in found}):
        for alias, version in aliases(opened, model).items():
            pointers.setdefault((model, version), []).append(alias)
    if json_output:
        print_json(
            [{**_version_dict(v), "aliases": pointers.get((v.name, v.version), [])} for v in found]
        )
        return
    if not found:
        typer.echo("No model versions yet. Register one with workbench.registry.register.")
        return
    table = Table("ref", "aliases", "created (UTC)", "metrics", "holdout", "data digest", "code")
    for v in found:
        metrics = ", ".join(f"{key}={value:.4g}" for key, value in sorted(v.metrics.items()))
        table.add_row(
            v.ref,
            ", ".join(pointers.get((v.name, v.version), [])),
            str(v.created_at)[:19],
            metrics,
            (v.holdout or "-")[:19],
            v.training_digest[:19],
            v.code_version[:16],
        )
    _console().print(table)


@app.command()
def show(
    ref: Annotated[
        str | None,
        typer.Argument(help="NAME@VERSION or NAME@ALIAS (default: the version behind --user)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Start from this user's stored recommendations.")
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Trace the lineage: recommendation rows -> model version -> data digest -> event batches."""
    from workbench.registry import alias_history, lineage

    opened = open_store(store)
    chain = lineage(opened, ref, user_id=user)
    version = chain.version
    history = alias_history(opened, version.name)
    if json_output:
        print_json(
            {
                "recommendations": None
                if chain.recommendations is None
                else chain.recommendations.to_dict(orient="records"),
                "version": _version_dict(version),
                "lists": chain.lists,
                "batches": chain.batches.to_dict(orient="records"),
                "missing_batches": chain.missing_batches,
                "alias_history": [dataclasses.asdict(move) for move in history],
            }
        )
        return
    console = _console()
    if chain.recommendations is not None:
        rows = chain.recommendations
        console.print(
            f"[bold]Recommendations[/] for user {user}: {len(rows)} rows from {version.ref}, "
            f"computed {str(rows['computed_at'].iloc[0])[:19]} UTC: "
            + ", ".join(f"{r.rank}. {r.item_id}" for r in rows.itertuples())
        )
        console.print("  ↓ produced by")
    console.print(
        f"[bold]Model version[/] {version.ref} ({version.signature.get('model_class', '?')}), "
        f"registered {str(version.created_at)[:19]} UTC, code {version.code_version}"
    )
    console.print(f"  params: {version.params}")
    feedback = version.feedback
    console.print(
        f"  scope: {version.scope.describe()}; feedback: "
        + (feedback.describe() if feedback else "(not recorded)"),
        markup=False,
    )
    console.print(f"  metrics on holdout {version.holdout or '(not recorded)'}: {version.metrics}")
    lists = chain.lists
    console.print(
        f"  stored lists: {lists['rows']:,} rows for {lists['users']:,} users"
        + (f", computed {str(lists['computed_at'])[:19]} UTC" if lists["computed_at"] else "")
    )
    training = version.signature.get("training_data", {})
    console.print("  ↓ trained on")
    console.print(
        f"[bold]Training data[/] {version.training_digest}: {training.get('rows', '?'):,} rows, "
        f"columns {', '.join(training.get('columns', {}))}"
    )
    console.print("  ↓ ingested in")
    if not version.batches:
        how = training.get("batches_from", "none")
        console.print(
            "[bold]Batches[/]: none recorded "
            + (
                "(the training rows carried no batch_id or event_id)"
                if how == "none"
                else f"(looked up by {how})"
            )
        )
    else:
        from rich.table import Table

        table = Table("batch", "table", "source", "accepted", "finished (UTC)", "status")
        for b in chain.batches.itertuples():
            table.add_row(
                b.batch_id,
                b.table_name,
                str(b.source),
                f"{b.accepted:,}",
                str(b.finished_at)[:19],
                str(b.status),
            )
        console.print(table)
        if chain.missing_batches:
            console.print(
                f"[yellow]Not in the store any more[/]: {', '.join(chain.missing_batches)}"
            )
    if history:
        console.print("[bold]Alias moves[/]")
        for move in history:
            gate = ""
            if move.candidate_value is not None and move.champion_value is not None:
                gate = f" ({move.metric} {move.candidate_value:.4g} vs {move.champion_value:.4g})"
            forced = f" OVERRIDE: {move.override_reason}" if move.forced else ""
            console.print(
                f"  {str(move.at)[:19]} {move.action} {move.alias}: {move.previous_version} -> "
                f"{move.version}{gate} by {move.actor}{forced}"
            )


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version to promote.")],
    alias: Annotated[str, typer.Option(help="champion (gated) or challenger.")] = "champion",
    metric: Annotated[
        str, typer.Option(help="Holdout metric the gate compares.")
    ] = "ndcg_at_10_score",
    force_reason: Annotated[
        str | None,
        typer.Option(help="Promote even if the gate refuses; the reason is recorded."),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Point an alias at a version; the champion must beat the current one on the holdout."""
    from workbench.registry import promote as promote_version

    move = promote_version(
        open_store(store),
        name,
        version,
        alias=alias,
        metric=metric,
        force_reason=force_reason,
    )
    if json_output:
        print_json(dataclasses.asdict(move))
        return
    if move.previous_version == move.version:
        typer.echo(f"{name}@{alias} already is version {version}; nothing moved.")
        return
    gate = ""
    if move.candidate_value is not None and move.champion_value is not None:
        gate = f" ({metric} {move.candidate_value:.4g} vs {move.champion_value:.4g})"
    forced = f"; gate overridden: {move.override_reason}" if move.forced else ""
    typer.echo(f"{name}@{alias}: {move.previous_version} -> {move.version}{gate}{forced}.")


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option(help="Alias to move back.")] = "champion",
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move an alias back to the version it pointed at before its latest promotion."""
    from workbench.registry import rollback as rollback_alias

    move = rollback_alias(open_store(store), name, alias=alias)
    if json_output:
        print_json(dataclasses.asdict(move))
        return
    typer.echo(f"{name}@{alias}: {move.previous_version} -> {move.version} (rolled back).")
