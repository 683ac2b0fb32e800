"""Settings: where the store lives, and what ``workbench.toml`` says.

``workbench.toml`` is found as git finds ``.git``: in the current folder or the
nearest one above it, so a notebook kernel started in ``notebooks/``, a marimo
app and a command run from any folder of the project read the same settings.
Paths in it are relative to the folder that holds it (the project's root).

Precedence for the store URL, highest first: an explicit argument (``--store``),
the ``WORKBENCH_STORE`` environment variable, ``[store] url`` in
``workbench.toml``, then the default embedded file ``duckdb://data/workbench.duckdb``
(of the project's root, or of the current folder outside a project).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from workbench.exceptions import ConfigError

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_STORE_URL",
    "STORE_ENV_VAR",
    "TOKEN_ENV_VAR",
    "find_config",
    "in_project",
    "load_config",
    "project_relative",
    "project_root",
    "resolve_lock_timeout",
    "resolve_service_settings",
    "resolve_store_url",
]

DEFAULT_STORE_URL = "duckdb://data/workbench.duckdb"
STORE_ENV_VAR = "WORKBENCH_STORE"
LOCK_TIMEOUT_ENV_VAR = "WORKBENCH_LOCK_TIMEOUT"
CONFIG_FILE_NAME = "workbench.toml"
DEFAULT_LOCK_TIMEOUT_SECONDS = 60.0


def find_config(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The ``workbench.toml`` of the project ``start`` (default: the current folder) is in.

    The nearest one in ``start`` or a folder above it, or None outside any project.
    """
    folder = Path(start) if start is not None else Path.cwd()
    for candidate in (folder, *folder.resolve().parents):
        path = candidate / CONFIG_FILE_NAME
        if path.is_file():
            return path
    return None


def project_root() -> Path:
    """The folder of the project's ``workbench.toml``, or the current folder outside one."""
    found = find_config()
    return found.parent.resolve() if found is not None else Path.cwd()


def in_project(path: str | os.PathLike[str]) -> Path:
    """A path from ``workbench.toml`` (or recorded by :func:`project_relative`), made
    absolute against the project's root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def project_relative(path: str | os.PathLike[str]) -> str:
    """A path as the workbench records it: relative to the project's root when inside it.

    Recorded paths (the runs table, ``run.json``) then still point into the project
    after it is moved or cloned elsewhere; :func:`in_project` reads them back.
    """
    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def load_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read ``workbench.toml`` (from ``path``, or the project's: see :func:`find_config`).

    Returns an empty dict when there is no such file.
    """
    config_path = Path(path) if path is not None else find_config()
    if config_path is None or not config_path.is_file():
        return {}
    try:
        return tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{config_path} is not valid TOML: {error}. Fix the file.") from error


def resolve_store_url(url: str | None = None) -> str:
    """Return the store URL to use, following the documented precedence."""
    if url:
        return url
    if os.environ.get(STORE_ENV_VAR):
        return os.environ[STORE_ENV_VAR]
    store_section = load_config().get("store", {})
    configured = store_section.get("url") if isinstance(store_section, dict) else None
    return _in_project_url(str(configured) if configured else DEFAULT_STORE_URL)


def _in_project_url(url: str) -> str:
    """A ``duckdb://`` URL whose relative file path is taken from the project's root."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "duckdb", url
    if scheme != "duckdb" or not rest or rest == ":memory:":
        return url  # the store explains what is wrong with it, or it is in memory
    return f"{scheme}://{in_project(rest)}"


def resolve_lock_timeout(seconds: float | None = None) -> float:
    """Return how long to wait for a busy store, in seconds."""
    if seconds is not None:
        return float(seconds)
    raw = os.environ.get(LOCK_TIMEOUT_ENV_VAR)
    if raw:
        try:
            return float(raw)
        except ValueError as error:
            raise ConfigError(
                f"{LOCK_TIMEOUT_ENV_VAR}={raw!r} is not a number of seconds; set e.g. 30."
            ) from error
    store_section = load_config().get("store", {})
    if isinstance(store_section, dict) and "lock_timeout" in store_section:
        return float(store_section["lock_timeout"])
    return DEFAULT_LOCK_TIMEOUT_SECONDS


# --- the HTTP service ([service] in workbench.toml) ------------------------------------

TOKEN_ENV_VAR = "WORKBENCH_TOKEN"
DEFAULT_SERVICE_HOST = "127.0.0.1"
DEFAULT_SERVICE_PORT = 8700
DURABILITY_MODES = ("commit", "buffer")
WRITER_MODES = ("process", "thread")

#: Every ``[service]`` setting, its default, and the type it must have.
SERVICE_DEFAULTS: dict[str, Any] = {
    "token": None,
    "host": DEFAULT_SERVICE_HOST,
    "port": DEFAULT_SERVICE_PORT,
    # Largest request body accepted, in bytes (413 beyond it).
    "max_body_bytes": 1_048_576,
    # Most events in one POST /events (413 beyond it).
    "max_batch_events": 1_000,
    # Most events the writer puts in one transaction (several requests grouped).
    "max_group_events": 20_000,
    # "commit": answer only after the events are committed. "buffer": answer once
    # queued; a crash loses what is queued (see the service documentation).
    "durability": "commit",
    # Most events waiting in the writer's queue; beyond it POST /events answers 503.
    "max_queued_events": 100_000,
    # Seconds a client has to send a whole request (headers and body) once it started;
    # a slower one is closed with 408, so trickling connections cannot pile up.
    "read_timeout_seconds": 10.0,
    # Most connections open at once; a request beyond it answers 503 at once.
    "max_connections": 256,
    # "process": events are checked and written in a process of their own, so reads are
    # never slowed by writing; "thread": in a thread of the serving process.
    "writer": "process",
    # Processes serving requests, each with its own snapshot and writer; above 1 the
    # store must be a file.
    "workers": 1,
    # How often the read snapshot checks whether the served lists changed, in seconds.
    "refresh_seconds": 1.0,
    # How fast the trending list (the fallback, and what tops up a list) forgets: an
    # event counts half as much after this long. Every commit is folded in at once.
    "trending_half_life": "6h",
    # Whose stored lists GET /recommendations serves: "name@alias", "name@version",
    # or None for the most recently precomputed lists.
    "model": None,
}


def resolve_service_settings(
    overrides: dict[str, Any] | None = None, *, path: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The HTTP service's settings: ``overrides``, then ``[service]`` in workbench.toml, then defaults.

    The token comes from ``WORKBENCH_TOKEN`` first (so it need not be written in a
    file), then ``[service] token``. Unknown keys and wrong types raise
    :class:`~workbench.exceptions.ConfigError` naming the key.
    """
    section = load_config(path).get("service", {})
    if not isinstance(section, dict):
        raise ConfigError("[service] in workbench.toml must be a table of settings.")
    if "popularity_seconds" in section:
        raise ConfigError(
            "[service] popularity_seconds is no longer used: the fallback follows every "
            'commit. Remove it; trending_half_life (default "6h") sets how fast it forgets.'
        )
    unknown = sorted(set(section) - set(SERVICE_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"[service] in workbench.toml has unknown settings {unknown}; known: "
            f"{', '.join(SERVICE_DEFAULTS)}."
        )
    settings = {**SERVICE_DEFAULTS, **section}
    if os.environ.get(TOKEN_ENV_VAR):
        settings["token"] = os.environ[TOKEN_ENV_VAR]
    settings.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return _checked_service_settings(settings)


def _checked_service_settings(settings: dict[str, Any]) -> dict[str, Any]:
    for key in (
        "port",
        "max_body_bytes",
        "max_batch_events",
        "max_group_events",
        "max_queued_events",
        "max_connections",
        "workers",
    ):
        value = settings[key]
        least = 0 if key == "port" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(
                f"[service] {key} must be a whole number >= {least}"
                f"{' (0: any free port)' if key == 'port' else ''}, got {value!r}."
            )
    for key in ("refresh_seconds", "read_timeout_seconds"):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"[service] {key} must be a number of seconds > 0, got {value!r}.")
        settings[key] = float(value)
    from workbench.arguments import parse_duration
    from workbench.exceptions import InvalidArgument

    half_life = settings["trending_half_life"]
    try:
        settings["trending_half_life"] = parse_duration(
            half_life, name="[service] trending_half_life"
        ).to_pytimedelta()
    except InvalidArgument as error:
        raise ConfigError(str(error)) from None
    if settings["writer"] not in WRITER_MODES:
        raise ConfigError(
            f"[service] writer must be one of {', '.join(WRITER_MODES)}, "
            f"got {settings['writer']!r}."
        )
    if settings["durability"] not in DURABILITY_MODES:
        raise ConfigError(
            f"[service] durability must be one of {', '.join(DURABILITY_MODES)}, "
            f"got {settings['durability']!r}."
        )
    token = settings["token"]
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ConfigError(
            "[service] token (or WORKBENCH_TOKEN) must be non-empty text; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
    for key in ("host", "model"):
        if settings[key] is not None and not isinstance(settings[key], str):
            raise ConfigError(f"[service] {key} must be text, got {settings[key]!r}.")
    return settings
