"""The service command: run the capture and delivery HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from workbench.cli._common import StoreOption


def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default \\[service] host, else 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default \\[service] port, else 8700).")
    ] = None,
    durability: Annotated[
        str | None,
        typer.Option(
            help="commit: answer POST /events after the commit (default). buffer: answer once "
            "queued; a crash loses what is queued."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Whose stored lists to serve, NAME@ALIAS or NAME@VERSION (default: the "
            "latest precomputed)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes serving requests (default \\[service] workers, else 1); each "
            "has its own snapshot and writer, and the store must be a file."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    store: StoreOption = None,
) -> None:
    """Serve events capture and recommendations over HTTP until Ctrl-C or SIGTERM.

    Writes (POST) need the token of WORKBENCH_TOKEN or \\[service] token; reads are open.
    """
    from workbench.service import serve as run_service

    run_service(
        store,
        host=host,
        port=port,
        settings={"durability": durability, "model": model, "workers": workers},
        log_level=log_level,
    )
