"""``python -m workbench.service``: the same as ``workbench serve``."""

import sys

import typer

from workbench.cli.service import serve
from workbench.exceptions import WorkbenchError

if __name__ == "__main__":
    try:
        typer.run(serve)
    except WorkbenchError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
