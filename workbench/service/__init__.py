"""The capture and delivery service: an HTTP API over the store, for apps.

``workbench serve`` (or :func:`serve`) runs :func:`create_app` under uvicorn,
on 127.0.0.1 by default. Apps send feedback events (``POST /events``), fetch
stored lists (``GET /recommendations/{user_id}``) and ask for on-the-fly
recommendations (``POST /recommend``). The pieces:

- :mod:`~workbench.service.app`: the endpoints, their shapes and errors;
- :mod:`~workbench.service.writer`: the single writer that groups requests into
  short commits (and the durability modes);
- :mod:`~workbench.service.writer_process`: the writer in a process of its own;
- :mod:`~workbench.service.snapshot`: the in-memory read snapshot and its
  change signal;
- :mod:`~workbench.service.security`: the bearer token and the size limits.

The service holds the store file only while it commits or refreshes its
snapshot, so notebooks, ``workbench ingest`` and scheduled runs keep working
beside it. So can several workers (``[service] workers``): each is a process with
its own snapshot and writer; every worker folds every commit, whichever worker
acknowledged it, so they all answer from the same events.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from workbench.exceptions import WorkbenchError

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["create_app", "require_service_libraries", "serve", "worker_app"]

#: The most workers per core ``serve`` starts.
WORKERS_PER_CORE = 4

# How a worker learns its store and settings from the process that started it.
_WORKER_ENV = "WORKBENCH_SERVICE_WORKER"


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
        Overrides of other ``[service]`` settings. With ``workers`` above 1, that many
        processes share the port (uvicorn replaces one that dies); the store must be
        a file.
    log_level : str
        uvicorn's log level.
    """
    require_service_libraries()
    import uvicorn

    from workbench.config import resolve_service_settings
    from workbench.exceptions import ConfigError
    from workbench.service.protocol import ServiceConfig
    from workbench.store import Store

    overrides = {**(settings or {}), "host": host, "port": port}
    resolved = resolve_service_settings(overrides)
    workers = resolved["workers"]
    cores = os.cpu_count() or 1
    if workers > WORKERS_PER_CORE * cores:
        # Each worker is two processes (it and its writer), each holding its own copy of
        # the lists: far more than the cores only makes every one of them slower.
        raise ConfigError(
            f"[service] workers = {workers} is more than {WORKERS_PER_CORE} per core on this "
            f"machine ({cores} cores); use at most {WORKERS_PER_CORE * cores}."
        )
    if workers > 1:
        # Opened here once (created if new), so the workers never race to create it.
        opened = Store.open(store)
        if opened.path is None:
            raise ConfigError(
                f"[service] workers = {workers} needs a store file: every worker reads it, "
                "and a store in memory lives in one process. Use workers = 1 or a file."
            )
        os.environ[_WORKER_ENV] = json.dumps(
            {"store": opened.url, "settings": overrides}, default=str
        )
        app: Any = "workbench.service:worker_app"
    else:
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
    config = ServiceConfig(
        app,
        factory=workers > 1,
        workers=workers,
        read_timeout_seconds=resolved["read_timeout_seconds"],
        host=resolved["host"],
        port=resolved["port"],
        log_level=log_level,
        lifespan="on",
        limit_concurrency=resolved["max_connections"],
        # Let requests in flight finish (their events commit) before the writer stops.
        timeout_graceful_shutdown=30,
    )
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()


def worker_app():
    """The application one of several workers serves (``[service] workers`` above 1):
    the store and settings :func:`serve` was given."""
    given = json.loads(os.environ[_WORKER_ENV])
    return create_app(given["store"], settings=given["settings"])
