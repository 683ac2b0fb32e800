"""Delivery commands: precompute everyone's lists, and recommend to one user."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated

import typer

from workbench.cli._common import JsonOption, StoreOption, open_store, print_json

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="NAME@ALIAS or NAME@VERSION (default: the champion of the only model with one).",
    ),
]


def precompute(
    model: ModelOption = None,
    k: Annotated[int, typer.Option(min=1, help="Items per user.")] = 10,
    chunk_size: Annotated[int, typer.Option(min=1, help="Users scored at once.")] = 20_000,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Score every user with a registered model and store their top-k lists."""
    from workbench.delivery import precompute as precompute_lists

    report = precompute_lists(
        open_store(store),
        model,
        k,
        chunk_size=chunk_size,
        progress=not json_output and sys.stderr.isatty(),
    )
    if json_output:
        print_json(dataclasses.asdict(report))
        return
    typer.echo(
        f"{report.model}: {report.rows:,} rows for {report.users:,} users (top {report.k}) in "
        f"{report.seconds:.1f} s; replaced {report.replaced:,} earlier rows of this version."
        + (
            f" {report.users_without_items:,} users had no unseen item left."
            if report.users_without_items
            else ""
        )
    )


def recommend(
    user_id: Annotated[str, typer.Argument(help="The user to recommend to.")],
    k: Annotated[int, typer.Option(min=1, help="Items wanted.")] = 10,
    model: ModelOption = None,
    now: Annotated[
        bool,
        typer.Option(
            "--now", help="Score with the model now instead of the stored lists.", metavar=""
        ),
    ] = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a user's recommendations (stored lists, or scored now with --now) and their source."""
    from workbench.delivery import recommend_now, retrieve

    opened = open_store(store)
    if now:
        answer = recommend_now(opened, user_id, k=k, model=model)
    else:
        answer = retrieve(opened, user_id, k, model=model)
    if json_output:
        print_json(
            {
                "user_id": answer.user_id,
                "source": answer.source,
                "model": answer.model,
                "reason": answer.reason,
                "computed_at": answer.computed_at,
                "items": answer.items.to_dict(orient="records"),
            }
        )
        return
    typer.echo(f"{user_id}: {answer.source} ({answer.reason}; model {answer.model or '-'})")
    for row in answer.items.itertuples():
        typer.echo(f"  {row.rank:>3}. {row.item_id}  {row.score:.4g}")
    if answer.items.empty:
        typer.echo("  (no items)")
