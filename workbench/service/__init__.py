"""The capture and delivery service: an HTTP API over the store, for apps.

``workbench serve`` (or :func:`serve`) runs :func:`create_app` under uvicorn,
on 127.0.0.1 by default. Apps send feedback events (``POST /events``), fetch
stored lists (``GET /recommendations/{user_id}``) and ask for on-the-fly
recommendations (``POST /recommend``). The pieces:

- :mod:`~workbench.service.app`: the endpoints, their shapes and errors;
- :mod:`~workbench.service.writer`: the single writer that groups requests into
  short commits (and the durability modes);
- :mod:`~workbench.service.snapshot`: the in-memory read snapshot and its
  change signal;
- :mod:`~workbench.service.security`: the bearer token and the size limits.

The service holds the store file only while it commits or refreshes its
snapshot, so notebooks, ``workbench ingest`` and scheduled runs keep working
beside it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from workbench.exceptions import WorkbenchError

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["create_app", "require_service_libraries", "serve"]


def require_service_libraries() -> None:
    """Raise WorkbenchError, saying what to install, unless FastAPI and uvicorn are there.

    They come with the ``service`` extra, which a user of the library alone may skip.
    """
    missing = []
    for name in ("fastapi", "uvicorn"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise WorkbenchError(
            f"The service needs {' and '.join(missing)}, which this environment lacks. "
            "Install the service extra: pip install 'village-workbench[service]' "
            "(in a checkout of the project, make sync installs it)."
        )


def create_app(store: Store | str | None = None, *, settings: dict[str, Any] | None = None):
    """The service as an ASGI application; see :func:`workbench.service.app.create_app`."""
    require_service_libraries()
    from workbench.service.app import create_app as build

    return build(store, settings=settings)


def serve(
    store: str | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    settings: dict[str, Any] | None = None,
    log_level: str = "info",
) -> None:
    """Run the service with uvicorn until SIGINT or SIGTERM, then write what is queued.

    Parameters
    ----------
    store : str, optional
        Store URL; default the configured store.
    host, port : optional
        Where to listen; default ``[service] host``/``port``, else 127.0.0.1:8700.
    settings : dict, optional
        Overrides of other ``[service]`` settings.
    log_level : str
        uvicorn's log level.
    """
    require_service_libraries()
    import uvicorn

    from workbench.config import resolve_service_settings
    from workbench.service.protocol import timed_protocol

    resolved = resolve_service_settings({**(settings or {}), "host": host, "port": port})
    app = create_app(store, settings=resolved)
    # Said before anything else: an app whose events are refused must not be a surprise.
    print(
        "Writes (POST) need the token of WORKBENCH_TOKEN or [service] token; reads are open."
        if resolved["token"]
        else "No token is set (WORKBENCH_TOKEN or [service] token): writes (POST) are refused "
        "with 403; reads are open.",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app,
        host=resolved["host"],
        port=resolved["port"],
        log_level=log_level,
        lifespan="on",
        http=timed_protocol(resolved["read_timeout_seconds"]),
        limit_concurrency=resolved["max_connections"],
        # Let requests in flight finish (their events commit) before the writer stops.
        timeout_graceful_shutdown=30,
    )
    uvicorn.Server(config).run()
