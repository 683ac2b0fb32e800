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

from workbench.cli import anomaly as anomaly_commands
from workbench.cli import data
from workbench.cli import delivery as delivery_commands
from workbench.cli import experiments as experiments_commands
from workbench.cli import models as models_commands
from workbench.cli import runs as runs_commands
from workbench.cli import service as service_commands
from workbench.exceptions import WorkbenchError

app = typer.Typer(
    help="Village Workbench: capture events, keep them in the store, and build on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for command in (data.init, data.ingest, data.generate, data.truth, data.status, data.quarantine):
    app.command()(command)

app.add_typer(models_commands.app, name="models")
app.command()(delivery_commands.precompute)
app.command()(delivery_commands.recommend)
app.command()(service_commands.serve)
app.command()(runs_commands.run)
app.add_typer(runs_commands.runs_app, name="runs")
app.add_typer(runs_commands.schedule_app, name="schedule")
app.add_typer(experiments_commands.app, name="experiments")
app.add_typer(anomaly_commands.app, name="anomaly")


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
