"""Settings: where the store lives, and what ``workbench.toml`` says.

Precedence for the store URL, highest first: an explicit argument (``--store``),
the ``WORKBENCH_STORE`` environment variable, ``[store] url`` in
``workbench.toml`` (looked up in the current directory), then the default
embedded file ``duckdb://data/workbench.duckdb``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from workbench.exceptions import ConfigError

DEFAULT_STORE_URL = "duckdb://data/workbench.duckdb"
STORE_ENV_VAR = "WORKBENCH_STORE"
LOCK_TIMEOUT_ENV_VAR = "WORKBENCH_LOCK_TIMEOUT"
CONFIG_FILE_NAME = "workbench.toml"
DEFAULT_LOCK_TIMEOUT_SECONDS = 60.0


def load_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read ``workbench.toml`` (from ``path`` or the current directory).

    Returns an empty dict when there is no such file.
    """
    config_path = Path(path) if path is not None else Path.cwd() / CONFIG_FILE_NAME
    if not config_path.is_file():
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
    if isinstance(store_section, dict) and store_section.get("url"):
        return str(store_section["url"])
    return DEFAULT_STORE_URL


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
