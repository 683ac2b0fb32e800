"""The ``workbench`` command: each command parses, calls the library, and prints.

Every command takes ``--store URL`` (else ``WORKBENCH_STORE``, else
``workbench.toml``, else ``duckdb://data/workbench.duckdb``). Commands that produce
a result take ``--json``. A :class:`~workbench.exceptions.WorkbenchError` becomes
one line on stderr and exit status 1; a usage error (an unknown command or option, a
missing argument, a bad value) one line and exit status 2, as click's own commands do.

One module per group of commands; this one only assembles them.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated

import typer
import typer.exceptions

from workbench.cli import anomaly as anomaly_commands
from workbench.cli import data
from workbench.cli import delivery as delivery_commands
from workbench.cli import experiments as experiments_commands
from workbench.cli import models as models_commands
from workbench.cli import runs as runs_commands
from workbench.cli import service as service_commands
from workbench.cli import simulate as simulate_commands
from workbench.cli._common import App
from workbench.exceptions import WorkbenchError

app = App(
    help="Village Workbench: capture events, keep them in the store, and build on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(requested: bool) -> None:
    if requested:
        from workbench.version import __version__

        typer.echo(f"workbench {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
            metavar="",
        ),
    ] = False,
) -> None:
    """Village Workbench: capture events, keep them in the store, and build on them."""


for command in (data.init, data.ingest, data.generate, data.truth, data.status, data.quarantine):
    app.command()(command)

app.add_typer(models_commands.app, name="models")
app.command()(delivery_commands.precompute)
app.command()(delivery_commands.recommend)
app.command()(service_commands.serve)
app.command()(runs_commands.run)
app.command()(simulate_commands.simulate)
app.add_typer(runs_commands.runs_app, name="runs")
app.add_typer(runs_commands.schedule_app, name="schedule")
app.add_typer(experiments_commands.app, name="experiments")
app.add_typer(anomaly_commands.app, name="anomaly")


def _wait_notice(text: str):
    """While a command waits for a busy store: a spinner naming the holder (a line if piped)."""
    if sys.stderr.isatty():
        from rich.console import Console

        return Console(stderr=True).status(text)
    typer.echo(text, err=True)
    return contextlib.nullcontext()


def main() -> None:
    """Entry point: run the app; errors become one line on stderr, never a traceback."""
    from workbench import store

    store.WAIT_NOTICE = _wait_notice
    try:
        code = app(standalone_mode=False)
    except WorkbenchError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
    except typer.exceptions.TyperException as error:
        # Typer raises its own bundled copy of click's exceptions, all TyperExceptions.
        sys.exit(_usage_error(error))
    except (typer.Abort, typer.exceptions.Abort):
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except typer.Exit as stop:
        sys.exit(stop.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(error: typer.exceptions.TyperException) -> int:
    """Print a usage error as one line (the help, when no arguments were given)."""
    # Typer bundles its own click; its exceptions module is the only home of this class.
    from typer._click.exceptions import NoArgsIsHelpError

    if isinstance(error, NoArgsIsHelpError):
        typer.echo(error.format_message())  # `workbench` alone: the help is the answer
        return 0
    context = getattr(error, "ctx", None)
    message = error.format_message().strip()
    if not message.endswith((".", "?", "!")):
        message += "."
    hint = f" See `{context.command_path} --help`." if context is not None else ""
    typer.echo(f"error: {message}{hint}", err=True)
    return error.exit_code
