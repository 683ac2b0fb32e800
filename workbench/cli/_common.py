"""Options and helpers shared by the command modules."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
import typer.core

from workbench.exceptions import WorkbenchError


class _QuietHelp:
    """``--help`` without a ``<bool>`` beside it: a flag takes no value to describe.

    Typer gives its own help option a type label; the workbench's other flags set
    ``metavar=""`` for the same reason.
    """

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class _Command(_QuietHelp, typer.core.TyperCommand):
    pass


class _Group(_QuietHelp, typer.core.TyperGroup):
    pass


class App(typer.Typer):
    """A Typer app whose groups and commands all show flags the same way."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", _Group)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store URL, e.g. duckdb://data/workbench.duckdb (default: WORKBENCH_STORE, "
        "workbench.toml, then that file).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.", metavar="")]


def open_store(store: str | None, *, create: bool = False):
    """Open the store a command names (``--store``), else the configured one.

    Only the commands that put data in (``init``, ``ingest``, ``generate``) create it;
    every other command refuses a store that does not exist, naming its path.
    """
    from workbench.store import Store

    return Store.open(store, create=create)


def print_json(data: Any) -> None:
    """Print a command's result as indented JSON (dates and paths as strings)."""
    typer.echo(json.dumps(data, indent=2, default=str))


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """Turn repeated ``--map TABLE_COLUMN=SOURCE_COLUMN`` options into a mapping."""
    mapping = {}
    for pair in pairs:
        target, sep, source = pair.partition("=")
        if not sep or not target or not source:
            raise WorkbenchError(
                f"--map {pair!r} is not TABLE_COLUMN=SOURCE_COLUMN (e.g. --map user_id=customer_id)."
            )
        mapping[target.strip()] = source.strip()
    return mapping


def print_summary(text: str) -> None:
    """Print a library summary written in Markdown (for notebooks) as a terminal shows it.

    In a terminal rich renders it (bold stays bold); piped, the markup is dropped, so a log
    or a grep sees plain words, never ``**``.
    """
    import sys

    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        typer.echo(text.replace("**", ""))
