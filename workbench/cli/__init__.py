"""The ``workbench`` command: each command parses, calls the library, and prints.

Every command takes ``--store URL`` (else ``WORKBENCH_STORE``, else
``workbench.toml``, else ``duckdb://data/workbench.duckdb``). Commands that produce
a result take ``--json``. A :class:`~workbench.exceptions.WorkbenchError` becomes
one line on stderr and exit status 1.

One module per group of commands; this one only assembles them.
"""

from __future__ import annotations

import sys

import click
import typer

from workbench.cli import data
from workbench.exceptions import WorkbenchError

app = typer.Typer(
    help="Village Workbench: capture events, keep them in the store, and build on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for command in (data.init, data.ingest, data.generate, data.status, data.quarantine):
    app.command()(command)


def main() -> None:
    """Entry point: run the app, turning workbench errors into one line and exit 1."""
    try:
        code = app(standalone_mode=False)
    except WorkbenchError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
